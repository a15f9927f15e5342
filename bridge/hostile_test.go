package bridge

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// gatedStore is a store whose AppendRecord waits for gate (a slow disk).
type gatedStore struct {
	*store.File
	gate    chan struct{}
	waiting atomic.Int32
}

func (g *gatedStore) AppendRecord(r store.CallRecord) error {
	g.waiting.Add(1)
	<-g.gate
	return g.File.AppendRecord(r)
}

// TestBusyFloodBounded: a flood of calls while every line is busy, with
// the record store stalled, is hung up at once (BUSY) and does not pile
// up: at most maxBusyRecords BUSY calls wait for their records, the rest
// are dropped with a summary log line, and the metric-free server keeps
// answering. Regression: each BUSY call used to hold a goroutine (and, on
// a real listener, its descriptor) until its record was fsync'd, and a
// connect-and-close flood reached 25,000 goroutines and the fd limit.
func TestBusyFloodBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent = 1
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gs := &gatedStore{File: f, gate: make(chan struct{})}
	core, logs := observer.New(zap.WarnLevel)
	s, err := New(Options{Config: c, Store: gs, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	holder, holderDone := simCall(t, s)
	expect(t, holder, "login: ")

	const flood = 3 * maxBusyRecords
	var returned atomic.Int32
	var wg sync.WaitGroup
	heard := make(chan string, flood)
	for i := range flood {
		a, b := linesim.NewPair(linesim.Config{Seed: int64(i), Name: "flood"})
		wg.Add(2)
		go func() {
			defer wg.Done()
			heard <- readAll(a)
			a.Close()
		}()
		go func() {
			defer wg.Done()
			_ = s.HandleLine("test", b)
			returned.Add(1)
		}()
	}
	// With the store stalled, all but maxBusyRecords calls end.
	deadline := time.Now().Add(20 * time.Second)
	for returned.Load() < flood-maxBusyRecords {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d BUSY calls ended while the store was stalled (bound %d)", returned.Load(), flood, maxBusyRecords)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w := gs.waiting.Load(); w > maxBusyRecords {
		t.Errorf("%d records waiting for the store, bound %d", w, maxBusyRecords)
	}
	// Every flood caller heard BUSY and was hung up, recorded or not.
	for range flood {
		select {
		case h := <-heard:
			if h != "BUSY\r\n" {
				t.Errorf("flood caller heard %q", h)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a flood caller was not hung up while its record waited")
		}
	}
	close(gs.gate)
	wg.Wait()
	holder.Close()
	<-holderDone
	recs := records(t, f)
	if len(recs) != maxBusyRecords+1 {
		t.Errorf("%d records, want %d BUSY and the holder's", len(recs), maxBusyRecords)
	}
	if logs.FilterMessageSnippet("connection flood").Len() == 0 {
		t.Error("no log line about BUSY calls left unrecorded")
	}
}
