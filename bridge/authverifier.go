package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"go.uber.org/zap"
)

// AuthVerifier is the Verifier over package auth: the users file, argon2id
// and throttling. SetUsers swaps the users (SIGHUP).
type AuthVerifier struct {
	v  *auth.Verifier
	th *auth.Throttle
}

var _ Verifier = (*AuthVerifier)(nil)

// NewAuthVerifier builds the verifier the configuration asks for over
// users. log (nil: none) gets the true reason of each denial (operator
// log) at the info level, ending "(session N)" for a login made in a call
// (withSession), with the fields user (an account's; none for a name that
// is no account), remote, reason and session.
func NewAuthVerifier(c *config.Config, users *auth.Users, log *zap.Logger) *AuthVerifier {
	th := auth.NewThrottle(auth.ThrottleConfig{
		BaseDelay:           c.Security.ThrottleBase.Duration,
		MaxDelay:            c.Security.ThrottleMax.Duration,
		MaxPendingPerSource: c.Security.MaxPendingPerSource,
	})
	v := auth.NewVerifier(users, auth.VerifierConfig{
		Argon2:        Argon2Params(c),
		MaxConcurrent: c.Security.MaxHashing,
		MaxQueue:      c.Security.HashQueue,
		LogDenial:     noteDenial(denialLogger(log)),
	}, th)
	return &AuthVerifier{v: v, th: th}
}

// Throttle is the verifier's throttle (for LAPMAnswerer's per-source
// handshake limit).
func (a *AuthVerifier) Throttle() *auth.Throttle { return a.th }

// Argon2Params are the configuration's argon2id costs.
func Argon2Params(c *config.Config) auth.Argon2Params {
	return auth.Argon2Params{Time: c.Security.Argon2Time, MemoryKiB: c.Security.Argon2MemoryKiB, Threads: c.Security.Argon2Threads}
}

// Auth is the underlying verifier (for the Access Security answerer).
func (a *AuthVerifier) Auth() *auth.Verifier { return a.v }

// SetThrottle applies c's [security] throttle_base, throttle_max and
// max_pending_per_source to the logins from now on (a reload). The
// hashing settings (argon2_*, max_hashing, hash_queue) stay as the
// verifier was built: they size its memory.
func (a *AuthVerifier) SetThrottle(c *config.Config) {
	a.th.SetLimits(c.Security.ThrottleBase.Duration, c.Security.ThrottleMax.Duration, c.Security.MaxPendingPerSource)
}

// SetUsers replaces the users for logins from now on.
func (a *AuthVerifier) SetUsers(u *auth.Users) { a.v.SetUsers(u) }

// Verify implements Verifier.
func (a *AuthVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	note := new(denialNote)
	u, err := a.v.Verify(context.WithValue(ctx, denialNoteKey{}, note), user, password, source)
	switch {
	case err == nil:
		return Account{Name: u.ID, Backend: u.Backend, Callback: u.Callback}, nil
	case errors.Is(err, auth.ErrDenied):
		return Account{}, &DenialError{Reason: note.reason}
	case errors.Is(err, auth.ErrBusy):
		return Account{}, fmt.Errorf("%w (%v)", ErrChecksBusy, err)
	}
	return Account{}, err
}

// DenialError is a denied login's error (it wraps ErrDenied), with the
// verifier's reason ("wrong password", "throttled for 29.9s", "account
// expired"), for the call record: the caller is told nothing but that it
// was denied, whatever the reason (operator trial: the record of a
// throttled or expired user read as a guesser's).
type DenialError struct{ Reason string }

func (e *DenialError) Error() string {
	if e.Reason == "" {
		return ErrDenied.Error()
	}
	return ErrDenied.Error() + ": " + e.Reason
}

// Unwrap returns ErrDenied.
func (e *DenialError) Unwrap() error { return ErrDenied }

// denialReason is the verifier's reason in err (a DenialError), or "".
func denialReason(err error) string {
	var d *DenialError
	if errors.As(err, &d) {
		return d.Reason
	}
	return ""
}

// denialNote is where AuthVerifier.Verify learns the reason of its
// denial: auth.Verifier tells it to LogDenial only, in the goroutine of
// the Verify call, with its ctx (noteDenial).
type denialNote struct{ reason string }

type denialNoteKey struct{}

// noteDenial records each denial's reason in the denialNote of its ctx,
// then hands it to next.
func noteDenial(next func(context.Context, auth.Denial)) func(context.Context, auth.Denial) {
	return func(ctx context.Context, d auth.Denial) {
		if n, ok := ctx.Value(denialNoteKey{}).(*denialNote); ok {
			n.reason = d.Reason
		}
		next(ctx, d)
	}
}

// loginCallKey is the context key of the call a login is made in
// (loginCall), for the verifier's log lines.
type loginCallKey struct{}

// loginCall names the call a login is made in.
type loginCall struct {
	session             uint64
	listener, transport string
}

// withCall returns ctx carrying the call a login is made in, for the
// verifier's log lines.
func withCall(ctx context.Context, c loginCall) context.Context {
	return context.WithValue(ctx, loginCallKey{}, c)
}

// denialLogger logs each denial to log with "(session N)" after the line
// made in a call (withCall), so that a denial can be found with its
// call record, and its parts as fields: user, remote, reason and, in a
// call, session, listener and transport, as the call's own lines have.
func denialLogger(log *zap.Logger) func(context.Context, auth.Denial) {
	if log == nil {
		return func(context.Context, auth.Denial) {}
	}
	return func(ctx context.Context, d auth.Denial) {
		msg := d.Line
		fields := make([]zap.Field, 0, 6)
		if d.User != "" {
			fields = append(fields, zap.String("user", d.User))
		}
		fields = append(fields, zap.String("remote", d.Source), zap.String("reason", d.Reason))
		if c, ok := ctx.Value(loginCallKey{}).(loginCall); ok {
			msg += fmt.Sprintf(" (session %d)", c.session)
			fields = append(fields, zap.Uint64("session", c.session), zap.String("listener", c.listener), zap.String("transport", c.transport))
		}
		log.Info(msg, fields...)
	}
}
