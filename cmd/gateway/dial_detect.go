package main

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// busyError is the gateway's BUSY with the reason it gave before it (""
// for a bare BUSY). It wraps errBusy.
type busyError struct{ why string }

func (e *busyError) Error() string {
	if e.why == "" {
		return "busy: the gateway answered BUSY and hung up"
	}
	return "busy: the gateway answered BUSY and hung up (" + e.why + ")"
}

func (e *busyError) Unwrap() error { return errBusy }

// busyReason is the reason a gateway gave with its BUSY, if err is a
// busyError with one; else "".
func busyReason(err error) string {
	if be := (*busyError)(nil); errors.As(err, &be) {
		return be.why
	}
	return ""
}

// refusedError is a gateway's "NO CARRIER (why)", read where detection
// waited for its answer: it refused the call before any V.42 (a TLS-only
// line called in the clear, a line with neither V.42 nor a text login for
// this caller, a PROXY header it does not take, shutdown). It wraps what
// those words mean for the exit status (textOutcome's errDenied,
// errProtocol or errHungUp), else errNoCarrier.
type refusedError struct {
	words string // NO CARRIER (...), printable ASCII
	class error
}

func (e *refusedError) Error() string {
	msg := "the gateway hung up before V.42: " + e.words
	if strings.Contains(e.words, "speaks TLS only") {
		msg += "; " + tlsSchemeHint
	}
	return msg
}

func (e *refusedError) Unwrap() error { return e.class }

// tlsSchemeHint says how to call a TLS-only line that was called in the
// clear.
const tlsSchemeHint = "call it as telnets://host:port (or tls:// for a tcp:// line)"

// maxRefusal bounds the words of a refusal dial repeats.
const maxRefusal = 200

// gatewayRefusal reads a gateway's refusal from what detection read
// before the line closed: the last line, "NO CARRIER (...)", printable
// ASCII (it goes to the user's terminal), and nothing after it.
func gatewayRefusal(read []byte) (*refusedError, bool) {
	t := bytes.TrimRight(read, "\r\n")
	i := bytes.LastIndex(t, []byte("NO CARRIER ("))
	if i < 0 || (i > 0 && t[i-1] != '\n') || len(t)-i > maxRefusal || t[len(t)-1] != ')' {
		return nil, false
	}
	words := t[i:]
	for _, c := range words {
		if c < ' ' || c > '~' {
			return nil, false
		}
	}
	class := textOutcome(nil, t[i:])
	if class == nil {
		class = errNoCarrier
	}
	return &refusedError{words: string(words), class: class}, true
}

// detectV42 runs V.42 detection (ITU-T V.42 clause 8.2) in role on line.
// A gateway with no free line (or holding off a caller that called again
// too soon) says why and BUSY and hangs up before any detection pattern:
// when lapm.Detect fails and what it read was that (busyline.Parse), the
// error is a busyError; one that refuses the call says "NO CARRIER
// (why)" and hangs up (a refusedError). Other failures are lapm.Detect's.
func detectV42(ctx context.Context, line transport.Line, role lapm.Role) (lapm.DetectResult, []byte, error) {
	res, leftover, err := lapm.Detect(ctx, line, role)
	if err != nil {
		if why, ok := busyline.Parse(leftover); ok {
			return 0, nil, &busyError{why: why}
		}
		if r, ok := gatewayRefusal(leftover); ok {
			return 0, nil, r
		}
	}
	return res, leftover, err
}
