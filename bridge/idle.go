package bridge

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/internal/config"
)

// Session limits: a bridged session with no octet in either direction for
// [lines] idle_timeout, or older than [lines] max_session (or the
// listener's own values), is ended by the gateway. The activity tracking
// wraps the two readers of the bridge (the caller's octets and the
// backend's) and, on a paced line, the writer to the caller (see
// callerWriter), so the pump itself knows nothing about it.
//
// A read only sets a flag (a clock read per Read costs 20 to 300 ns
// depending on the host's clock source; the flag is a load on the hot
// path). The watch looks at the flag every idleGranules-th of the idle
// time and takes "set" as "octets moved now", so an idle session ends
// between idle_timeout and idle_timeout plus one granule after its last
// octet.

// Causes of a session ended by its limits (context.Cause of the pump's
// context). session.go turns them into the caller's message and the record.
var (
	errIdleTimeout  = errors.New("bridge: idle timeout")
	errSessionLimit = errors.New("bridge: session time limit")
)

// watchClock is the time source of a sessionWatch: the server's clock and
// a timer that calls f once after d. Tests drive a fake one.
type watchClock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock reads now (the server's clock, Options.Now) and arms real
// timers.
type realClock struct{ now func() time.Time }

func (c realClock) Now() time.Time { return c.now() }

func (c realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// sessionDeadline is the pure policy: when a session bridged at start,
// whose octets last moved at last, must end under lim, and why. A zero
// time means never.
func sessionDeadline(lim config.SessionLimits, start, last time.Time) (time.Time, error) {
	var at time.Time
	var why error
	if lim.Idle > 0 {
		at, why = last.Add(lim.Idle), errIdleTimeout
	}
	if lim.Max > 0 {
		if end := start.Add(lim.Max); at.IsZero() || !end.After(at) {
			at, why = end, errSessionLimit
		}
	}
	return at, why
}

// idleGranules is how many activity checks an idle time holds.
const idleGranules = 8

// sessionWatch ends one bridged session when it reaches its limits: one
// timer, armed at the earliest deadline or the next activity check.
type sessionWatch struct {
	lim     config.SessionLimits
	clock   watchClock
	start   time.Time
	granule time.Duration // between activity checks; 0 without an idle limit
	moved   atomic.Bool   // octets moved since the last check (set by the readers)
	end     func(why error)

	mu      sync.Mutex
	last    time.Time   // when octets were last seen to move (a check, or the start)
	stopT   func() bool // the armed timer
	stopped bool
}

// startSessionWatch watches a session bridged now; end is called (once,
// from the timer's goroutine) with errIdleTimeout or errSessionLimit.
// With no limits it returns nil, whose methods do nothing and whose
// readers are the ones given: an unlimited session pays nothing.
func startSessionWatch(lim config.SessionLimits, clock watchClock, end func(why error)) *sessionWatch {
	if lim.Idle <= 0 && lim.Max <= 0 {
		return nil
	}
	now := clock.Now()
	w := &sessionWatch{lim: lim, clock: clock, start: now, last: now, end: end}
	if lim.Idle > 0 {
		w.granule = max(lim.Idle/idleGranules, time.Millisecond)
	}
	w.mu.Lock()
	w.arm(now)
	w.mu.Unlock()
	return w
}

// arm sets the timer for the next deadline or activity check as seen at
// now; w.mu is held.
func (w *sessionWatch) arm(now time.Time) {
	at, _ := sessionDeadline(w.lim, w.start, w.last)
	if w.granule > 0 && now.Add(w.granule).Before(at) {
		at = now.Add(w.granule)
	}
	w.stopT = w.clock.AfterFunc(at.Sub(now), w.fire)
}

// fire runs when the timer expires: octets moved since the last check
// count as moving now; the session ends if a deadline has passed,
// otherwise the timer is re-armed.
func (w *sessionWatch) fire() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	now := w.clock.Now()
	if w.moved.Swap(false) {
		w.last = now
	}
	at, why := sessionDeadline(w.lim, w.start, w.last)
	if now.Before(at) {
		w.arm(now)
		w.mu.Unlock()
		return
	}
	w.stopped = true
	w.mu.Unlock()
	w.end(why)
}

// touch records that octets moved. The load first keeps the shared word
// read-mostly while data flows (one store per check, not per Read).
func (w *sessionWatch) touch() {
	if !w.moved.Load() {
		w.moved.Store(true)
	}
}

// stop disarms the watch; end is not called after stop returns unless it
// is already running.
func (w *sessionWatch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		w.stopT()
	}
}

// callerReader returns r with every read that brings octets counted as
// activity.
func (w *sessionWatch) callerReader(r io.Reader) io.Reader {
	if w == nil {
		return r
	}
	return activityReader{r: r, w: w}
}

// callerWriter returns dst as it is on a line at network speed (lineRate
// 0: a Write is quick unless the caller stopped reading). On a paced line
// (line_rate) it returns dst in an activityWriter that bounds how much of
// the backend's output one Write hands the line (lineCommit: the relay
// reads no more at once) and, with an idle limit, cuts the writes into
// pieces of one activity check's worth of line time (idle_timeout/8 at
// lineRate bit/s of 10-bit characters), each counted as activity once
// written: one Write of backend output can take longer than the idle
// time while octets move all along, and the reads alone would take that
// for idleness. Toward a link the pieces are whole payloads, so that
// cutting a Write adds no short I frames.
func (w *sessionWatch) callerWriter(dst io.Writer, lineRate int) io.Writer {
	if lineRate <= 0 {
		return dst
	}
	a := activityWriter{w: dst, piece: math.MaxInt, commit: lineCommit(lineRate)}
	if w == nil || w.granule == 0 {
		return a
	}
	piece := max(1, int(int64(lineRate/10)*int64(w.granule)/int64(time.Second)))
	if ps, ok := dst.(payloadSizer); ok {
		if u := ps.PayloadSize(); u > 0 {
			piece = max(u, piece/u*u)
		}
	}
	a.watch, a.piece = w, piece
	return a
}

// commitTime is the line time of the backend's output that the relay
// reads at once for a paced line (lineCommit). What it has read is
// committed to the caller's line: an interrupt the backend obeys (a BBS
// user's Ctrl-C, which also flushes what a pty program wrote and the
// relay had not read) cannot call it back. A modem holds a few hundred
// octets to a few KiB; 32 KiB reads held 21 s of a 2,400 bit/s line
// after a Ctrl-C (4 KiB, what one read of a pty returns), and toward a
// LAPM link 64 payloads of 240 octets 37 s (slow-lines trial).
const commitTime = time.Second

// lineCommit is the most octets of the backend's output the relay reads
// at once for a line of lineRate bit/s in 10-bit characters: commitTime
// of the line, at least one octet.
func lineCommit(lineRate int) int {
	return max(1, int(int64(lineRate/10)*int64(commitTime)/int64(time.Second)))
}

// Preempt passes pump's preemption on to a paced line.
func (a activityWriter) Preempt() {
	if p, ok := a.w.(preempter); ok {
		p.Preempt()
	}
}

// backendConn returns be with every read that brings octets counted as
// activity. The backend's optional Interrupter stays visible.
func (w *sessionWatch) backendConn(be BackendConn) BackendConn {
	if w == nil {
		return be
	}
	a := activityBackend{BackendConn: be, w: w}
	if intr, ok := be.(Interrupter); ok {
		return activityInterrupter{activityBackend: a, Interrupter: intr}
	}
	return a
}

type activityReader struct {
	r io.Reader
	w *sessionWatch
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.w.touch()
	}
	return n, err
}

type activityWriter struct {
	w      io.Writer
	watch  *sessionWatch // nil: no idle limit
	piece  int
	commit int // see CommitSize
}

// PayloadSize passes on the payload size of a destination that has one (a
// LAPM link), so that the relay reads whole I frames' worth for it on a
// paced line with an idle limit too (bulkSize).
func (a activityWriter) PayloadSize() int {
	if ps, ok := a.w.(payloadSizer); ok {
		return ps.PayloadSize()
	}
	return 0
}

// CommitSize is the most octets of the backend's output the relay
// should read at once for this line (see lineCommit; 0: no bound).
func (a activityWriter) CommitSize() int { return a.commit }

func (a activityWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n, err := a.w.Write(p[:min(len(p), a.piece)])
		written += n
		if n > 0 && a.watch != nil {
			a.watch.touch()
		}
		if err != nil {
			return written, err
		}
		if n == 0 {
			return written, io.ErrShortWrite
		}
		p = p[n:]
	}
	return written, nil
}

type activityBackend struct {
	BackendConn
	w *sessionWatch
}

func (a activityBackend) Read(p []byte) (int, error) {
	n, err := a.BackendConn.Read(p)
	if n > 0 {
		a.w.touch()
	}
	return n, err
}

type activityInterrupter struct {
	activityBackend
	Interrupter
}
