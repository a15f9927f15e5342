package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// sessionEnd says who ended a session.
type sessionEnd uint8

const (
	endRemote     sessionEnd = iota + 1 // the gateway hung up (or the line dropped)
	endEscape                           // ~. typed
	endStdinEOF                         // stdin ended and the output drained
	endStopped                          // ctx ended (a signal)
	endStdoutGone                       // stdout was closed by its reader
)

// errStdoutGone marks a failed write to stdout: whoever read it (a pipe's
// reader, rz) has gone, which hangs up like ~.
var errStdoutGone = errors.New("gateway dial: stdout closed")

// headTailSize is how much of the start and the end of the received
// stream a session keeps for textOutcome: more than a gateway's BUSY
// with its reason (busyline.MaxHeard), so that a call shorter than that is
// seen whole.
const headTailSize = busyline.MaxHeard + 1

// session connects the local terminal (or pipes) to the call: stdin goes
// through the escape state machine to conn, conn goes to stdout. Optional
// abilities come from the line: window changes are sent on it, a break is
// sent with it.
type session struct {
	conn   io.ReadWriteCloser // the line, or the LAPM link on it
	line   transport.Line
	input  *inputPump
	stdout io.Writer
	notice io.Writer // stderr: help text, notices
	esc    *escaper
	// resize delivers local window changes; sendWindow sends one (nil:
	// the line cannot carry them).
	resize     <-chan transport.WindowSize
	sendWindow func(transport.WindowSize) error
	sendBreak  func() error
	// suspend stops dial for ~^Z until it is continued (nil: stdin is
	// not a terminal).
	suspend func() error

	// drain is how long the call must have been quiet, after stdin
	// ended, before a conn that cannot half-close is hung up.
	drain time.Duration
	// noHalfClose: a conn that can half-close is not, and waits for
	// quiet as the others do (--drain given: the gateway takes a
	// half-close as a hang-up, and a script's quiet command was cut;
	// power-user trial).
	noHalfClose bool
	// lastDown is when the last octets came from the call (nil: none
	// yet), with its monotonic clock reading: a step of the wall clock
	// must not move the quiet waitQuiet counts.
	lastDown atomic.Pointer[time.Time]
	// linkState reports, when conn is a LAPM link, how many payloads
	// written to it the gateway has not acknowledged and the link's
	// acknowledgement timer (T401) in force; nil for other conns.
	linkState func() (unacked int, t401 time.Duration, lineIn uint64)

	up *upWriter // copyUp's writes to conn (run starts it)

	// modes follows the terminal modes the call's output turns on, when
	// stdout is a terminal (nil otherwise); runSession puts back those
	// still on when the session ends.
	modes *modeTracker

	head, tail []byte
}

// closeWriter is the half-close ability of a line (tcp).
type closeWriter interface{ CloseWrite() error }

// inputPump is the one goroutine that reads stdin, for every session of
// a call (the call and its callback): a read of stdin cannot be
// interrupted, so the reader outlives sessions and ends only with stdin or
// at stop. Chunks arrive on ch, which is closed when stdin ends; a
// consumer done with a chunk gives it back (release) for the reader to
// fill again, so that typing does not allocate a buffer per keystroke.
// free holds two: a reader that hands a chunk to a waiting consumer reads
// the next before the consumer has given the first back.
type inputPump struct {
	ch   chan []byte
	free chan []byte
	stop chan struct{}
	once sync.Once
}

// inputChunk is the most one read of stdin takes: a WebSocket line's
// binary message (transport/ws's Line.WriteSize), so that piped input
// goes out in whole messages; other lines split or batch it anyway.
const inputChunk = 64 << 10

// consoleCtrlZ is ctrlZEOF's octet: Ctrl-Z, SUB.
const consoleCtrlZ = 0x1A

// startInput starts reading stdin from r. ctrlZEOF says r is a Windows
// console, whose reader in Go ends a read with io.EOF where the user
// typed Ctrl-Z (see afterStdinError).
func startInput(r io.Reader, ctrlZEOF bool) *inputPump {
	in := &inputPump{ch: make(chan []byte), free: make(chan []byte, 2), stop: make(chan struct{})}
	send := func(b []byte) bool {
		select {
		case in.ch <- b:
			return true
		case <-in.stop:
			return false
		}
	}
	go func() {
		defer close(in.ch)
		var eofs consoleEOFs
		var buf []byte
		for {
			if buf == nil {
				select {
				case buf = <-in.free:
				default:
					buf = make([]byte, inputChunk)
				}
			}
			n, err := r.Read(buf)
			if n > 0 {
				eofs = consoleEOFs{}
				if !send(buf[:n]) {
					return
				}
				buf = nil // the consumer's until it gives it back
			}
			if err != nil {
				ended, typed := afterStdinError(err, ctrlZEOF, &eofs, time.Now())
				if ended {
					return
				}
				if len(typed) > 0 && !send(typed) {
					return
				}
			}
		}
	}()
	return in
}

// A console whose reads return io.EOF maxConsoleEOFs times in a row
// within consoleEOFWindow, no data between them, is taken to be gone, not
// typed on: Go's reader also returns io.EOF when ReadConsoleW returns no
// characters (the console went away), and does so at once on every read,
// thousands a millisecond. Ctrl-Zs already buffered (a paste, a key held
// while the line is slow) also come as one immediate io.EOF each, so the
// run must be far longer than any of those.
const (
	maxConsoleEOFs   = 64
	consoleEOFWindow = 10 * time.Millisecond
)

// consoleEOFs is the run of io.EOFs a console's reads returned with no
// data between them; the zero value is no run (reset it on data).
type consoleEOFs struct {
	n     int
	first time.Time // of the run
}

// afterStdinError says whether err, from a read of stdin at now, ends
// the input, and if not what the user typed that the read did not
// return. eofs is the run of io.EOFs before this read (see consoleEOFs);
// afterStdinError updates it.
//
// On a Windows console (ctrlZEOF) Go's reader takes a Ctrl-Z for the end
// of input: the read that reaches it consumes the octet and returns
// io.EOF (internal/poll, FD.readConsole and eofError), and the console
// reads on afterwards; a console has no end of its own. There io.EOF is
// a Ctrl-Z typed: the input goes on, and the Ctrl-Z is sent to the call
// as the octet it is, as on a Unix terminal in raw mode; unless it is the
// maxConsoleEOFs-th in a row within consoleEOFWindow, which ends the
// input (the console is gone).
func afterStdinError(err error, ctrlZEOF bool, eofs *consoleEOFs, now time.Time) (ended bool, typed []byte) {
	if !ctrlZEOF || !errors.Is(err, io.EOF) {
		return true, nil
	}
	if eofs.n == 0 || now.Sub(eofs.first) > consoleEOFWindow {
		*eofs = consoleEOFs{first: now}
	}
	eofs.n++
	if eofs.n >= maxConsoleEOFs {
		return true, nil
	}
	return false, []byte{consoleCtrlZ}
}

// close lets the reader end at its next chunk or at the end of stdin.
func (in *inputPump) close() { in.once.Do(func() { close(in.stop) }) }

// release gives back a chunk received from ch that its consumer no longer
// uses (nor any slice of it). Chunks the reader did not read into (what a
// console's Ctrl-Z stands for) are dropped.
func (in *inputPump) release(chunk []byte) {
	if cap(chunk) != inputChunk {
		return
	}
	select {
	case in.free <- chunk[:inputChunk]:
	default:
	}
}

// run copies both ways until the call ends. It hangs up conn before it
// returns, and every goroutine it started has ended by then.
func (s *session) run(ctx context.Context) (sessionEnd, error) {
	downDone := make(chan error, 1)
	go func() { downDone <- s.copyDown() }()

	stopUp := make(chan struct{})
	upDone := make(chan upResult, 1)
	s.up = startUpWriter(s.conn)
	go func() { upDone <- s.copyUp(stopUp) }()

	resizeDone := make(chan struct{})
	stopResize := make(chan struct{})
	go func() {
		defer close(resizeDone)
		for {
			select {
			case ws, ok := <-s.resize:
				if !ok {
					return
				}
				if s.sendWindow != nil {
					_ = s.sendWindow(ws)
				}
			case <-stopResize:
				return
			}
		}
	}()

	end, upGone, err := s.wait(ctx, downDone, upDone)
	close(stopUp)
	close(stopResize)
	<-resizeDone
	if !upGone {
		<-upDone
	}
	s.up.close() // conn is hung up: a write blocked on it has returned
	return end, err
}

// hangUp hangs up the call now, for ~. and a signal, even while the
// gateway takes no input: a V.42 link is released at once (DISC), not
// once what is queued has been acknowledged, and the line's close waits
// at most a second for a write stuck on it.
func (s *session) hangUp() {
	if h, ok := s.conn.(interface{ Hangup() }); ok {
		h.Hangup()
	}
	shortLinger(s.line)
	s.conn.Close()
}

// wait decides how the session ends; upGone reports that copyUp returned.
func (s *session) wait(ctx context.Context, downDone chan error, upDone chan upResult) (end sessionEnd, upGone bool, err error) {
	select {
	case err := <-downDone:
		s.conn.Close()
		if errors.Is(err, errStdoutGone) {
			return endStdoutGone, false, nil
		}
		return endRemote, false, notEOF(err)
	case up := <-upDone:
		end, err := s.afterUp(ctx, up, downDone)
		return end, true, err
	case <-ctx.Done():
		s.hangUp()
		<-downDone
		return endStopped, false, nil
	}
}

// afterUp ends the session after copyUp returned.
func (s *session) afterUp(ctx context.Context, up upResult, downDone chan error) (sessionEnd, error) {
	{
		switch {
		case up.hangup:
			s.hangUp()
			<-downDone
			return endEscape, nil
		case up.lineErr != nil:
			// conn failed under our write: the line dropped.
			s.conn.Close()
			err := <-downDone
			return endRemote, notEOF(err)
		}
		// stdin ended: half-close where the line can, so the gateway
		// hears the end and everything in flight still reaches stdout.
		if cw, ok := s.conn.(closeWriter); ok && !s.noHalfClose && cw.CloseWrite() == nil {
			select {
			case err := <-downDone:
				s.conn.Close()
				return endStdinEOF, notEOF(err)
			case <-ctx.Done():
			}
		}
		if ended, err := s.waitQuiet(ctx, downDone); ended {
			s.conn.Close()
			return endStdinEOF, notEOF(err)
		}
		s.conn.Close()
		err := <-downDone
		if ctx.Err() != nil {
			return endStopped, nil
		}
		return endStdinEOF, notEOF(err)
	}
}

// notEOF drops the errors that mean an orderly end: the end of the
// stream, a line hung up, stdout gone. A LAPM link failure is never
// orderly, even when its cause is the line's EOF: the gateway went away
// without releasing the link (DISC).
func notEOF(err error) error {
	if err == nil || errors.Is(err, lapm.ErrLinkFailure) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, transport.ErrHungUp) || errors.Is(err, errStdoutGone) {
		return nil
	}
	return err
}

// waitQuiet waits until nothing has come from the call for s.drain (or
// the call ends: ended, with copyDown's error, or ctx ends).
//
// Over a LAPM link the quiet counts only from when everything written
// was acknowledged: before that, the gateway's answer to it (an echo)
// cannot have come, and a frame of ours lost on the way is recovered
// only at our T401. Nor while frames still arrive (the gateway sending
// again what was lost, which is not yet delivered in sequence). And it
// lasts at least twice the link's T401, so that
// a last frame of the gateway's lost on the way, which it polls for and
// sends again once its own T401 runs out, still arrives. (With the
// default --drain of 1 s, equal to the shortest T401, a line that lost
// a frame near the end of a transfer was hung up while the link
// recovered it: output cut short, and exit 0.)
func (s *session) waitQuiet(ctx context.Context, downDone chan error) (ended bool, err error) {
	if s.drain <= 0 {
		return false, nil
	}
	tick := s.drain
	if s.linkState != nil {
		tick = min(tick, 50*time.Millisecond)
	}
	// The quiet counts from now at the earliest: output that came
	// before stdin ended does not shorten it.
	pendingAt := time.Now() // last seen with our own octets unacknowledged, or the line busy
	var lineIn uint64
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case err := <-downDone:
			return true, err
		case <-ctx.Done():
			return false, nil
		case <-t.C:
		}
		now := time.Now()
		need := s.drain
		if s.linkState != nil {
			unacked, t401, in := s.linkState()
			if unacked > 0 || in != lineIn {
				pendingAt = now
			}
			lineIn = in
			need = max(need, 2*t401)
		}
		quietFrom := s.lastOutput()
		if pendingAt.After(quietFrom) {
			quietFrom = pendingAt
		}
		idle := now.Sub(quietFrom)
		if idle >= need {
			return false, nil
		}
		t.Reset(min(tick, need-idle))
	}
}

// lastOutput is when the last octets came from the call; the zero time
// if none came.
func (s *session) lastOutput() time.Time {
	if t := s.lastDown.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// copyDown copies the call to stdout and keeps the head and tail of it.
func (s *session) copyDown() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			now := time.Now()
			s.lastDown.Store(&now)
			p := buf[:n]
			if len(s.head) < headTailSize {
				s.head = append(s.head, p[:min(n, headTailSize-len(s.head))]...)
			}
			s.tail = append(s.tail, p[max(0, n-headTailSize):]...)
			if len(s.tail) > headTailSize {
				s.tail = append(s.tail[:0], s.tail[len(s.tail)-headTailSize:]...)
			}
			if s.modes != nil {
				s.modes.feed(p)
			}
			if _, werr := s.stdout.Write(p); werr != nil {
				return fmt.Errorf("%w: %w", errStdoutGone, werr)
			}
		}
		if err != nil {
			return err
		}
	}
}

type upResult struct {
	hangup  bool
	lineErr error // writing to the call failed
	// Otherwise stdin ended.
}

// hangupFlush is how long ~. waits for what was typed before it to be
// written to the call, when the call takes it; a call that takes no input
// is hung up with the rest unsent.
const hangupFlush = time.Second

// upQueueMax is how much escaped input copyUp queues for the call while a
// write to it blocks (a gateway whose service takes no input): it goes on
// reading the terminal up to this, so that ~. still hangs up and ~B still
// sends a break. Beyond it the terminal waits, as before.
const upQueueMax = 1 << 20

// copyUp copies stdin to the call through the escape state machine until
// stdin ends (and what it read has been written), the call fails, ~. or
// stop. The writes to the call are s.up's, so that a write that blocks
// does not keep the escapes from being seen; ~B's break is sent at once,
// ahead of input still queued (V.42 sends it expedited anyway).
func (s *session) copyUp(stop <-chan struct{}) upResult {
	out := make([]byte, 0, inputChunk+1) // feed may add a held escape character
	in := s.input.ch
	for {
		queued, err := s.up.state()
		if err != nil {
			return upResult{lineErr: err}
		}
		if in == nil && queued == 0 {
			return upResult{} // stdin ended and all of it is written
		}
		input := in
		if queued >= upQueueMax {
			input = nil
		}
		var chunk []byte
		select {
		case c, ok := <-input:
			if !ok {
				in = nil
				continue
			}
			chunk = c
		case <-s.up.change:
			continue
		case <-stop:
			return upResult{}
		}
		p := chunk
		for len(p) > 0 {
			var act escAction
			var used int
			out, act, used = s.esc.feed(out[:0], p)
			p = p[used:]
			if len(out) > 0 {
				if err := s.up.write(out); err != nil {
					return upResult{lineErr: err}
				}
			}
			switch act {
			case escHangup:
				s.up.flush(hangupFlush, stop)
				return upResult{hangup: true}
			case escHelp:
				io.WriteString(s.notice, escHelpText(s.esc.char))
			case escBreak:
				if s.sendBreak == nil || s.sendBreak() != nil {
					io.WriteString(s.notice, "\r\n[this line cannot send a break]\r\n")
				}
			case escSuspend:
				s.suspendSelf()
			}
		}
		s.input.release(chunk) // feed copied what it sends into out
	}
}

// upWriter writes copyUp's output to the call on a goroutine of its own,
// in order. It ends after close once its queue is written, or at its
// first failed write; a write blocked on the call ends when the call is
// hung up.
type upWriter struct {
	w      io.Writer
	mu     sync.Mutex
	q      [][]byte
	queued int   // octets in q and in the write in progress
	err    error // the first failed write's
	closed bool
	kick   chan struct{} // q has grown, or closed
	change chan struct{} // queued fell, or err was set
	done   chan struct{}
}

func startUpWriter(w io.Writer) *upWriter {
	u := &upWriter{w: w, kick: make(chan struct{}, 1), change: make(chan struct{}, 1), done: make(chan struct{})}
	go u.loop()
	return u
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (u *upWriter) loop() {
	defer close(u.done)
	for {
		u.mu.Lock()
		for len(u.q) == 0 && !u.closed {
			u.mu.Unlock()
			<-u.kick
			u.mu.Lock()
		}
		if len(u.q) == 0 {
			u.mu.Unlock()
			return
		}
		b := u.q[0]
		u.q[0] = nil
		u.q = u.q[1:]
		u.mu.Unlock()
		_, err := u.w.Write(b)
		u.mu.Lock()
		u.queued -= len(b)
		if err != nil {
			u.err, u.q, u.queued = err, nil, 0
		}
		u.mu.Unlock()
		notify(u.change)
		if err != nil {
			return
		}
	}
}

// write queues a copy of b; it fails once a write has.
func (u *upWriter) write(b []byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	u.q = append(u.q, bytes.Clone(b))
	u.queued += len(b)
	notify(u.kick)
	return nil
}

// state is how much is still to be written, and the failed write's error.
func (u *upWriter) state() (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.queued, u.err
}

// flush waits until everything queued is written, a write failed, d
// passed or stop.
func (u *upWriter) flush(d time.Duration, stop <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if n, err := u.state(); n == 0 || err != nil {
			return
		}
		select {
		case <-u.change:
		case <-t.C:
			return
		case <-stop:
			return
		}
	}
}

// close ends the writer once its queue is written and waits for it: call
// it once the call is hung up, which ends a write blocked on it.
func (u *upWriter) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	notify(u.kick)
	<-u.done
}

// suspendSelf is ~^Z. While dial is stopped nobody answers the call: a
// text call waits (the gateway's idle timeout still runs), but a V.42
// link that goes unanswered is given up by the gateway (power-user
// trial: stopped 15 s the call lived on, 40 s it was dropped), so
// the user is told before.
func (s *session) suspendSelf() {
	if s.suspend == nil {
		io.WriteString(s.notice, "\r\n[dial cannot suspend: stdin is not a terminal]\r\n")
		return
	}
	if s.linkState != nil {
		io.WriteString(s.notice, "\r\n[suspending dial: the gateway drops a V.42 call left unanswered for about half a minute; fg to continue]\r\n")
	} else {
		io.WriteString(s.notice, "\r\n[suspending dial; fg to continue]\r\n")
	}
	if err := s.suspend(); err != nil {
		fmt.Fprintf(s.notice, "\r\n[dial cannot suspend: %v]\r\n", err)
	}
}
