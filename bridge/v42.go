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

// ErrAccessSecurityOff is returned by a V42Answerer when the caller
// offers Access Security on a listener with security = "off": a policy
// refusal (the caller is sent REJECT).
var ErrAccessSecurityOff = errors.New(`bridge: Access Security offered on a listener with security = "off"`)

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
	// ErrNoAccessSecurity. A failure after the caller named its user
	// (REJECT denied, for one) is a *HandshakeError carrying that name.
	Answer(ctx context.Context, line transport.Line, leftover []byte, call V42Call) (*V42Session, error)
}

// HandshakeError is what a V42Answerer returns when Access Security
// failed after the caller's RESPONSE decrypted (denied, throttled, or a
// failure after that): User is the user ID the caller claimed, for the
// call record and log. Err is the failure; it wraps ErrDenied or
// ErrThrottled where those apply. Use ClaimedUser to read it.
type HandshakeError struct {
	User string
	Err  error
}

func (e *HandshakeError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *HandshakeError) Unwrap() error { return e.Err }

// ClaimedUser returns the user ID a caller claimed in a V.42 handshake
// that failed with err, when the answerer learnt it (a HandshakeError in
// err's chain).
func ClaimedUser(err error) (string, bool) {
	var he *HandshakeError
	if errors.As(err, &he) && he.User != "" {
		return he.User, true
	}
	return "", false
}

// V42Call is what the answerer needs to know about the call.
type V42Call struct {
	Session  uint64
	Listener config.Listener
	Remote   string
	Verifier Verifier
	// Detected is true when the detection phase ran (and sent ADP): the
	// caller's first frame is then due within 2×T400 (Hayes S141).
	Detected bool
	// ScheduleCallback, when set, is called for an account with a
	// callback address, with the callback ticket (see V42Session.Ticket),
	// before Access Security's CONFIRM promises the callback: it
	// schedules it. Its error is answered with REJECT
	// callback-unavailable instead of CONFIRM, and Answer fails with an
	// error wrapping it.
	ScheduleCallback func(acct Account, ticket any) error
}

// V42Session is an established V.42 link.
type V42Session struct {
	// Link carries the session's octets (error-corrected, sealed when
	// Access Security ran). Close disconnects the link (DISC) and hangs
	// up the line. If it has a Breaks() <-chan struct{} method
	// (lapm.Link), the caller's breaks reach the backend as interrupts.
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
