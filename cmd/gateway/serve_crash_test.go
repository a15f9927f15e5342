package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
)

// TestServeKilledMidCallRecordsInterrupted: a gateway killed with SIGKILL
// during a bridged call (no chance to write the call's record) records
// the call, result interrupted, with its user and start, when it is
// started again on the same state directory; and says so in its log.
func TestServeKilledMidCallRecordsInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t)})
	p := dialBob(t, g, false)
	open := filepath.Join(g.dir, "state", "open")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// The note is written, not just created, before the kill.
		if e, _ := os.ReadDir(open); len(e) == 1 {
			var r store.CallRecord
			if b, err := os.ReadFile(filepath.Join(open, e[0].Name())); err == nil && json.Unmarshal(b, &r) == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the bridged call was not noted in state/open")
		}
	}
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-g.done
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the caller did not notice the gateway's death")
	}
	if len(g.records()) != 0 {
		t.Fatalf("records before the restart: %+v", g.records())
	}

	g.start()
	g.waitLog("recorded with result interrupted")
	var got *store.CallRecord
	for _, r := range g.records() {
		if r.Result == store.ResultInterrupted {
			got = &r
		}
	}
	if got == nil || got.User != "bob" || got.Session == 0 || got.Start.IsZero() || got.Answer.IsZero() || got.End.Before(got.Answer) {
		t.Fatalf("records after the restart: %+v", g.records())
	}
	if e, _ := os.ReadDir(open); len(e) != 0 {
		t.Errorf("notes left in state/open after the restart: %v", e)
	}
}
