package lapm

// The link's owner goroutine, the only one that touches the machine (the
// API hands it closures through call and do): it takes received frames,
// timer expiries, queued writes and user requests, delivers payloads to
// Read, and ends the link.

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// run is the owner goroutine: it feeds the machine with frames, timer
// expiries, queued writes and user requests, and hands its output to the
// writer.
func (l *Link) run() {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var armed time.Time // when the timer fires; zero: not armed
	lineDown := false
	now := l.now()
	for {
		// The timer is re-armed only when the machine's deadline comes
		// earlier than the armed one: a deadline that moved later (T403
		// restarts with every frame, T401 with every acknowledgement)
		// lets the timer fire early, which is harmless (see
		// machine.timeout), instead of resetting it per frame.
		if dl := l.m.deadline(); !dl.IsZero() && (armed.IsZero() || dl.Before(armed)) {
			armed = dl
			timer.Reset(max(dl.Sub(now), 0))
		}
		backlogged, werr := l.outputState()
		if werr != nil && !lineDown {
			lineDown = true
			if !l.m.st.ended() {
				l.m.fail(fmt.Errorf("%w: line write: %w", ErrLinkFailure, werr))
			}
		}
		if l.m.st.ended() {
			// The writer may be stuck on a peer that stopped reading:
			// finish bounds the wait for the last frames.
			l.finish(lineDown)
			return
		}
		rxCh := l.rxCh
		if backlogged {
			rxCh = nil // push back: let the writer catch up first
		}
		var (
			b      rxBatch
			gotRx  bool
			fn     func(time.Time)
			expiry bool
		)
		select {
		case b = <-rxCh:
			gotRx = true
		case <-timer.C:
			armed, expiry = time.Time{}, true
		case fn = <-l.reqCh:
		case <-l.kick:
		}
		now = l.now()
		if n := l.consumedN.Swap(0); n > 0 {
			l.m.consumed(now, int(n))
		}
		switch {
		case gotRx:
			lineDown = l.received(now, b) || lineDown
			// Take what else has arrived before answering: fewer,
			// larger writes and one acknowledgement per batch (a few
			// batches at most, so that output stays bounded).
		drain:
			for range 8 {
				select {
				case b := <-l.rxCh:
					lineDown = l.received(now, b) || lineDown
				default:
					break drain
				}
			}
		case expiry:
			l.m.timeout(now)
		case fn != nil:
			fn(now)
		}
		l.step(now)
	}
}

// received feeds a batch from the reader to the machine; it reports
// whether the line is down.
func (l *Link) received(now time.Time, b rxBatch) bool {
	if b.err != nil {
		switch {
		case l.m.st.ended():
		case l.m.st == stateDisconnecting && errors.Is(b.err, io.EOF):
			// The peer hung up after our DISC: its UA was lost on the
			// line, or it went away. The release is over either way
			// (what it had to take was acknowledged before the DISC).
			l.m.finish()
		default:
			l.m.fail(fmt.Errorf("%w: line: %w", ErrLinkFailure, b.err))
		}
		return true
	}
	if b.seen32 {
		l.enc.FCS = FCS32
	}
	l.noteLine(b.note)
	if b.damaged {
		l.m.recvDamaged()
	}
	l.handleFrames(now, b.frames)
	return false
}

// noteLine logs the decoder's error counts (garbage, noise, endless
// aborts), which the reader reports at exponentially spaced counts so that
// a hostile line cannot flood the log.
func (l *Link) noteLine(note string) {
	if note != "" {
		l.logf("lapm: %s: line: %s", l.cfg.Role, note)
	}
}

func (l *Link) handleFrames(now time.Time, frames []rxFrame) {
	for i, raw := range frames {
		frames[i] = rxFrame{}
		f, err := ParseFrame(raw.b)
		if err != nil {
			l.m.recvInvalid(now, raw.b, err)
		} else {
			if raw.owned {
				l.m.rxBuf = raw.b
			}
			l.m.recvFrame(now, f)
		}
		if raw.owned && (err != nil || l.m.rxBuf != nil) {
			// Not delivered: the machine keeps nothing of it.
			l.m.rxBuf = nil
			putBuf(raw.b)
		}
	}
}

// step collects the machine's output after an input: events, delivered
// payloads, queued writes and frames to send.
func (l *Link) step(now time.Time) {
	for range 16 {
		for _, e := range l.m.takeEvents() {
			l.handleEvent(now, e)
		}
		if rx := l.m.takeRx(); len(rx) > 0 {
			l.deliver(now, rx)
		}
		l.takeWrites()
		if out := l.m.flush(now); len(out) > 0 {
			l.output(out)
		}
		if len(l.m.ev) == 0 && len(l.m.rxq) == 0 {
			break
		}
	}
	// Read is woken last, after the output (the acknowledgement of what
	// it gets) went to the writer: the goroutine readied last runs first
	// when the owner waits, so the data goes on (to a backend, to the
	// user) before the writer's system call, not after it.
	if l.rxReady {
		l.rxReady = false
		select {
		case l.rxNotify <- struct{}{}:
		default:
		}
	}
	// Acknowledged payloads go back to the pool for Write to seal into,
	// now that the frames that referred to them have been encoded.
	acked := l.m.takeAcked()
	for _, p := range acked {
		putBuf(p)
	}
	clear(acked)
	// Read wakes the owner for the payloads it consumes only while the
	// machine waits for them; otherwise the owner counts them at its next
	// wake-up. Setting the flag before looking at the count again makes
	// sure one of the two sees every payload.
	busy := l.m.ownBusy && !l.m.st.ended()
	l.wantCredit.Store(busy)
	if busy && l.consumedN.Load() > 0 {
		l.wake()
	}
}

// deliver opens the payloads the machine delivered in order and hands
// them to Read.
// backlogCopy is how many payloads may wait unread before short ones
// are copied out of the arena they were decoded into (deliver).
const backlogCopy = 8

func (l *Link) deliver(now time.Time, rx []rxPayload) {
	l.mu.Lock()
	t := l.transform
	l.mu.Unlock()
	if t != nil {
		for i, p := range rx {
			plain, err := t.Open(p.p[:0], p.p) // in place: the payload is ours
			if err != nil {
				l.m.fail(fmt.Errorf("%w: %w", ErrPayloadRefused, err))
				return
			}
			rx[i].p = plain
		}
	}
	empty := 0
	l.mu.Lock()
	for _, p := range rx {
		if len(p.p) == 0 {
			empty++ // nothing to read: consumed at once
			if p.buf != nil {
				putBuf(p.buf)
			}
			continue
		}
		if p.buf == nil && len(l.rxChunks) >= backlogCopy {
			// A short payload lives in its read's arena (readLoop),
			// which it keeps alive while it waits: a peer sending one
			// short I frame per 64 KiB read of padding, to a reader
			// that does not read, had 2k of them hold 64 KiB each
			// (adversarial trial: 8.8 MB per call, up to 16 MiB). Once
			// a backlog forms, each is copied out.
			p.p = append(make([]byte, 0, len(p.p)), p.p...)
		}
		l.rxChunks = append(l.rxChunks, p)
	}
	l.mu.Unlock()
	clear(rx)
	if empty > 0 {
		l.m.consumed(now, empty)
	}
	l.rxReady = true
}

// takeWrites moves payloads queued by Write into the machine as far as
// its queue has room, and wakes a Write waiting for room.
func (l *Link) takeWrites() {
	room := l.m.txRoom()
	if room <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(room, len(l.sendq))
	if n == 0 {
		return
	}
	for _, p := range l.sendq[:n] {
		l.m.enqueue(p)
	}
	k := copy(l.sendq, l.sendq[n:])
	clear(l.sendq[k:])
	l.sendq = l.sendq[:k]
	if k == 0 && cap(l.sendq) > 4 {
		l.sendq = nil // an idle link keeps no queue array
	}
	if l.sendWait {
		l.sendWait = false
		select {
		case l.room <- struct{}{}:
		default:
		}
	}
}

// stopWrites makes Write fail with err from now on and drops what it
// queued; a waiting Write returns.
func (l *Link) stopWrites(err error) {
	l.mu.Lock()
	if l.sendErr == nil || l.sendErr == errBeforeDataPhase {
		l.sendErr = err
	}
	clear(l.sendq)
	l.sendq = nil
	l.mu.Unlock()
	select {
	case l.room <- struct{}{}:
	default:
	}
}

func (l *Link) writeErr() error {
	err := l.m.err
	if err == nil {
		if l.closedHere {
			return ErrClosed
		}
		return fmt.Errorf("%w: link released", ErrPeerDisconnected)
	}
	return err
}

func (l *Link) handleEvent(now time.Time, e event) {
	switch e.kind {
	case evXIDCommand:
		l.onXIDCommand(now, e.info)
	case evXIDResponse:
		l.onXIDResponse(now, e.info)
	case evSABME:
		if l.negotiating {
			// A peer that skips XID: defaults apply (V.42 §8.10.1).
			l.logf("lapm: %s: SABME without XID negotiation: defaults apply", l.cfg.Role)
			l.agree(DefaultNegotiated(), nil)
		}
		if l.acceptWait != nil {
			l.acceptWait <- xidResult{err: ErrPeerEstablishing}
			l.acceptWait = nil
		}
		if l.wantEst {
			_ = l.m.establish(now)
		}
	case evEstablished:
		l.openWrites()
		if l.estWait != nil {
			l.estWait <- nil
			l.estWait = nil
		}
	case evBreak:
		select {
		case l.breaks <- struct{}{}:
		default:
		}
	case evBreakAck:
	case evEnded:
		l.onEnded()
	}
}

// openWrites lets Write queue payloads: the machine is in the data phase.
// It runs (on the owner goroutine) for the established event and before
// Establish returns, whichever comes first: when the SABME was seen before
// Establish, the machine is connected as soon as Establish's step has
// answered it, before the event is handled.
func (l *Link) openWrites() {
	l.mu.Lock()
	if l.sendErr == errBeforeDataPhase {
		l.sendErr = nil
		l.sendCap = l.m.p.kTx
	}
	l.mu.Unlock()
}

func (l *Link) onEnded() {
	err := l.writeErr()
	if l.openWait != nil {
		l.openWait <- err
		l.openWait = nil
	}
	if l.xidWait != nil {
		l.xidWait <- xidResult{err: err}
		l.xidWait = nil
	}
	if l.acceptWait != nil {
		l.acceptWait <- xidResult{err: err}
		l.acceptWait = nil
	}
	if l.estWait != nil {
		l.estWait <- err
		l.estWait = nil
	}
	l.stopWrites(err)
}

// finish ends the owner goroutine: it records the outcome, lets the last
// frames go out (bounded), hangs up the line, which also ends a writer
// stuck on it, and wakes Read.
func (l *Link) finish(lineDown bool) {
	l.onEnded()
	l.wantCredit.Store(false)
	st := l.m.stats
	l.mu.Lock()
	switch {
	case l.m.err == nil && l.closedHere:
		l.endErr = ErrClosed
	case l.m.err == nil:
		l.endErr = io.EOF
	case errors.Is(l.m.err, ErrPeerDisconnected) && !errors.Is(l.m.err, ErrLinkFailure):
		l.endErr = io.EOF
	default:
		l.endErr = l.m.err
	}
	l.final = l.statsLocked(st, l.m.t401())
	l.mu.Unlock()
	if !lineDown {
		// Let the last frames (UA, DM, DISC) go out, but do not wait
		// longer than T401 for a peer that stopped reading.
		t := time.NewTimer(l.m.cfg.t401)
	drain:
		for {
			l.omu.Lock()
			busy := l.writing && l.oerr == nil
			l.onotify = busy
			l.omu.Unlock()
			if !busy {
				break
			}
			select {
			case <-l.kick:
			case <-t.C:
				break drain
			}
		}
		t.Stop()
	}
	l.omu.Lock()
	out := l.lineOut
	l.omu.Unlock()
	l.mu.Lock()
	l.final.LineBytesSent = out
	l.mu.Unlock()
	close(l.done)
	_ = l.line.Close()
	select {
	case l.rxNotify <- struct{}{}:
	default:
	}
}

// abort tears a link down without a release procedure (Open failed).
func (l *Link) abort() {
	select {
	case l.reqCh <- func(time.Time) {
		if !l.m.st.ended() {
			l.m.fail(fmt.Errorf("%w: aborted", ErrClosed))
		}
	}:
	case <-l.done:
	}
	l.wg.Wait()
}
