package modem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Call is an established call: octets both ways, Close hangs up.
type Call interface {
	io.ReadWriteCloser
	// Info says how CONNECT describes the call.
	Info() ConnectInfo
}

// Dialer places calls for ATD. How (plain telnet-modem, or V.42 detection,
// LAPM and Access Security) is its business. Dial must return promptly when
// ctx ends (the DTE pressed a key, S7 expired, the modem shuts down); a
// failure should be a *DialError so the DTE sees the right result code.
type Dialer interface {
	Dial(ctx context.Context, t Target) (Call, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, t Target) (Call, error)

// Dial implements Dialer.
func (f DialerFunc) Dial(ctx context.Context, t Target) (Call, error) { return f(ctx, t) }

// Incoming is a call ringing the modem.
type Incoming interface {
	// Peer describes the caller for the log (an address, never a secret).
	Peer() string
	// Answer picks up: for a gateway callback it verifies the CALLBACK
	// token against the pending ticket and fails if the call is not the
	// expected one (the modem then reports NO CARRIER and the call is
	// dropped). It must return promptly when ctx ends.
	Answer(ctx context.Context) (Call, error)
	// Refuse hangs up without answering. It is idempotent.
	Refuse()
	// Gone is closed when the caller hangs up while the call is still
	// ringing (before Answer or Refuse); the modem then stops ringing. An
	// Incoming that cannot tell returns nil (a nil channel never fires).
	Gone() <-chan struct{}
}

// Answerer delivers incoming calls. Accept returns an error wrapping
// net.ErrClosed once Close was called, or ctx's error once ctx ended; the
// modem then stops answering. After any other error (out of descriptors)
// it calls Accept again, with a back-off.
type Answerer interface {
	Accept(ctx context.Context) (Incoming, error)
	Close() error
}

// Logger is the narrow logger the modem writes to; *log.Logger satisfies
// it. Nothing the package logs holds a password.
type Logger interface {
	Printf(format string, args ...any)
}

// DialError is a failed dial or answer with the result code it maps to.
type DialError struct {
	Reason  Reason
	Explain string // one line for the DTE at X4; no secrets
	Err     error  // the cause, for the log
}

func (e *DialError) Error() string {
	s := "modem: " + e.Reason.String()
	if e.Explain != "" {
		s += ": " + e.Explain
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DialError) Unwrap() error { return e.Err }

// dialFailure is a failed dial's error as the log line "call failed
// (reason): ..." goes on: a *DialError's explanation and cause without
// the "modem: reason" that line already has, and without the explanation
// twice where the cause begins with it (ErrUnknownNumber's own words).
func dialFailure(err error) string {
	de, ok := err.(*DialError)
	if !ok {
		return err.Error()
	}
	cause := ""
	if de.Err != nil {
		cause = strings.TrimPrefix(de.Err.Error(), "modem: ")
	}
	switch {
	case cause == "":
		return cmp.Or(de.Explain, "call failed")
	case de.Explain == "", strings.HasPrefix(cause, de.Explain):
		return cause
	}
	return de.Explain + ": " + cause
}

// Classify maps a dial or answer error to a reason and a one-line
// explanation: a *DialError speaks for itself; network errors map as a
// telephone user would expect (refused or timed out: NO ANSWER; no route or
// unknown host name: NO DIALTONE); anything else is NO CARRIER.
func Classify(err error) (Reason, string) {
	var de *DialError
	switch {
	case err == nil:
		return ReasonNoCarrier, ""
	case errors.As(err, &de):
		return de.Reason, de.Explain
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonNoAnswer, "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonNoAnswer, "nobody answers at that address (connection refused)"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ReasonNoDialtone, "no route to that address"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return ReasonNoDialtone, fmt.Sprintf("host name %q does not resolve", dns.Name)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonNoAnswer, "no answer in time"
	}
	return ReasonNoCarrier, "call failed"
}
