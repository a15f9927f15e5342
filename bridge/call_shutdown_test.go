package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// stallBackend's Connect reports that it was entered and then waits for
// its context, as a backend that does not answer does.
type stallBackend struct{ entered chan struct{} }

func (b stallBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	close(b.entered)
	<-ctx.Done()
	return nil, fmt.Errorf("%w: %w", ErrBackendUnavailable, ctx.Err())
}

// TestShutdownDuringLogin: a caller at the login prompt when the drain
// deadline passes is told the gateway is shutting down, hung up and
// recorded (result shutdown); the text login runs on a goroutine of its
// own (onOwnStack), which ends with the call.
func TestShutdownDuringLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"ann": "pw"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	heard := make(chan string, 1)
	go func() { heard <- readAll(line) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the drain deadline has passed
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want %v", err, context.Canceled)
	}
	if out := <-heard; !strings.Contains(out, msgShutdown) {
		t.Errorf("caller heard %q", out)
	}
	line.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultShutdown || r[0].Reason != "gateway shut down during login" {
		t.Fatalf("records: %+v", r)
	}
}

// TestShutdownDuringBackendConnect: a call whose backend does not answer
// Connect ends when the gateway stops: Connect (on a goroutine of its
// own) sees its context end, the caller is told the gateway is shutting
// down, and the call is recorded with the backend's error.
func TestShutdownDuringBackendConnect(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"ann": "pw"}})
	be := stallBackend{entered: make(chan struct{})}
	s.st.Load().backends["stall"] = be
	s.st.Load().cfg.Listeners[0].Backend = "stall"

	line, done := simCall(t, s)
	login(t, line, "ann", "pw")
	<-be.entered
	heard := make(chan string, 1)
	go func() { heard <- readAll(line) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want %v", err, context.Canceled)
	}
	if out := <-heard; !strings.Contains(out, msgShutdown) {
		t.Errorf("caller heard %q", out)
	}
	line.Close()
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultBackendDown || r[0].Backend != "stall" || !strings.Contains(r[0].Reason, context.Canceled.Error()) {
		t.Fatalf("records: %+v", r)
	}
}

// TestOnOwnStack: f runs on another goroutine, and everything it did is
// seen by the caller once onOwnStack returns (the race detector checks
// the hand-over).
func TestOnOwnStack(t *testing.T) {
	testutil.CheckGoroutines(t)
	caller := goroutineID()
	var ran uint64
	var got []int
	onOwnStack(func() {
		ran = goroutineID()
		for i := range 100 {
			got = append(got, i)
		}
	})
	if ran == 0 || ran == caller {
		t.Errorf("f ran on goroutine %d, the caller is %d", ran, caller)
	}
	if len(got) != 100 || got[99] != 99 {
		t.Errorf("after onOwnStack: %d values", len(got))
	}
}

// goroutineID is the running goroutine's number, from its stack trace's
// first line ("goroutine 7 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	var id uint64
	_, _ = fmt.Sscanf(strings.TrimPrefix(string(buf[:n]), "goroutine "), "%d", &id)
	return id
}

// TestDrainEndsLogins: a caller still at the login prompt when the
// gateway starts to drain is told the gateway is shutting down and hung
// up at once; the drain does not wait for it. Operator trial: a silent
// connection at "login: " held every stop for the whole drain_timeout.
func TestDrainEndsLogins(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"ann": "pw"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	heard := make(chan string, 1)
	go func() { heard <- readAll(line) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v: the drain waited for the login", err)
	}
	if out := <-heard; !strings.Contains(out, msgShutdown) {
		t.Errorf("caller heard %q", out)
	}
	line.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultShutdown || r[0].Reason != "gateway shut down during login" {
		t.Fatalf("records: %+v", r)
	}
}

// boundLine records what a cut-off does to the line: the close bound it
// sets, and when it closes.
type boundLine struct {
	transport.Line
	linger   time.Duration
	closedAt time.Duration // the linger in force at Close; -1 before Close
}

func (l *boundLine) SetLinger(d time.Duration) { l.linger = d }

func (l *boundLine) Close() error {
	l.closedAt = l.linger
	return nil
}

// TestCutOffCallerNotReading: cutting off a caller that takes nothing
// (its TCP window full) closes its line with cutOffLinger as the bound,
// not the line's own linger: that bound is what the write blocked on
// the caller, and then the wait for the caller's FIN, get, and the call
// and its line slot wait for them after an operator's hang-up, the idle
// timeout or the drain's deadline. Regression: the line's tcp or ws
// default (5 s) applied, and `gateway hangup` of a caller with a full
// window ended the call 7.1 s later, not callerWriteGrace (2 s).
func TestCutOffCallerNotReading(t *testing.T) {
	line := &boundLine{closedAt: -1}
	c := &call{line: line, w: line}
	c.cutOff()
	if line.closedAt != cutOffLinger {
		t.Errorf("line closed with linger %v, want %v (0: the line's own)", line.closedAt, cutOffLinger)
	}
}

// slowLink is a caller's V.42 link whose Close drains until Hangup (a
// caller that acknowledges little on a slow line).
type slowLink struct {
	hung chan struct{}
	once sync.Once
}

func (l *slowLink) Write(p []byte) (int, error) { return len(p), nil }
func (l *slowLink) Close() error                { <-l.hung; return nil }
func (l *slowLink) Hangup()                     { l.once.Do(func() { close(l.hung) }) }

// TestHangupAfterStopBoundsLinkClose: once the drain's deadline has
// passed (or a second signal cut it), a call's V.42 link gets
// callerWriteGrace to close, then is released at once. Review: Close
// drains at the caller's pace, and a slow caller held the gateway's
// stop for minutes.
func TestHangupAfterStopBoundsLinkClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, stop := context.WithCancel(context.Background())
		stop()
		link := &slowLink{hung: make(chan struct{})}
		c := &call{s: &Server{stopCtx: ctx}, line: &boundLine{closedAt: -1}, w: link, closer: link.Close}
		c.bridged.Store(true)
		start := time.Now()
		c.hangup("")
		if took := time.Since(start); took != callerWriteGrace {
			t.Errorf("hang-up took %v of fake time, want callerWriteGrace (%v)", took, callerWriteGrace)
		}
	})
}
