package lapm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Detection phase (V.42 §7.2.1): before LAPM starts, the two modems talk in
// start-stop characters. The originator sends the originator detection
// pattern (ODP): DC1 with even parity, DC1 with odd parity, repeated. An
// answerer that has seen at least four DC1s of alternating parity replies
// with at least ten answerer detection patterns (ADP): "E" then "C" when it
// supports LAPM, "E" then NUL when it does not. The originator decides
// after two adjacent ADPs. Either side may take flags as the peer having
// started LAPM already. T400 bounds the wait; on expiry both fall back to
// the non-error-correcting mode (dialgate's text path).
//
// On dialgate's octet lines one character is one octet; parity sits in the
// top bit and is compared only where it matters (the DC1 alternation).

// DetectResult is the outcome of the detection phase.
type DetectResult int

// Detection outcomes; 0 means undecided.
const (
	DetectLAPM    DetectResult = iota + 1 // both ends go on to LAPM
	DetectNoV42                           // the peer has no V.42: fall back to the start-stop mode
	DetectTimeout                         // T400 expired: fall back to the start-stop mode
)

func (r DetectResult) String() string {
	switch r {
	case 0:
		return "undecided"
	case DetectLAPM:
		return "LAPM"
	case DetectNoV42:
		return "no V.42"
	case DetectTimeout:
		return "timeout"
	}
	return fmt.Sprintf("DetectResult(%d)", int(r))
}

// T400 is the detection-phase timer (V.42 §7.2.1, §9.1).
// Vendors use 750-850 ms.
const T400 = 750 * time.Millisecond

// Detection characters.
const (
	dc1Even = 0x11 // DC1, even parity
	dc1Odd  = 0x91 // DC1, odd parity
	adpE    = 'E'
	adpC    = 'C'
	adpNUL  = 0x00
)

const (
	// odpPairs is how many ODPs the originator sends when it starts.
	// V.42 §7.2.1 has the originator send ODP continuously until it sees
	// ADP or T400 ends; on an octet line a burst at the start and
	// odpRepeatPairs more every odpRepeat stand for that, so that an
	// answerer that starts listening late, or a line that lost the first
	// burst, still sees one, without flooding a text host with DC1s.
	odpPairs       = 8
	odpRepeatPairs = 2
	odpRepeat      = 100 * time.Millisecond
	// adpCount is how many ADPs the answerer sends (V.42: at least 10).
	adpCount = 10
	// dc1Needed is how many DC1s of alternating parity identify an ODP.
	dc1Needed = 4
	// maxHeld bounds the characters a Detector keeps for the next phase;
	// a peer that sends more without a pattern has no V.42.
	maxHeld = 4096
)

// Detector is the pure detection-phase state machine for one end. It does
// no I/O and reads no clock: callers pass the current time and send what
// it returns. Call Start once, then Receive for each batch of received
// octets and Timeout when the deadline passes. After a decision every call
// returns the same result and consumes nothing.
type Detector struct {
	role     Role
	deadline time.Time // T400
	nextODP  time.Time // originator: when to repeat the ODP
	res      DetectResult
	held     []byte

	afterFlag bool // the last octet was a flag

	// answerer: alternating DC1s seen
	dc1Run    int
	dc1Parity byte
	afterDC1  bool // the last octet other than a flag was a DC1

	// originator: ADP recognition
	afterE      bool // the last octet was E (parity masked)
	adpComplete bool // an ADP has been seen
	adpLast     byte // second character of the last ADP
	adpRun      int  // adjacent ADPs with the same second character
	heldAtADP   int  // len(held) just after the last ADP
}

// NewDetector returns the detector of a station in role r.
func NewDetector(r Role) *Detector { return &Detector{role: r} }

// Start begins detection at now: it returns the octets to send (the ODP
// burst for the originator, nothing for the answerer) and the deadline
// for the next Timeout call (T400, or for the originator the next ODP
// repetition).
func (d *Detector) Start(now time.Time) (send []byte, deadline time.Time) {
	d.deadline = now.Add(T400)
	if d.role == Originator {
		send = appendODP(send, odpPairs)
		d.nextODP = now.Add(odpRepeat)
	}
	return send, d.next()
}

// next is the deadline for the next Timeout call.
func (d *Detector) next() time.Time {
	if d.role == Originator && d.nextODP.Before(d.deadline) {
		return d.nextODP
	}
	return d.deadline
}

func appendODP(dst []byte, pairs int) []byte {
	for range pairs {
		dst = append(dst, dc1Even, dc1Odd)
	}
	return dst
}

// Held returns the octets received before the decision that belong to the
// next phase, in front of in[consumed:] of the deciding Receive: after
// DetectNoV42 or DetectTimeout, everything the peer sent that was not a
// detection pattern (a text caller's typing, a host's banner); after
// DetectLAPM, at most the flag that opened the peer's first frame.
func (d *Detector) Held() []byte { return d.held }

// Receive processes octets from the peer. It returns octets to send (the
// answerer's ADPs), the decision (0 while undecided) and how many octets of
// in detection used: in[consumed:] belongs to the next phase (the first
// LAPM flags, or text after a decision for the start-stop mode). While
// undecided, consumed is len(in).
func (d *Detector) Receive(now time.Time, in []byte) (send []byte, res DetectResult, consumed int) {
	if d.res != 0 {
		return nil, d.res, 0
	}
	for i, c := range in {
		if d.afterFlag && (c == flag || c == AddrCR0 || c == AddrCR1) {
			// A flag followed by another flag or by an address octet
			// (the encoder aligns the opening flag, so the address
			// follows unchanged): the peer skipped detection and
			// started LAPM. The flag and everything after it go to the
			// deframer.
			d.decide(DetectLAPM)
			d.held = []byte{flag}
			return nil, DetectLAPM, i
		}
		d.afterFlag = c == flag
		if c == flag {
			// Alone, '~' could be typed text: wait for the next octet.
			if d.hold(c) {
				return nil, d.res, i + 1
			}
			continue
		}
		if d.role == Answerer {
			if c&0x7F != dc1Even {
				if !d.afterDC1 && (len(d.held) > 0 || !nearDC1(c)) {
					// Not a detection pattern: a start-stop caller.
					return nil, d.decide(DetectNoV42), i
				}
				// One octet amid DC1s, or a first octet one bit from
				// DC1 that no one types first (nearDC1): an ODP
				// damaged on the line (or XON before text, which the
				// next octet tells).
				// The ODP goes on; the run starts again after it.
				d.afterDC1, d.dc1Run = false, 0
				if d.hold(c) {
					return nil, d.res, i + 1
				}
				continue
			}
			d.afterDC1 = true
			p := c & 0x80
			if d.dc1Run > 0 && p != d.dc1Parity {
				d.dc1Run++
			} else {
				d.dc1Run = 1
			}
			d.dc1Parity = p
			if d.dc1Run >= dc1Needed {
				// Swallow the rest of the ODP burst in this batch too.
				j := i + 1
				for j < len(in) && in[j]&0x7F == dc1Even {
					j++
				}
				for range adpCount {
					send = append(send, adpE, adpC)
				}
				return send, d.decide(DetectLAPM), j
			}
			if d.hold(c) {
				return nil, d.res, i + 1
			}
			continue
		}
		// Originator: look for two adjacent ADPs. Every octet is held:
		// "EC" may occur in a banner ("CONNECT") without being an ADP.
		m := c & 0x7F
		if d.hold(c) {
			return nil, d.res, i + 1
		}
		if !d.afterE || (m != adpC && m != adpNUL) {
			d.afterE = m == adpE
			continue
		}
		d.afterE = false
		if d.adpComplete && d.heldAtADP == len(d.held)-2 && d.adpLast == m {
			d.adpRun++
		} else {
			d.adpRun = 1
		}
		d.adpComplete, d.adpLast, d.heldAtADP = true, m, len(d.held)
		if d.adpRun < 2 {
			continue
		}
		if m == adpC {
			return nil, d.decide(DetectLAPM), i + 1
		}
		// No V.42: drop the two ADPs and the rest of the burst in this
		// batch, keep everything before them for the text phase.
		d.held = d.held[:len(d.held)-4]
		j := i + 1
		for j < len(in) && in[j]&0x7F == [2]byte{adpE, adpNUL}[(j-i-1)%2] {
			j++
		}
		return nil, d.decide(DetectNoV42), j
	}
	return nil, 0, len(in)
}

// nearDC1 reports whether c is a DC1 (either parity) with one bit of its
// low seven flipped into a control character: 0x01, 0x10, 0x13, 0x15,
// 0x19 with either parity bit. Flips that make printable text ('1',
// 'Q') are a text caller's first key as often as not.
func nearDC1(c byte) bool {
	switch c & 0x7F {
	case 0x01, 0x10, 0x13, 0x15, 0x19:
		return true
	}
	return false
}

// hold keeps c for the next phase. Too much text without a pattern means
// the peer has no V.42; hold reports that decision.
func (d *Detector) hold(c byte) (decided bool) {
	d.held = append(d.held, c)
	if len(d.held) >= maxHeld {
		d.decide(DetectNoV42)
		return true
	}
	return false
}

func (d *Detector) decide(r DetectResult) DetectResult {
	d.res = r
	if r == DetectLAPM {
		d.held = nil
	}
	return r
}

// Timeout handles the deadline: at or after T400 it decides DetectTimeout;
// earlier it returns the next deadline, and for the originator, when an
// ODP repetition is due, the ODPs to send.
func (d *Detector) Timeout(now time.Time) (send []byte, res DetectResult, deadline time.Time) {
	if d.res != 0 {
		return nil, d.res, time.Time{}
	}
	if !now.Before(d.deadline) {
		return nil, d.decide(DetectTimeout), time.Time{}
	}
	if d.role == Originator && !now.Before(d.nextODP) {
		send = appendODP(nil, odpRepeatPairs)
		d.nextODP = now.Add(odpRepeat)
	}
	return send, 0, d.next()
}

// ErrNoDeadline is returned by Detect for a line without read deadlines.
var ErrNoDeadline = errors.New("lapm: detection needs a line with read deadlines (SetReadDeadline)")

// readDeadliner is the ability Detect needs from the line (net.Conn,
// transport.Deadliner).
type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// Detect runs the detection phase for role r over line, with real time.
// It returns the decision and leftover: the octets read after the decision
// point that the next phase must see first (the first LAPM flags, or a
// text caller's typing and a host's banner for the start-stop fallback).
// The line must implement SetReadDeadline (every dialgate line does);
// Detect uses it for T400 and for ctx, and clears it before returning, so
// no read is left pending and no octet is lost. Errors from the line are
// wrapped; ctx ending returns ctx.Err() wrapped.
//
// When the line fails or ends (io.EOF) before a decision, or ctx ends,
// res is 0 and leftover holds everything read so far (at most 4096
// octets): a gateway that says BUSY and hangs up instead of answering
// the ODP shows as (0, "BUSY\r\n", an error wrapping io.EOF).
func Detect(ctx context.Context, line io.ReadWriter, r Role) (res DetectResult, leftover []byte, err error) {
	dl, ok := line.(readDeadliner)
	if !ok {
		return 0, nil, ErrNoDeadline
	}
	d := NewDetector(r)
	send, deadline := d.Start(time.Now())
	if err := writeAll(line, send); err != nil {
		return 0, nil, err
	}

	var mu sync.Mutex
	finished := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			_ = dl.SetReadDeadline(time.Unix(1, 0)) // wake the Read below
		}
	})
	defer func() {
		mu.Lock()
		finished = true
		mu.Unlock()
		stop()
		_ = dl.SetReadDeadline(time.Time{})
	}()

	// fail ends detection undecided, with what the peer said so far
	// (while undecided the detector holds every octet it received).
	fail := func(err error) (DetectResult, []byte, error) {
		return 0, append([]byte(nil), d.Held()...), err
	}
	buf := make([]byte, 512)
	for {
		if err := dl.SetReadDeadline(deadline); err != nil {
			return fail(fmt.Errorf("lapm: detection: %w", err))
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("lapm: detection: %w", err))
		}
		n, rerr := line.Read(buf)
		if n > 0 {
			send, res, consumed := d.Receive(time.Now(), buf[:n])
			if err := writeAll(line, send); err != nil {
				return fail(err)
			}
			if res != 0 {
				return res, append(append([]byte(nil), d.Held()...), buf[consumed:n]...), nil
			}
		}
		if rerr == nil {
			continue
		}
		if !isTimeout(rerr) {
			return fail(fmt.Errorf("lapm: detection: %w", rerr))
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("lapm: detection: %w", err))
		}
		send, res, next := d.Timeout(time.Now())
		if err := writeAll(line, send); err != nil {
			return fail(err)
		}
		if res != 0 {
			return res, append([]byte(nil), d.Held()...), nil
		}
		deadline = next
	}
}

func writeAll(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := w.Write(p); err != nil {
		return fmt.Errorf("lapm: detection: %w", err)
	}
	return nil
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
