package bridge

import (
	"context"
	"errors"
	"io"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
)

// ErrNoAccessSecurity is wrapped by a V42Answerer when the caller is a
// V.42 modem that offers no Access Security.
var ErrNoAccessSecurity = errors.New("bridge: V.42 caller without Access Security")

// V42Answerer is the V.42 half of the call flow (packages lapm and auth),
// plugged into the Server so that the call flow can be tested without it.
type V42Answerer interface {
	// Detect runs the answerer's V.42 detection phase (ITU-T V.42
	// clause 8) on line: isV42 is true when the caller sent the
	// originator detection pattern or started LAPM. leftover holds
	// octets read past the detection, which belong to what follows
	// (LAPM frames, or the first keystrokes of a text caller).
	Detect(ctx context.Context, line transport.Line) (isV42 bool, leftover []byte, err error)
	// Answer brings up LAPM on line (leftover first) and runs the Access
	// Security answerer per the listener's security mode. With Access
	// Security the session's Account is set; without it (mode optional
	// or off, a plain V.42 modem) Account is nil and the call flow runs
	// the text login over the link. In mode required a caller without
	// Access Security gets a clean disconnect and an error wrapping
	// ErrNoAccessSecurity.
	Answer(ctx context.Context, line transport.Line, leftover []byte, call V42Call) (*V42Session, error)
}

// V42Call is what the answerer needs to know about the call.
type V42Call struct {
	Session  uint64
	Listener config.Listener
	Remote   string
	Verifier Verifier
}

// V42Session is an established V.42 link.
type V42Session struct {
	// Link carries the session's octets (error-corrected, sealed when
	// Access Security ran). Close disconnects the link (DISC) and hangs
	// up the line.
	Link io.ReadWriteCloser
	// Account is the user Access Security authenticated; nil without
	// Access Security.
	Account *Account
	// Ticket is the callback ticket when the account has a callback
	// address (see CallbackRequest).
	Ticket any
	// Stats reports the link's counters for the call record.
	Stats func() *store.LAPMStats
}
