package tcp

// The line's telnet control: window sizes and events delivered to the
// bridge, negotiation replies sent from their own goroutine, and what the
// gateway asks of the peer's telnet (echo, window size, terminal type,
// BREAK, NOP, IP, AO, binary mode).

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/transport"
)

// SetControlFuncs makes the line call win with each window size the peer
// announces and ev with each event (BREAK, IP, AYT), instead of sending
// them on WindowChanges and Events: a bridge then needs no goroutine
// parked on the channels for every idle call. What waits in the channels
// is passed to the functions before SetControlFuncs returns. The
// functions are called by Read, in the goroutine that reads, after Read
// has released the line's locks (they must not call Read), one at a time.
// SetControlFuncs(nil, nil) goes back to the channels: it waits for a
// call in progress to return, and what is still undelivered goes to the
// channels. Either function may be nil (that kind is dropped). Close
// stops the deliveries (one already under way may still finish).
func (l *Line) SetControlFuncs(win func(transport.WindowSize), ev func(transport.Event)) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.nmu.Lock()
	if l.nclosed {
		l.winFn, l.evFn = nil, nil
		l.nmu.Unlock()
		return
	}
	l.winFn, l.evFn = win, ev
	if win == nil && ev == nil {
		// Undelivered notifications go back to the channels.
		for _, e := range l.pendEv {
			select {
			case l.evCh <- e:
			default:
			}
		}
		if l.hasPendWin {
			sendLatest(l.winCh, l.pendWin)
		}
		l.pendEv, l.hasPendWin = nil, false
		l.pending.Store(false)
		l.nmu.Unlock()
		return
	}
	// Hand over what waits in the channels.
	var ws transport.WindowSize
	hasWin := false
	select {
	case ws = <-l.winCh:
		hasWin = true
	default:
	}
	var evs []transport.Event
	for more := true; more; {
		select {
		case e := <-l.evCh:
			evs = append(evs, e)
		default:
			more = false
		}
	}
	l.nmu.Unlock()
	if hasWin && win != nil {
		win(ws)
	}
	if ev != nil {
		for _, e := range evs {
			ev(e)
		}
	}
}

// deliverControl calls the functions of SetControlFuncs with what decode
// set aside.
func (l *Line) deliverControl() {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.nmu.Lock()
	if l.nclosed {
		l.nmu.Unlock()
		return
	}
	win, ev := l.winFn, l.evFn
	ws, hasWin := l.pendWin, l.hasPendWin
	evs := l.pendEv
	l.pendEv, l.hasPendWin = nil, false
	l.pending.Store(false)
	l.nmu.Unlock()
	if hasWin && win != nil {
		win(ws)
	}
	if ev != nil {
		for _, e := range evs {
			ev(e)
		}
	}
}

// sendLatest puts v in a one-slot channel, replacing an unread older value.
func sendLatest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// kickFlushLocked starts a goroutine that sends the telnet session's
// pending control output (negotiation replies) unless one runs. Replies are
// sent from their own goroutine so that Read never blocks on a full send
// buffer. Called with tmu held.
func (l *Line) kickFlushLocked() {
	if l.flushing || len(l.tn.out) == 0 || l.closed.Load() {
		return
	}
	l.flushing = true
	l.wg.Add(1)
	go l.flushControl()
}

func (l *Line) flushControl() {
	defer l.wg.Done()
	for {
		l.writeMu.Lock()
		l.tmu.Lock()
		if len(l.tn.out) == 0 || l.wclosed || l.closed.Load() {
			l.flushing = false
			l.tmu.Unlock()
			l.writeMu.Unlock()
			return
		}
		l.wbuf = append(l.wbuf[:0], l.tn.out...)
		l.tn.out = l.tn.out[:0]
		l.tmu.Unlock()
		n, err := l.conn.Write(l.wbuf)
		if err != nil {
			l.requeue(l.wbuf[n:])
		}
		l.writeMu.Unlock()
		if err != nil {
			l.logf("sending telnet negotiation: %v", err)
			l.tmu.Lock()
			l.flushing = false
			l.tmu.Unlock()
			return
		}
	}
}

// control runs f on the telnet session and sends what it queued, in order
// with data writes.
func (l *Line) control(what string, f func(t *telnet) error) error {
	if !l.telnetOn() {
		return fmt.Errorf("tcp: %s on a raw line: %w", what, errors.ErrUnsupported)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.controlLocked(what, f)
}

// controlLocked is control with writeMu held.
func (l *Line) controlLocked(what string, f func(t *telnet) error) error {
	if l.wclosed || l.closed.Load() {
		return fmt.Errorf("tcp: %s: %w", what, transport.ErrHungUp)
	}
	l.tmu.Lock()
	err := f(l.tn)
	// What is queued goes out even when f failed: it may be negotiation
	// queued before (a server's opening, which would otherwise be lost).
	l.wbuf = append(l.wbuf[:0], l.tn.out...)
	l.tn.out = l.tn.out[:0]
	l.tmu.Unlock()
	if len(l.wbuf) > 0 {
		if n, werr := l.conn.Write(l.wbuf); werr != nil {
			l.requeue(l.wbuf[n:])
			return fmt.Errorf("tcp: %s: %w", what, werr)
		}
	}
	return err
}

// SetServerEcho (server-side telnet lines) sends WILL ECHO (on) so the
// caller's terminal stops echoing locally, or WONT ECHO (off) to give echo
// back (RFC 857). The line itself never echoes: the upper layer echoes what
// it wants (nothing, for a password).
func (l *Line) SetServerEcho(on bool) error {
	return l.control("server echo", func(t *telnet) error { return t.setServerEcho(on) })
}

// SetWindowSize (client-side telnet lines) records the window size to
// announce and sends it now if the server agreed to NAWS (RFC 1073).
func (l *Line) SetWindowSize(ws transport.WindowSize) error {
	return l.setting("window size", func(t *telnet) error { return t.setWindowSize(ws) })
}

// setting is control for what a client records for later answers (its
// terminal type and window size): on a line still waiting for its
// peer's first octet (Options.Sniff) it is recorded, for the
// negotiation that may follow, and nothing is sent.
func (l *Line) setting(what string, f func(t *telnet) error) error {
	if l.tn != nil && l.sniff.Load() == sniffWait {
		l.tmu.Lock()
		// Again under tmu: read turns the line telnet before it decodes
		// (under tmu) the peer's first negotiation, so f either runs
		// before that decoding, and its setting is announced by it, or
		// goes through control, which sends what it queues (review: a
		// NAWS queued here after the switch waited for the next write).
		if l.sniff.Load() == sniffWait {
			defer l.tmu.Unlock()
			return f(l.tn)
		}
		l.tmu.Unlock()
	}
	return l.control(what, f)
}

// SetTermType (client-side telnet lines) sets the terminal type announced
// when the server asks for it (TTYPE SEND, RFC 1091) from now on; "" is
// "UNKNOWN". The negotiation runs in Read: set before the first Read, it
// answers the server's first request.
func (l *Line) SetTermType(name string) error {
	return l.setting("terminal type", func(t *telnet) error {
		if t.server {
			return fmt.Errorf("tcp: terminal type on a server line: %w", errors.ErrUnsupported)
		}
		t.termType = cmp.Or(name, "UNKNOWN")
		return nil
	})
}

// SendBreak sends IAC BRK (telnet lines only).
func (l *Line) SendBreak() error {
	return l.control("break", func(t *telnet) error {
		t.out = append(t.out, cmdIAC, cmdBRK)
		return nil
	})
}

// ErrWouldWait is SendNOP's answer when sending would wait: a write is
// under way, or the socket's send queue is not empty (or cannot be read).
var ErrWouldWait = errors.New("tcp: the line's output is held up")

// SendNOP sends IAC NOP (telnet lines only): nothing to the peer's
// telnet, but a peer that has closed its socket answers it with a reset,
// which PeerState then tells apart from a half-close (a FIN alone may
// be either). It never waits: with a write under way or octets still
// unsent (a peer that has stopped reading), it sends nothing and
// returns ErrWouldWait, since a probe stuck behind them would hold the
// line's writes, and its caller's goroutine, until the call ended.
func (l *Line) SendNOP() error {
	if !l.telnetOn() {
		return fmt.Errorf("tcp: nop on a raw line: %w", errors.ErrUnsupported)
	}
	if !l.writeMu.TryLock() {
		return ErrWouldWait
	}
	defer l.writeMu.Unlock()
	if n, ok := sockstate.Unsent(l.conn); !ok || n > 0 {
		return ErrWouldWait
	}
	return l.controlLocked("nop", func(t *telnet) error {
		t.out = append(t.out, cmdIAC, cmdNOP)
		return nil
	})
}

// NVTIn reports whether the peer transmits as a network virtual terminal
// (RFC 854): a telnet line whose peer does not send BINARY, and so ends
// its lines with CR LF. False on raw lines, whose octets are their own.
func (l *Line) NVTIn() bool {
	if !l.telnetOn() {
		return false
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	return !l.tn.him.enabled(optBinary)
}

// EchoRefused reports whether the peer of a server line refused the echo
// SetServerEcho asked for (it answered WILL ECHO with DONT ECHO, RFC
// 857): its terminal echoes what it types itself, and the upper layer
// must not echo it again.
func (l *Line) EchoRefused() bool {
	if !l.telnetOn() {
		return false
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	return l.tn.wantEcho && l.tn.us.side(optEcho).state == qNo
}

// ReassertBinary (telnet lines) asks again for BINARY (RFC 856) on each
// side where the peer has not answered our request, and reports whether
// it asked; raw lines have nothing to ask. Call it once the peer has sent
// data it could only send after reading our opening negotiation (a V.42
// caller's first LAPM frame follows our ADP, which follows the opening):
// a peer answers what it reads in order, and its answers come before that
// data, so a request still unanswered then had its answer lost on the
// way. Only a line that damages octets loses one (a bit flipped in DO
// BINARY), and then the two ends disagree on the encoding for the rest of
// the call: we send CR as CR NUL (NVT, RFC 854) to a peer that, having
// answered DO, reads binary and keeps the NUL (or it sends binary to us
// while we take the NUL after a CR away). A V.42 link cannot send a frame
// whose bit stream holds a CR across that, however often it tries: in a
// bit-flip soak the gateway resent its whole window some 2,000 times
// until N400 failed the link. A peer that ignores BINARY ignores the
// repeated request too; see telnet.reassertBinary for the verbs.
func (l *Line) ReassertBinary() (bool, error) {
	if !l.telnetOn() {
		return false, nil
	}
	var asked bool
	err := l.control("BINARY", func(t *telnet) error {
		asked = t.reassertBinary()
		return nil
	})
	return asked, err
}

// SendInterrupt sends IAC IP, Interrupt Process (telnet lines only).
func (l *Line) SendInterrupt() error {
	return l.control("interrupt", func(t *telnet) error {
		t.out = append(t.out, cmdIAC, cmdIP)
		return nil
	})
}

// SendAbortOutput sends IAC AO, Abort Output (telnet lines only).
func (l *Line) SendAbortOutput() error {
	return l.control("abort output", func(t *telnet) error {
		t.out = append(t.out, cmdIAC, cmdAO)
		return nil
	})
}

// DiscardToMark (client-side telnet lines) asks the server for a
// TIMING-MARK (IAC DO TM, RFC 860) and drops the data it receives until
// the server's answer, or for at most 5 s if none comes. After
// SendInterrupt or SendBreak it throws away the output the server
// produced before the interrupt, which waits in its socket buffers and
// the network's: Read takes it at network speed and returns none of it.
// This is what a telnet client does after sending IP (its "autoflush").
func (l *Line) DiscardToMark() error {
	return l.control("timing mark", func(t *telnet) error {
		if t.server {
			return fmt.Errorf("tcp: timing mark on a server line: %w", errors.ErrUnsupported)
		}
		t.askMark()
		return nil
	})
}

// Binary reports whether telnet BINARY (RFC 856) is in effect for what we
// receive (in) and what we send (out); false, false on raw lines. Data sent
// in the first round trip, while BINARY is still being agreed, is subject to
// the usual telnet ambiguity about CR NUL; a caller that needs every octet
// exact from the start waits until both are true.
func (l *Line) Binary() (in, out bool) {
	if !l.telnetOn() {
		return false, false
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	return l.tn.him.enabled(optBinary), l.tn.us.enabled(optBinary)
}

// WindowChanges delivers window sizes the peer announces (server-side
// telnet lines); only the latest unread size is kept. Closed by Close.
// Silent while functions set by SetControlFuncs receive them.
func (l *Line) WindowChanges() <-chan transport.WindowSize { return l.winCh }

// Events delivers BREAK, IP and AYT from the peer; closed by Close.
// Silent while functions set by SetControlFuncs receive them.
func (l *Line) Events() <-chan transport.Event { return l.evCh }
