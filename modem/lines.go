package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// lineCall is a transport.Line used as a Call.
type lineCall struct {
	transport.Line
	info ConnectInfo
}

func (c lineCall) Info() ConnectInfo { return c.info }

// LineCall presents an established line as a Call with the given CONNECT
// description.
func LineCall(l transport.Line, info ConnectInfo) Call { return lineCall{Line: l, info: info} }

// AnswerPlain answers l as a plain call (no V.42): on a telnet line the
// modem offers to echo (WILL ECHO), as tcpser does for incoming calls, so
// that the caller's telnet client stops echoing locally what the DTE (a
// BBS, which echoes itself) echoes back (modem trial: every character
// typed showed twice).
func AnswerPlain(l transport.Line, info ConnectInfo) Call {
	inner := l
	if h, ok := l.(*heldLine); ok {
		inner = h.Line
	}
	if e, ok := inner.(interface{ SetServerEcho(bool) error }); ok {
		_ = e.SetServerEcho(true)
	}
	return LineCall(l, info)
}

// PlainDialer places plain calls: it dials the target's line URL (telnet://
// gives a telnet-modem line, so any telnet BBS answers) and connects without
// V.42, so the DTE sees CONNECT <rate> without /LAPM. Rate is the rate
// CONNECT reports; 0 reports the DTE rate. Targets that require V.42 are
// refused with NO CARRIER.
type PlainDialer struct {
	Rate int
	// TermType is the terminal type a telnet line announces when the
	// remote asks (RFC 1091); "" announces "UNKNOWN".
	TermType string
}

// AnnounceTerm makes a just-dialed telnet line announce name as its
// terminal type when the remote asks (a BBS picks ANSI or plain screens
// by it). Other lines, and name "", are left as they are.
func AnnounceTerm(l transport.Line, name string) {
	if t, ok := l.(interface{ SetTermType(string) error }); ok && name != "" {
		_ = t.SetTermType(name)
	}
}

// DialLine dials t's line. A telnet:// address dialed as host:port
// (Target.SniffTelnet) is telnet only if the host's first octet is IAC,
// as with tcpser (tcp.Options.Sniff).
func DialLine(ctx context.Context, t Target) (transport.Line, error) {
	if u, err := url.Parse(t.Address); err == nil && t.SniffTelnet && u.Scheme == "telnet" {
		l, err := tcp.Dial(ctx, u.Host, tcp.Options{Telnet: true, Sniff: true})
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return transport.Dial(ctx, t.Address)
}

// Dial implements Dialer.
func (d PlainDialer) Dial(ctx context.Context, t Target) (Call, error) {
	if t.Mode == ModeV42 {
		return nil, &DialError{Reason: ReasonNoCarrier, Explain: "this entry requires V.42, which this dialer cannot do"}
	}
	l, err := DialLine(ctx, t)
	if err != nil {
		if errors.Is(err, transport.ErrUnknownScheme) || errors.Is(err, transport.ErrBadAddress) {
			return nil, &DialError{Reason: ReasonError, Explain: "cannot dial that address", Err: err}
		}
		r, explain := Classify(err)
		return nil, &DialError{Reason: r, Explain: explain, Err: err}
	}
	AnnounceTerm(l, d.TermType)
	return LineCall(l, ConnectInfo{Rate: d.Rate}), nil
}

// ErrCallerGone is returned (wrapped) by Answer when the caller hung up
// while the call was ringing.
var ErrCallerGone = errors.New("modem: the caller hung up while ringing")

// maxRingHeld bounds what a ringing caller may send before the answer
// (a gateway's detection pattern or text prompt is far smaller). Beyond
// it the modem stops reading, and so stops noticing a hang-up, until the
// call is answered or refused.
const maxRingHeld = 64 << 10

// LineAnswerer delivers calls that arrive on a transport.Listener (the
// auto-answer address the gateway calls back on).
//
// While a call rings, a line with read deadlines (transport.Deadliner:
// telnet:// and tcp:// lines) is read, so a caller that hangs up stops the
// ringing (Incoming.Gone). What the caller sent meanwhile (V.42 detection
// characters, a text prompt) is kept and read first after the answer. A
// line without read deadlines is not read before the answer; its hang-up
// is noticed only then.
type LineAnswerer struct {
	Listener transport.Listener
	// Verify answers the line: for a V.42 callback it runs detection, LAPM
	// and the CALLBACK/ACCEPT exchange against the pending ticket and fails
	// for any other call. nil answers plainly (a text-mode callback, where
	// the gateway asks the user to confirm). The line it gets reads first
	// what the caller sent while ringing, and has read deadlines when the
	// accepted line has.
	Verify func(ctx context.Context, l transport.Line) (Call, error)
	// Rate is what CONNECT reports for a plain answer; 0 means the DTE rate.
	Rate int
}

// Accept implements Answerer.
func (a *LineAnswerer) Accept(ctx context.Context) (Incoming, error) {
	l, err := a.Listener.Accept(ctx)
	if err != nil {
		return nil, fmt.Errorf("modem: answer: %w", err)
	}
	in := &lineIncoming{a: a, line: l}
	if dl, ok := l.(transport.Deadliner); ok {
		in.dl = dl
		in.gone = make(chan struct{})
		in.ended = make(chan struct{})
		go in.watch()
	}
	return in, nil
}

// Close implements Answerer.
func (a *LineAnswerer) Close() error { return a.Listener.Close() }

// lineIncoming is a ringing line. Its watcher goroutine (lines with
// deadlines only) reads until the caller hangs up, the held octets reach
// maxRingHeld, or stopWatch wakes it with a past read deadline.
type lineIncoming struct {
	a    *LineAnswerer
	line transport.Line
	dl   transport.Deadliner // nil: not watched
	once sync.Once

	gone  chan struct{} // closed when the caller hung up while ringing
	ended chan struct{} // closed when the watcher returned

	mu       sync.Mutex
	stopping bool
	held     []byte
	err      error // the read error that ended the watch (not the wake-up)
}

func (in *lineIncoming) Peer() string { return in.line.Info().RemoteAddr }

func (in *lineIncoming) Gone() <-chan struct{} { return in.gone }

func (in *lineIncoming) watch() {
	defer close(in.ended)
	buf := make([]byte, 1024)
	for {
		n, err := in.line.Read(buf)
		in.mu.Lock()
		in.held = append(in.held, buf[:n]...)
		full := len(in.held) >= maxRingHeld
		if err != nil && !(in.stopping && isTimeout(err)) {
			in.err = err
		}
		gone := in.err != nil && !in.stopping
		in.mu.Unlock()
		if gone {
			close(in.gone)
		}
		if err != nil || full {
			return
		}
	}
}

// stopWatch ends the watcher and returns the error that ended it, if the
// caller hung up (or the line failed) while ringing.
func (in *lineIncoming) stopWatch() error {
	if in.dl == nil {
		return nil
	}
	in.mu.Lock()
	in.stopping = true
	in.mu.Unlock()
	_ = in.dl.SetReadDeadline(time.Unix(1, 0)) // wake the watcher's Read
	<-in.ended
	_ = in.dl.SetReadDeadline(time.Time{})
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

func (in *lineIncoming) Answer(ctx context.Context) (Call, error) {
	if err := in.stopWatch(); err != nil {
		in.Refuse()
		return nil, &DialError{Reason: ReasonNoCarrier, Explain: "the caller hung up", Err: fmt.Errorf("%w: %w", ErrCallerGone, err)}
	}
	line := in.line
	if len(in.held) > 0 {
		line = &heldLine{Line: in.line, dl: in.dl, held: in.held}
	}
	if in.a.Verify == nil {
		return AnswerPlain(line, ConnectInfo{Rate: in.a.Rate}), nil
	}
	// Until Verify has answered, the caller may send what a set-up
	// takes (a V.42 callback's detection, LAPM and CALLBACK token), as
	// the gateway bounds the party that answers its callback: garbage at
	// network speed otherwise kept the modem reading it until Verify's
	// timeout.
	b, _ := in.line.(transport.ReadBudgeter)
	if b != nil {
		b.SetReadBudget(verifyReadBudget)
	}
	c, err := in.a.Verify(ctx, line)
	if err != nil {
		in.Refuse()
		return nil, err
	}
	if b != nil {
		b.SetReadBudget(-1) // answered: the call's octets
	}
	return c, nil
}

// verifyReadBudget bounds what a caller sends while Verify answers it
// (lines that count it: transport.ReadBudgeter).
const verifyReadBudget = 1 << 20

func (in *lineIncoming) Refuse() {
	in.once.Do(func() { _ = in.line.Close() })
}

// RefuseBusy tells the caller BUSY, as tcpser's busy message and
// Zimodem's do, and hangs up (modem trial: a second caller heard nothing
// before the line closed).
func (in *lineIncoming) RefuseBusy() {
	in.once.Do(func() {
		if in.dl != nil {
			_ = in.dl.SetWriteDeadline(time.Now().Add(time.Second))
		}
		_, _ = io.WriteString(in.line, "\r\nBUSY\r\n")
		_ = in.line.Close()
	})
}

// heldLine reads the octets held while ringing before the line's own.
type heldLine struct {
	transport.Line
	dl   transport.Deadliner
	mu   sync.Mutex
	held []byte
}

func (h *heldLine) Read(p []byte) (int, error) {
	h.mu.Lock()
	if len(h.held) > 0 {
		n := copy(p, h.held)
		h.held = h.held[n:]
		h.mu.Unlock()
		return n, nil
	}
	h.mu.Unlock()
	return h.Line.Read(p)
}

// SetReadDeadline and SetWriteDeadline keep the line's deadlines
// available (V.42 detection needs them).
func (h *heldLine) SetReadDeadline(t time.Time) error  { return h.dl.SetReadDeadline(t) }
func (h *heldLine) SetWriteDeadline(t time.Time) error { return h.dl.SetWriteDeadline(t) }

var _ transport.Deadliner = (*heldLine)(nil)

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

var _ io.ReadWriteCloser = (*heldLine)(nil)
