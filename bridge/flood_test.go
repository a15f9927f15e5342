package bridge

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// sumField adds up the integer field key of the log lines with message msg.
func sumField(logs *observer.ObservedLogs, msg, key string) (sum int64, lines int) {
	for _, e := range logs.FilterMessage(msg).All() {
		lines++
		sum += e.ContextMap()[key].(int64)
	}
	return sum, lines
}

const floodMsg = "connection flood: calls turned away (BUSY, or outside allowed_sources) hung up without a call record"

// TestBusyFloodSummaryCountsEveryCall: the summary of BUSY calls left
// unrecorded counts every one of them, the last of the burst included.
// Regression: the running count was logged only when a later drop came
// at least a second after the last line, so the end of a burst was never
// logged (1,992 BUSY calls, 754 records, the log said 1).
func TestBusyFloodSummaryCountsEveryCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, gs, logs, holder, holderDone := busyFloodServer(t)

	const flood = 3 * maxBusyRecords
	wait := busyFlood(t, s, flood, nil)
	close(gs.gate)
	wait()
	holder.Close()
	<-holderDone
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := records(t, gs.File)
	busy := 0
	for _, r := range recs {
		if r.Result == store.ResultBusy {
			busy++
		}
	}
	sum, lines := sumField(logs, floodMsg, "calls")
	if want := int64(flood - busy); sum != want {
		t.Errorf("the log counts %d BUSY calls without a record in %d line(s); %d of %d were recorded, so %d were not", sum, lines, busy, flood, want)
	}
}

// TestBusyFloodSummaryAfterBurst: the count of a burst is logged a
// second after the burst ends, without waiting for another drop or for
// Shutdown, and no more than one line a second is written.
func TestBusyFloodSummaryAfterBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.WarnLevel)
		s, err := New(Options{Config: testConfig(t), Store: nopStore{}, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		// 500 drops spread over 2.5 s.
		const drops = 500
		for range drops {
			s.busyRecords.dropped()
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(2 * burstlog.Window)
		synctest.Wait()
		sum, lines := sumField(logs, floodMsg, "calls")
		if sum != drops {
			t.Errorf("a second after the burst the log counts %d drops in %d line(s), want %d", sum, lines, drops)
		}
		if lines > 4 {
			t.Errorf("%d log lines for a burst of 2.5 s, want at most one a second", lines)
		}
		var prev time.Time
		for _, e := range logs.FilterMessage(floodMsg).All() {
			if !prev.IsZero() && e.Time.Sub(prev) < burstlog.Window {
				t.Errorf("two summary lines %v apart", e.Time.Sub(prev))
			}
			prev = e.Time
		}
		// Nothing is left for Shutdown, and nothing runs after it.
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sum2, _ := sumField(logs, floodMsg, "calls"); sum2 != drops {
			t.Errorf("after Shutdown the log counts %d drops, want %d", sum2, drops)
		}
	})
}

// nopStore is a store that keeps nothing.
type nopStore struct{}

func (nopStore) NextSession() (uint64, error)        { return 1, nil }
func (nopStore) AppendRecord(store.CallRecord) error { return nil }
func (nopStore) Close() error                        { return nil }

// feedListener is a transport.Listener whose Accept calls next.
type feedListener struct {
	next     func(ctx context.Context) (transport.Line, error)
	accepted atomic.Int32
	done     chan struct{}
	once     sync.Once
}

func newFeedListener(next func(ctx context.Context) (transport.Line, error)) *feedListener {
	return &feedListener{next: next, done: make(chan struct{})}
}

func (l *feedListener) Accept(ctx context.Context) (transport.Line, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("feed: %w", net.ErrClosed)
	default:
	}
	line, err := l.next(ctx)
	if err == nil {
		l.accepted.Add(1)
	}
	return line, err
}

func (l *feedListener) Addr() string { return "feed://" }

func (l *feedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// TestServeAcceptBackoffOutOfDescriptors: out of descriptors, when every
// other accept fails (one succeeds each time a call ends), the back-off
// keeps growing instead of starting over at each success, and the
// failures are logged at most once a second with their exact count.
// Regression: the delay went back to 0 after every successful accept, and
// a gateway at its descriptor limit logged about 1,000 "accept failed"
// warnings in 8 s.
func TestServeAcceptBackoffOutOfDescriptors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.WarnLevel)
		s, err := New(Options{Config: testConfig(t), Store: nopStore{}, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		var attempts, failures int
		ln := newFeedListener(func(ctx context.Context) (transport.Line, error) {
			attempts++
			if attempts%2 == 1 {
				failures++
				return nil, fmt.Errorf("accept: %w", syscall.EMFILE)
			}
			a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "fd"})
			a.Close() // the caller is gone at once
			return b, nil
		})
		served := make(chan error, 1)
		go func() { served <- s.Serve("test", ln) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != ErrShutdown {
			t.Errorf("Serve: %v, want ErrShutdown", err)
		}
		// 5 ms doubling to 1 s: 8 retries to reach it, then one a second.
		if failures > 20 {
			t.Errorf("%d failed accepts in 10 s, want the back-off to reach 1 s and stay", failures)
		}
		const msg = "accept failed; retrying with back-off"
		sum, lines := sumField(logs, msg, "failures")
		if sum != int64(failures) {
			t.Errorf("the log counts %d failed accepts in %d line(s), there were %d", sum, lines, failures)
		}
		if lines > 11 {
			t.Errorf("%d accept warnings in 10 s, want at most one a second", lines)
		}
	})
}

// TestAcceptRetry: the back-off doubles from 5 ms to 1 s and starts over
// only after acceptCalm without a failure.
func TestAcceptRetry(t *testing.T) {
	d := time.Duration(0)
	for range 20 {
		d = acceptRetry(d, 10*time.Millisecond)
	}
	if d != acceptRetryMax {
		t.Errorf("after 20 failures in a row: %v, want %v", d, acceptRetryMax)
	}
	if got := acceptRetry(acceptRetryMax, acceptRetryMax+time.Millisecond); got != acceptRetryMax {
		t.Errorf("a failure just after a retry: %v, want %v", got, acceptRetryMax)
	}
	if got := acceptRetry(acceptRetryMax, acceptCalm); got != acceptRetryMin {
		t.Errorf("a failure after %v of calm: %v, want %v", acceptCalm, got, acceptRetryMin)
	}
	if got := acceptRetry(0, acceptCalm); got != acceptRetryMin {
		t.Errorf("a first failure: %v, want %v", got, acceptRetryMin)
	}
}

// lingerLine is a line whose Close waits for linger to be closed, like a
// TCP line waiting for a caller that never closes its end.
type lingerLine struct {
	*linesim.Line
	linger  <-chan struct{}
	closing *atomic.Int32
	once    sync.Once
}

func (l *lingerLine) Close() error {
	l.once.Do(func() { l.closing.Add(1) })
	err := l.Line.Close()
	<-l.linger
	return err
}

// TestServeBoundsCallsInFlight: one listener answers at most
// max_concurrent + overLines calls at once; further connections wait to
// be accepted until a call ends, and then are all answered. Regression:
// BUSY calls whose callers never closed held a descriptor and a goroutine
// each while their lines closed (up to 5 s), without bound: 2,000 silent
// connections from one address with per_source 8 held 2,015 descriptors.
func TestServeBoundsCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := testConfig(t)
		c.Lines.MaxConcurrent = 1
		core, logs := observer.New(zap.WarnLevel)
		s, err := New(Options{Config: c, Store: nopStore{}, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		s.overLines = 4
		const flood = 40
		linger := make(chan struct{})
		var closing atomic.Int32
		pending := make(chan transport.Line, flood)
		var callers []*linesim.Line
		for i := range flood {
			a, b := linesim.NewPair(linesim.Config{Seed: int64(i + 1), Name: "flood"})
			callers = append(callers, a)
			pending <- &lingerLine{Line: b, linger: linger, closing: &closing}
		}
		var ln *feedListener
		ln = newFeedListener(func(ctx context.Context) (transport.Line, error) {
			select {
			case l := <-pending:
				return l, nil
			case <-ln.done:
				return nil, fmt.Errorf("feed: %w", net.ErrClosed)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		served := make(chan error, 1)
		go func() { served <- s.Serve("test", ln) }()
		synctest.Wait()
		// One call at the login prompt, four BUSY calls closing; the
		// rest wait in the listener.
		if got, want := ln.accepted.Load(), int32(1+4); got != want {
			t.Errorf("%d connections accepted while calls linger, want %d (max_concurrent 1 + 4)", got, want)
		}
		if got := closing.Load(); got != 4 {
			t.Errorf("%d calls closing, want 4", got)
		}
		if logs.FilterMessageSnippet("at its bound of calls").Len() == 0 {
			time.Sleep(2 * burstlog.Window)
			synctest.Wait()
			if logs.FilterMessageSnippet("at its bound of calls").Len() == 0 {
				t.Error("no log line about the listener at its bound")
			}
		}
		// Once the lines close, every connection is answered.
		close(linger)
		synctest.Wait()
		if got := ln.accepted.Load(); got != flood {
			t.Errorf("%d of %d connections accepted after the lines closed", got, flood)
		}
		for _, a := range callers {
			a.Close()
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != ErrShutdown {
			t.Errorf("Serve: %v, want ErrShutdown", err)
		}
	})
}

// TestBusyCallShortLingerDebugLog: a BUSY caller that reads the gateway's
// last words and then keeps its connection open is closed after
// refusedLinger, not the TCP line's 5 s, and its "call ended" line is at
// debug level (its record is written; a flood of info lines each would be
// most of the log).
func TestBusyCallShortLingerDebugLog(t *testing.T) {
	for _, tc := range []struct {
		name              string
		rate, lines, perS int
		linger            time.Duration
	}{
		{"all lines busy", 0, 1, 0, refusedLinger},
		{"all lines busy, paced", 9600, 1, 0, refusedLinger}, // the paced line wraps the TCP line
		{"per_source", 0, 2, 1, floodLinger},
	} {
		t.Run(tc.name, func(t *testing.T) { testBusyCallShortLinger(t, tc.rate, tc.lines, tc.perS, tc.linger) })
	}
}

// testBusyCallShortLinger is TestBusyCallShortLingerDebugLog on a
// listener with line_rate rate (0: not paced), max_concurrent lines and
// per_source perSource; the BUSY caller's close must wait linger at most.
func testBusyCallShortLinger(t *testing.T, rate, lines, perSource int, linger time.Duration) {
	testutil.CheckGoroutines(t)
	core, logs := observer.New(zap.DebugLevel)
	c := testConfig(t)
	c.Lines.MaxConcurrent, c.Lines.PerSource = lines, perSource
	c.Listeners[0].LineRate = rate
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "tcp://127.0.0.1:0"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	first := dialGateway(t, g)
	defer first.Close()
	expect(t, first, "login: ") // holds the one line
	busy := dialGateway(t, g)
	defer busy.Close()
	busy.SetReadDeadline(time.Now().Add(20 * time.Second))
	// Read up to the gateway's FIN and keep this end open.
	if b, err := io.ReadAll(busy); err != nil || !strings.Contains(string(b), "BUSY") {
		t.Fatalf("second caller heard %q (%v), want BUSY", b, err)
	}
	want := fmt.Sprintf("peer did not close within %v", linger)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if logs.FilterMessageSnippet(want).Len() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q", want)
		}
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ended := logs.FilterMessage("call ended").FilterField(zap.String("result", "busy")).All()
		if len(ended) > 0 {
			if ended[0].Level != zap.DebugLevel {
				t.Errorf("a BUSY call's call ended line at %v", ended[0].Level)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no call ended line for the BUSY call")
		}
	}
}
