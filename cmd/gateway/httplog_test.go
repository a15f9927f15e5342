package main

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestHTTPErrorLog: net/http's lines on the metrics listener or the
// control socket (a burst of accept errors while descriptors run out)
// are the gateway's warnings, summed, every one counted.
func TestHTTPErrorLog(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	l := httpErrorLog(zap.New(core), "metrics")
	for range 50 {
		l.Print("http: Accept error: accept tcp 127.0.0.1:9100: accept4: too many open files; retrying in 5ms")
	}
	total := 0
	deadline := time.Now().Add(5 * time.Second)
	for total < 50 && time.Now().Before(deadline) {
		total = 0
		for _, e := range logs.All() {
			f := e.ContextMap()
			if e.Message != "http server error" || f["server"] != "metrics" || f["error"] != "Accept error: accept tcp 127.0.0.1:9100: accept4: too many open files; retrying in 5ms" {
				t.Fatalf("line %q %v", e.Message, f)
			}
			total += int(f["errors"].(int64))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := logs.Len(); total != 50 || n > 3 {
		t.Errorf("%d lines counting %d errors; want 50 errors in at most 3 lines", n, total)
	}
}
