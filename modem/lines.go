package modem

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dialgate/dialgate/transport"
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

// PlainDialer places plain calls: it dials the target's line URL (telnet://
// gives a telnet-modem line, so any telnet BBS answers) and connects without
// V.42, so the DTE sees CONNECT <rate> without /LAPM. Rate is the rate
// CONNECT reports; 0 reports the DTE rate. Targets that require V.42 are
// refused with NO CARRIER.
type PlainDialer struct {
	Rate int
}

// Dial implements Dialer.
func (d PlainDialer) Dial(ctx context.Context, t Target) (Call, error) {
	if t.Mode == ModeV42 {
		return nil, &DialError{Reason: ReasonNoCarrier, Explain: "this entry requires V.42, which this dialer cannot do"}
	}
	l, err := transport.Dial(ctx, t.Address)
	if err != nil {
		if errors.Is(err, transport.ErrUnknownScheme) || errors.Is(err, transport.ErrBadAddress) {
			return nil, &DialError{Reason: ReasonError, Explain: "cannot dial that address", Err: err}
		}
		r, explain := Classify(err)
		return nil, &DialError{Reason: r, Explain: explain, Err: err}
	}
	return LineCall(l, ConnectInfo{Rate: d.Rate}), nil
}

// LineAnswerer delivers calls that arrive on a transport.Listener (the
// auto-answer address the gateway calls back on).
type LineAnswerer struct {
	Listener transport.Listener
	// Verify answers the line: for a V.42 callback it runs detection, LAPM
	// and the CALLBACK/ACCEPT exchange against the pending ticket and fails
	// for any other call. nil answers plainly (a text-mode callback, where
	// the gateway asks the user to confirm).
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
	return &lineIncoming{a: a, line: l}, nil
}

// Close implements Answerer.
func (a *LineAnswerer) Close() error { return a.Listener.Close() }

type lineIncoming struct {
	a    *LineAnswerer
	line transport.Line
	once sync.Once
}

func (in *lineIncoming) Peer() string { return in.line.Info().RemoteAddr }

func (in *lineIncoming) Answer(ctx context.Context) (Call, error) {
	if in.a.Verify == nil {
		return LineCall(in.line, ConnectInfo{Rate: in.a.Rate}), nil
	}
	c, err := in.a.Verify(ctx, in.line)
	if err != nil {
		in.Refuse()
		return nil, err
	}
	return c, nil
}

func (in *lineIncoming) Refuse() {
	in.once.Do(func() { _ = in.line.Close() })
}
