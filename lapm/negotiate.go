package lapm

// The link's XID exchanges: the parameter negotiation agreed at
// establishment, and the upper layer's payloads (Access Security tokens)
// carried in the private parameter set PrivateSetID.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// PrivateSetID names the XID private parameter set (group 0xF0, V.42
// §8.10, ISO/IEC 8885) in which ExchangeXID, AcceptXID and RespondXID carry
// the upper layer's payload, split into parameters of at most 255 octets.
const PrivateSetID = "DGAS1"

// DefaultMaxXID is Config.MaxXID when zero: room for a 2048-octet
// upper-layer payload in our private set (format identifier 1, group
// header 3, set ID 7, exchange number 3, nine fragment headers 18, payload
// 2048), the largest Access Security token (docs/access-security.md §1).
const DefaultMaxXID = 2080

// ErrXIDPayload is returned when an XID frame that should carry the upper
// layer's private parameter set does not.
var ErrXIDPayload = errors.New("lapm: XID frame without the private parameter set")

// ErrXIDTooLong is an XID frame received whose information field is
// larger than Config.MaxXID (logged and counted as an invalid frame). A
// command during parameter negotiation is ignored; one after it (an upper
// layer's token) is returned by AcceptXID as this error and still waits
// for its answer (RespondXID: Access Security's REJECT), so that the peer
// hears why instead of retrying it N400 times. A response ends the
// exchange waiting for it.
var ErrXIDTooLong = errors.New("lapm: XID information field too long")

type xidResult struct {
	payload []byte
	err     error
}

// agree installs the negotiated parameters and wakes Open.
func (l *Link) agree(n Negotiated, transcript []byte) {
	l.negotiating = false
	if l.t401FromRate {
		// T401 covers a window each way of the frames agreed on, not
		// of those offered: a station offering N401 4096 and k 127 at
		// 28,800 bit/s took 148 s for T401 after agreeing on 128 and
		// 15 with a V.42 modem, and each recovery that waits for T401
		// (a lost REJ, the last frame of a burst) stalled the link
		// that long (spandsp interop, answerer on a noisy line).
		t401 := T401ForRate(l.cfg.LineRate, max(n.N401Tx, n.N401Rx), max(n.KTx, n.KRx))
		l.m.setTimers(t401, min(l.t402Asked, t401/4))
	}
	l.m.paramsAgreed(linkParams{n401Tx: n.N401Tx, n401Rx: n.N401Rx, kTx: n.KTx, kRx: n.KRx, srej: n.SREJ})
	l.mu.Lock()
	l.neg = n
	l.transcript = transcript
	l.mu.Unlock()
	l.logf("lapm: %s: negotiated %+v", l.cfg.Role, n)
	if l.openWait != nil {
		l.openWait <- nil
		l.openWait = nil
	}
}

// xidSize is nil if an XID information field received fits MaxXID, else
// why it is refused: the frame decoder takes frames up to the largest of
// MaxXID, N401 and MaxN401, so a larger field reaches the link.
func (l *Link) xidSize(info []byte) error {
	if len(info) > l.cfg.MaxXID {
		return fmt.Errorf("%w: %d octets, more than MaxXID %d", ErrXIDTooLong, len(info), l.cfg.MaxXID)
	}
	return nil
}

func (l *Link) onXIDCommand(now time.Time, info []byte) {
	x, err := ParseXID(info)
	if sizeErr := l.xidSize(info); sizeErr != nil || err != nil {
		l.m.stats.InvalidFrames++
		l.logf("lapm: %s: bad XID command: %v", l.cfg.Role, cmp.Or(sizeErr, err))
		if _, seq, ok := privatePayload(x); ok && err == nil && !l.negotiating {
			// An upper layer's token over the limit: its layer answers
			// it (Access Security's REJECT), under its exchange number.
			l.cmdSeq = seq
			l.takeCommand(xidResult{err: sizeErr})
			return
		}
		l.m.xidAnswerPending = false
		return
	}
	if payload, seq, ok := privatePayload(x); ok && !l.negotiating {
		l.cmdSeq = seq
		l.takeCommand(xidResult{payload: payload})
		return
	}
	// Parameter negotiation (or renegotiation, answered but not applied
	// once the parameters are agreed).
	resp, n := Respond(l.cfg.Params, x)
	respInfo := resp.Append(nil)
	_ = l.m.respondXID(respInfo)
	if l.negotiating {
		l.agree(n, append(append([]byte(nil), info...), respInfo...))
		if n.FCS == FCS32 {
			// Keep sending FCS-16 and accept both until the peer's first
			// FCS-32 frame shows it has our response.
			l.fcsMode.Store(fcsDual)
		}
	}
}

// takeCommand hands an upper-layer XID command to AcceptXID: to the one
// waiting, or to the next.
func (l *Link) takeCommand(r xidResult) {
	if l.acceptWait != nil {
		l.acceptWait <- r
		l.acceptWait = nil
		l.pendingCmd = nil
		return
	}
	l.pendingCmd = &r
}

func (l *Link) onXIDResponse(now time.Time, info []byte) {
	sizeErr := l.xidSize(info)
	if l.negotiating && l.cfg.Role == Originator {
		var x XIDParams
		var n Negotiated
		err := sizeErr
		if err == nil {
			x, err = ParseXID(info)
		}
		if err == nil {
			n, err = Apply(l.cfg.Params, x)
		}
		if err != nil {
			l.m.fail(fmt.Errorf("%w: negotiation: %w", ErrLinkFailure, err))
			return
		}
		l.agree(n, append(append([]byte(nil), l.offerInfo...), info...))
		if n.FCS == FCS32 {
			// Send FCS-32 from now on; accept FCS-16 until the peer's
			// first FCS-32 frame (it may still answer with FCS-16).
			l.enc.FCS = FCS32
			l.fcsMode.Store(fcsDual)
		}
		return
	}
	if l.xidWait == nil {
		return
	}
	var res xidResult
	var x XIDParams
	err := sizeErr
	if err == nil {
		x, err = ParseXID(info)
	}
	if err != nil {
		res.err = fmt.Errorf("lapm: XID response: %w", err)
	} else if p, _, ok := privatePayload(x); ok {
		res.payload = p
	} else {
		res.err = fmt.Errorf("%w: in the XID response", ErrXIDPayload)
	}
	l.xidWait <- res
	l.xidWait = nil
}

// Parameters of our private set PrivateSetID (group 0xF0, PI 0 names it).
const (
	piPayload  = 1 // a piece of the upper layer's payload, up to 255 octets
	piExchange = 2 // exchange number: set by the command, echoed by the response
)

// xidInfo builds an XID information field carrying payload in our private
// parameter set, tagged with exchange number seq.
func xidInfo(payload []byte, seq byte) []byte {
	set := PrivateSet{ID: PrivateSetID, Params: []Param{{PI: piExchange, Value: []byte{seq}}}}
	for len(payload) > 0 {
		n := min(len(payload), 255)
		set.Params = append(set.Params, Param{PI: piPayload, Value: payload[:n]})
		payload = payload[n:]
	}
	x := XIDParams{Private: []PrivateSet{set}}
	return x.Append(nil)
}

// privatePayload reassembles our private set's payload from x and returns
// its exchange number (0 when absent).
func privatePayload(x XIDParams) (payload []byte, seq byte, ok bool) {
	for _, s := range x.Private {
		if s.ID != PrivateSetID {
			continue
		}
		p := []byte{}
		for _, prm := range s.Params {
			switch {
			case prm.PI == piPayload:
				p = append(p, prm.Value...)
			case prm.PI == piExchange && len(prm.Value) == 1:
				seq = prm.Value[0]
			}
		}
		return p, seq, true
	}
	return nil, 0, false
}

// xidResponseMatches reports whether the XID response information field
// resp answers the command cmd: a parameter negotiation (no private set)
// is answered without our private set, and an upper-layer exchange by our
// private set with the same exchange number. The machine discards a
// response that does not match: the late duplicate answer to a
// retransmitted earlier command.
func xidResponseMatches(cmd, resp []byte) bool {
	cx, err := ParseXID(cmd)
	if err != nil {
		return true // not ours to judge; the upper layer sees the error
	}
	rx, err := ParseXID(resp)
	if err != nil {
		return true
	}
	_, cseq, cPrivate := privatePayload(cx)
	_, rseq, rPrivate := privatePayload(rx)
	return cPrivate == rPrivate && cseq == rseq
}

// ExchangeXID sends an XID command carrying payload in the private
// parameter set PrivateSetID, retransmits it per T401/N400 and returns the
// payload of the peer's XID response. Either role may call it; one exchange
// at a time. If both ends send at once, the originator's command wins and
// the answerer's is answered after its retransmission (see machine.go).
func (l *Link) ExchangeXID(ctx context.Context, payload []byte) ([]byte, error) {
	if n := len(xidInfo(payload, 0)); n > l.cfg.MaxXID {
		return nil, fmt.Errorf("lapm: XID payload of %d octets (%d with framing) exceeds MaxXID %d", len(payload), n, l.cfg.MaxXID)
	}
	var wch chan xidResult
	err := l.call(ctx, func(now time.Time) error {
		if l.xidWait != nil {
			return fmt.Errorf("%w: an XID exchange is already running", ErrState)
		}
		l.xidSeq++
		if err := l.m.sendXID(now, xidInfo(payload, l.xidSeq)); err != nil {
			return err
		}
		wch = make(chan xidResult, 1)
		l.xidWait = wch
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("lapm: exchange XID: %w", err)
	}
	select {
	case r := <-wch:
		if r.err != nil {
			return nil, fmt.Errorf("lapm: exchange XID: %w", r.err)
		}
		return r.payload, nil
	case <-ctx.Done():
		_ = l.do(func(time.Time) error {
			if l.xidWait == wch {
				l.xidWait = nil
				l.m.cancelXID()
			}
			return nil
		})
		return nil, fmt.Errorf("lapm: exchange XID: %w", ctx.Err())
	}
}

// AcceptXID waits for the peer's next XID command carrying the private set
// PrivateSetID and returns its payload; answer it with RespondXID. If the
// peer sends SABME instead (an ordinary V.42 modem), it returns
// ErrPeerEstablishing; the caller then calls Establish to accept the link
// or Close to refuse it. A command over MaxXID is returned as an error
// wrapping ErrXIDTooLong, and is to be answered as well.
func (l *Link) AcceptXID(ctx context.Context) ([]byte, error) {
	var wch chan xidResult
	var ready *xidResult
	err := l.call(ctx, func(now time.Time) error {
		switch {
		case l.pendingCmd != nil:
			ready = l.pendingCmd
			l.pendingCmd = nil
		case l.m.sabmeSeen:
			ready = &xidResult{err: ErrPeerEstablishing}
		case l.acceptWait != nil:
			return fmt.Errorf("%w: AcceptXID already waiting", ErrState)
		default:
			wch = make(chan xidResult, 1)
			l.acceptWait = wch
		}
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("lapm: accept XID: %w", err)
	}
	r := ready
	if r == nil {
		select {
		case res := <-wch:
			r = &res
		case <-ctx.Done():
			_ = l.do(func(time.Time) error {
				if l.acceptWait == wch {
					l.acceptWait = nil
				}
				return nil
			})
			return nil, fmt.Errorf("lapm: accept XID: %w", ctx.Err())
		}
	}
	if r.err != nil {
		if errors.Is(r.err, ErrPeerEstablishing) {
			return nil, r.err
		}
		return nil, fmt.Errorf("lapm: accept XID: %w", r.err)
	}
	return r.payload, nil
}

// RespondXID answers the command AcceptXID returned with payload in the
// private set PrivateSetID. A retransmitted command is answered again with
// the same response by the link itself.
func (l *Link) RespondXID(payload []byte) error {
	if n := len(xidInfo(payload, 0)); n > l.cfg.MaxXID {
		return fmt.Errorf("lapm: XID payload of %d octets (%d with framing) exceeds MaxXID %d", len(payload), n, l.cfg.MaxXID)
	}
	if err := l.do(func(time.Time) error { return l.m.respondXID(xidInfo(payload, l.cmdSeq)) }); err != nil {
		return fmt.Errorf("lapm: respond XID: %w", err)
	}
	return nil
}

// NegotiationTranscript returns the information field of the parameter
// negotiation XID command followed by that of the response, as sent on
// the line (empty if the peer skipped negotiation). Access Security binds
// it into its handshake so that the negotiation cannot be altered unseen.
func (l *Link) NegotiationTranscript() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.transcript...)
}

// Negotiated returns the parameters in force.
func (l *Link) Negotiated() Negotiated {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.neg
}
