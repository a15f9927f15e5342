package bridge

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
)

// fakeClock is a watchClock whose time moves only in advance; timers due
// by then fire in advance, in order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// armed is the number of timers neither fired nor stopped.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// advance moves the clock by d, firing every timer that falls due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.stopped = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

func TestSessionDeadline(t *testing.T) {
	start := time.Unix(100, 0)
	cases := []struct {
		lim  config.SessionLimits
		last time.Time
		at   time.Time
		why  error
	}{
		{config.SessionLimits{}, start, time.Time{}, nil},
		{config.SessionLimits{Idle: time.Minute}, start.Add(time.Hour), start.Add(time.Hour + time.Minute), errIdleTimeout},
		{config.SessionLimits{Max: time.Hour}, start.Add(time.Minute), start.Add(time.Hour), errSessionLimit},
		// Both: the earlier wins; at a tie the time limit is named.
		{config.SessionLimits{Idle: time.Minute, Max: time.Hour}, start.Add(10 * time.Minute), start.Add(11 * time.Minute), errIdleTimeout},
		{config.SessionLimits{Idle: time.Minute, Max: time.Hour}, start.Add(59*time.Minute + 30*time.Second), start.Add(time.Hour), errSessionLimit},
		{config.SessionLimits{Idle: time.Minute, Max: time.Hour}, start.Add(59 * time.Minute), start.Add(time.Hour), errSessionLimit},
	}
	for i, tc := range cases {
		at, why := sessionDeadline(tc.lim, start, tc.last)
		if !at.Equal(tc.at) || why != tc.why {
			t.Errorf("case %d: %v, %v; want %v, %v", i, at, why, tc.at, tc.why)
		}
	}
}

// watchUnderTest is a sessionWatch on a fake clock with its end recorded.
type watchUnderTest struct {
	clock *fakeClock
	w     *sessionWatch
	mu    sync.Mutex
	ended []error
}

func newWatch(lim config.SessionLimits) *watchUnderTest {
	wt := &watchUnderTest{clock: newFakeClock()}
	wt.w = startSessionWatch(lim, wt.clock, func(why error) {
		wt.mu.Lock()
		wt.ended = append(wt.ended, why)
		wt.mu.Unlock()
	})
	return wt
}

func (wt *watchUnderTest) endedWith() []error {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return append([]error(nil), wt.ended...)
}

// TestSessionWatchIdle: octets either way (the caller's reader, the
// backend's reader) push the idle deadline back; a read that brings
// nothing does not; the watch ends the session once, with the idle cause,
// between the idle time and the idle time plus one check interval
// (idle/idleGranules) after the last octets.
func TestSessionWatchIdle(t *testing.T) {
	const idle = 10 * time.Minute
	wt := newWatch(config.SessionLimits{Idle: idle})
	caller := wt.w.callerReader(strings.NewReader("x"))
	be := wt.w.backendConn(&stubBackend{data: "y"})
	buf := make([]byte, 4)
	start := wt.clock.Now()
	// runTo advances the clock second by second to start+d; the session
	// must not end on the way.
	runTo := func(d time.Duration) {
		t.Helper()
		for wt.clock.Now().Before(start.Add(d)) {
			wt.clock.advance(time.Second)
			if got := wt.endedWith(); len(got) != 0 {
				t.Fatalf("ended at %v: %v", wt.clock.Now().Sub(start), got)
			}
		}
	}

	runTo(9 * time.Minute)
	if n, _ := caller.Read(buf); n != 1 {
		t.Fatal("caller read nothing")
	}
	runTo(18 * time.Minute)
	if n, _ := be.Read(buf); n != 1 {
		t.Fatal("backend read nothing")
	}
	runTo(27 * time.Minute)
	if _, err := caller.Read(buf); err != io.EOF {
		t.Fatalf("empty read: %v", err)
	}
	// The last octets moved at 18 min.
	runTo(18*time.Minute + idle)
	for len(wt.endedWith()) == 0 && wt.clock.Now().Before(start.Add(time.Hour)) {
		wt.clock.advance(time.Second)
	}
	endedAt := wt.clock.Now().Sub(start)
	if got := wt.endedWith(); len(got) != 1 || got[0] != errIdleTimeout {
		t.Fatalf("ended with %v, want once with the idle timeout", got)
	}
	if latest := 18*time.Minute + idle + idle/idleGranules; endedAt > latest {
		t.Errorf("ended at %v, later than %v", endedAt, latest)
	}
	wt.clock.advance(time.Hour)
	wt.w.stop()
	if got := wt.endedWith(); len(got) != 1 || wt.clock.armed() != 0 {
		t.Errorf("after the end: ended %v, %d timers armed", got, wt.clock.armed())
	}
}

// TestSessionWatchMax: the time limit ends a busy session; stop before
// any deadline disarms the timer and nothing ends.
func TestSessionWatchMax(t *testing.T) {
	wt := newWatch(config.SessionLimits{Idle: 10 * time.Minute, Max: 25 * time.Minute})
	caller := wt.w.callerReader(&endless{})
	buf := make([]byte, 1)
	for range 24 {
		wt.clock.advance(time.Minute)
		caller.Read(buf)
	}
	if got := wt.endedWith(); len(got) != 0 {
		t.Fatalf("ended early: %v", got)
	}
	wt.clock.advance(time.Minute)
	if got := wt.endedWith(); len(got) != 1 || got[0] != errSessionLimit {
		t.Fatalf("ended with %v, want the session time limit", got)
	}

	wt = newWatch(config.SessionLimits{Idle: time.Minute})
	wt.clock.advance(30 * time.Second)
	wt.w.stop()
	wt.clock.advance(time.Hour)
	if got := wt.endedWith(); len(got) != 0 || wt.clock.armed() != 0 {
		t.Errorf("stopped watch: ended %v, %d timers armed", got, wt.clock.armed())
	}
}

// TestSessionWatchOff: without limits there is no watch, no timer and
// the readers are the ones given.
func TestSessionWatchOff(t *testing.T) {
	c := newFakeClock()
	w := startSessionWatch(config.SessionLimits{}, c, func(error) { t.Error("ended") })
	r := strings.NewReader("")
	be := &stubBackend{}
	if w != nil || w.callerReader(r) != io.Reader(r) || w.backendConn(be) != BackendConn(be) || c.armed() != 0 {
		t.Errorf("watch %v, %d timers", w, c.armed())
	}
	w.stop()
}

// TestSessionWatchKeepsInterrupter: the backend's interrupt ability is
// not hidden by the wrapper, and one without it does not gain it.
func TestSessionWatchKeepsInterrupter(t *testing.T) {
	wt := newWatch(config.SessionLimits{Idle: time.Minute})
	defer wt.w.stop()
	ib := &interruptingBackend{}
	if intr, ok := wt.w.backendConn(ib).(Interrupter); !ok || intr.Interrupt(transport.EventInterrupt) != nil || ib.interrupts != 1 {
		t.Error("Interrupter lost")
	}
	if _, ok := wt.w.backendConn(&stubBackend{}).(Interrupter); ok {
		t.Error("Interrupter invented")
	}
}

// stubBackend is a BackendConn whose Read returns data once, then EOF.
type stubBackend struct {
	data string
}

func (b *stubBackend) Read(p []byte) (int, error) {
	if b.data == "" {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}
func (b *stubBackend) Write(p []byte) (int, error)       { return len(p), nil }
func (b *stubBackend) Close() error                      { return nil }
func (b *stubBackend) CloseWrite() error                 { return nil }
func (b *stubBackend) Resize(transport.WindowSize) error { return nil }

type interruptingBackend struct {
	stubBackend
	interrupts int
}

func (b *interruptingBackend) Interrupt(transport.Event) error {
	b.interrupts++
	return nil
}

// endless reads one octet per Read, forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("empty buffer")
	}
	p[0] = 'z'
	return 1, nil
}

// BenchmarkActivityReader is what the activity tracking adds to each
// Read of a bridge direction (a clock read and an atomic store), against
// the same Read unwrapped.
func BenchmarkActivityReader(b *testing.B) {
	src := &endless{}
	buf := make([]byte, 1)
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			src.Read(buf)
		}
	})
	b.Run("watched", func(b *testing.B) {
		w := startSessionWatch(config.SessionLimits{Idle: time.Hour}, realClock{time.Now}, func(error) {})
		defer w.stop()
		r := w.callerReader(src)
		for b.Loop() {
			r.Read(buf)
		}
	})
}

// slowCaller is a caller's line that takes one second of the fake clock
// per 240 octets written (2,400 bit/s).
type slowCaller struct {
	clock  *fakeClock
	writes []int
}

func (s *slowCaller) Write(p []byte) (int, error) {
	s.writes = append(s.writes, len(p))
	s.clock.advance(time.Duration(len(p)) * time.Second / 240)
	return len(p), nil
}

// TestSessionWatchSlowWrite: on a paced line a Write that takes longer
// than the idle time is cut into pieces of one activity check's worth of
// line time, each counted as activity: 32 KiB at 2,400 bit/s (136 s)
// under a one-minute idle time does not end the session; idleness after
// it does. Unpaced (line rate 0), the writer is the one given.
func TestSessionWatchSlowWrite(t *testing.T) {
	wt := newWatch(config.SessionLimits{Idle: time.Minute})
	slow := &slowCaller{clock: wt.clock}
	w := wt.w.callerWriter(slow, 2400)
	if n, err := w.Write(make([]byte, 32<<10)); n != 32<<10 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if got := wt.endedWith(); len(got) != 0 {
		t.Fatalf("ended during the write: %v", got)
	}
	const piece = 240 * 60 / idleGranules // octets of one check (7.5 s)
	if len(slow.writes) != (32<<10+piece-1)/piece || slow.writes[0] != piece {
		t.Errorf("pieces %v, want %d octets each", slow.writes[:min(len(slow.writes), 4)], piece)
	}
	wt.clock.advance(time.Minute + time.Minute/idleGranules)
	if got := wt.endedWith(); len(got) != 1 || got[0] != errIdleTimeout {
		t.Errorf("after the write: ended %v, want the idle timeout", got)
	}
	if wt.w.callerWriter(slow, 0) != io.Writer(slow) {
		t.Error("unpaced writer wrapped")
	}
}
