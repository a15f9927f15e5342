package ws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink is a Logger that remembers its lines for assertions.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range s.snapshot() {
				t.Log("log: " + l)
			}
		}
	})
	return s
}

func (s *logSink) Printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.lines = append(s.lines, line)
	s.mu.Unlock()
}

func (s *logSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// wait waits (bounded) for a log line containing every one of parts.
func (s *logSink) wait(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range s.snapshot() {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				if !strings.HasPrefix(l, "ws: ") {
					t.Errorf("log line %q does not start with the package name", l)
				}
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line containing %q; have %q", parts, s.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// server is a listener mounted at /line of an httptest server, next to a
// page at / (as the gateway will mount it).
type server struct {
	l   *Listener
	url string // ws://127.0.0.1:port/line
	log *logSink
}

func startServer(t testing.TB, opts Options) *server {
	t.Helper()
	sink := newLogSink(t)
	if opts.Logger == nil {
		opts.Logger = sink
	}
	l, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/line", l)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "a web page") })
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		l.Close()
		hs.Close()
		hs.Client().CloseIdleConnections()
	})
	return &server{l: l, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/line", log: sink}
}

// testCtx is a context that ends with the test's deadline or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// pair dials s with opts and accepts the call.
func pair(t testing.TB, s *server, opts DialOptions) (client, srv *Line) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	type res struct {
		l   *Line
		err error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := s.l.AcceptWS(ctx)
		ch <- res{l, err}
	}()
	c, err := Dial(ctx, s.url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		c.Close()
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { c.Close(); r.l.Close() })
	return c, r.l
}

// watchdog fails the test if it is still running after d, and unblocks it
// by running stop.
func watchdog(t testing.TB, d time.Duration, stop func()) {
	timer := time.AfterFunc(d, func() {
		t.Errorf("test still running after %v: hanging up", d)
		stop()
	})
	t.Cleanup(func() { timer.Stop() })
}
