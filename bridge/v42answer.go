package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"go.uber.org/zap"
)

// LAPMAnswerer is the V42Answerer over packages lapm and auth: detection
// (V.42 clause 7.2), LAPM (V.42 clause 8) and the Access Security answerer
// carried in XID frames (docs/access-security.md).
type LAPMAnswerer struct {
	// HostKey is the gateway's static key (auth.LoadOrCreateHostKey).
	HostKey auth.HostKey
	// Name is the gateway name sent in CHALLENGE.
	Name string
	// Params, if not zero, are the LAPM parameters offered on every
	// listener; zero: each listener's own offer (config.Listener.LAPM:
	// lapm_n401, lapm_k, lapm_fcs32, lapm_srej and their defaults).
	Params lapm.LinkParams
	// Throttle, if set, bounds the handshakes in progress per source.
	Throttle *auth.Throttle
	// Deadline bounds the Access Security handshake (0: auth's default).
	Deadline time.Duration
	// CallbackTTL is the life of a callback ticket (0: auth's default).
	CallbackTTL time.Duration
	// Rand and Now are passed to auth (nil: crypto/rand, time.Now).
	Rand io.Reader
	Now  func() time.Time
	// Logger receives the link's protocol lines at the debug level, with
	// the call's session, listener and remote address as fields; nil:
	// silent.
	Logger *zap.Logger
}

var _ V42Answerer = (*LAPMAnswerer)(nil)

// Detect implements V42Answerer with lapm.Detect (T400 750 ms).
func (a *LAPMAnswerer) Detect(ctx context.Context, line transport.Line) (bool, []byte, error) {
	res, left, err := lapm.Detect(ctx, line, lapm.Answerer)
	if err != nil {
		return false, nil, err
	}
	return res == lapm.DetectLAPM, left, nil
}

// Answer implements V42Answerer. The call flow runs it on a goroutine
// that ends with the handshake (onOwnStack), so the stack the handshake
// grows is not kept for the session.
func (a *LAPMAnswerer) Answer(ctx context.Context, line transport.Line, leftover []byte, call V42Call) (*V42Session, error) {
	params := a.Params
	if params == (lapm.LinkParams{}) {
		params = LinkParams(call.Listener)
	}
	var flagWait time.Duration
	if call.Detected {
		flagWait = lapm.FlagWaitAfterADP // a caller that detected LAPM and then sends no frame is not waited for past 2×T400
	}
	var logger lapm.Logger
	if a.Logger != nil {
		// Under attack, lines from many links interleave: each names
		// its call.
		logger = LinkLogger(a.Logger.With(zap.String("listener", call.Listener.Name)), call.Session, call.Remote)
	}
	link, err := lapm.Open(ctx, line, leftover, lapm.Config{
		Role: lapm.Answerer, Params: params, LineRate: call.Listener.LineRate, Logger: logger, Now: a.Now, FlagWait: flagWait,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: LAPM: %w", err)
	}
	// After detection the caller's first frame follows its answers to the
	// line's opening negotiation (which came before our ADP): one still
	// missing now was lost on the way, and BINARY must be agreed for the
	// bit stream to pass (tcp.Line.ReassertBinary). Without detection the
	// caller may have sent its first frame before it read the opening.
	// On a paced listener the telnet line is under the pace (lineAs).
	if b, ok := lineAs[interface{ ReassertBinary() (bool, error) }](line); ok && call.Detected {
		_, _ = b.ReassertBinary()
	}
	sess := &V42Session{Link: link, Stats: func() *store.LAPMStats { return LAPMStatsOf(link.Stats(), 0) }}
	tokens := tokenConn{link}
	first, err := tokens.AcceptXID(ctx)
	if errors.Is(err, auth.ErrMalformed) {
		// An INITIATE over the link's limit: the caller hears REJECT
		// protocol-error at once, not silence until it gives up.
		_ = auth.RejectInitiate(link, auth.ReasonProtocolError)
		link.Close()
		return nil, fmt.Errorf("bridge: INITIATE: %w", err)
	}
	if errors.Is(err, lapm.ErrPeerEstablishing) {
		// An ordinary V.42 modem: LAPM without Access Security.
		if call.Listener.Security == config.SecurityRequired {
			_ = link.Refuse()
			link.Close()
			return nil, fmt.Errorf("%w (refused with DM)", ErrNoAccessSecurity)
		}
		if err := link.Establish(ctx); err != nil {
			link.Close()
			return nil, fmt.Errorf("bridge: LAPM establish: %w", err)
		}
		return sess, nil
	}
	if err != nil {
		link.Close()
		return nil, fmt.Errorf("bridge: LAPM: %w", err)
	}
	if call.Listener.Security == config.SecurityOff {
		_ = auth.RejectInitiate(link, auth.ReasonNotOffered)
		link.Close()
		return nil, ErrAccessSecurityOff
	}
	if a.Throttle != nil {
		release, err := a.Throttle.BeginHandshake(call.Remote)
		if err != nil {
			_ = auth.RejectInitiate(link, auth.ReasonBusy)
			link.Close()
			return nil, fmt.Errorf("%w: %v", ErrThrottled, err)
		}
		defer release()
	}
	allocated := false
	// auth.Answer returns no result on failure; the user ID the caller
	// claimed is known here, when RESPONSE has decrypted and auth asks
	// for the password check.
	claimed, why := "", ""
	res, err := auth.Answer(ctx, tokens, first, auth.AnswererConfig{
		HostKey: a.HostKey, Name: a.Name, Rand: a.Rand, Now: a.Now, Deadline: a.Deadline, CallbackTTL: a.CallbackTTL,
		Verify: func(ctx context.Context, user, password string) (auth.User, error) {
			claimed = user
			acct, err := call.Verifier.Verify(ctx, user, password, call.Remote)
			switch {
			case err == nil:
				return auth.User{ID: acct.Name, Backend: acct.Backend, Callback: acct.Callback}, nil
			case errors.Is(err, ErrThrottled):
				return auth.User{}, auth.ErrBusy
			case errors.Is(err, ErrDenied):
				why = denialReason(err)
				return auth.User{}, auth.ErrDenied
			}
			return auth.User{}, err
		},
		// The call already holds its session number.
		AllocateSession: func() (uint64, error) {
			if allocated {
				return 0, errors.New("bridge: one session number per call")
			}
			allocated = true
			return call.Session, nil
		},
		// CONFIRM promises the callback only once it is scheduled.
		ScheduleCallback: func(t *auth.Ticket) error {
			if call.ScheduleCallback == nil {
				return nil
			}
			u := t.User
			return call.ScheduleCallback(Account{Name: u.ID, Backend: u.Backend, Callback: u.Callback}, t)
		},
	})
	if err != nil {
		link.Close()
		err = answerError(err)
		if why != "" && errors.Is(err, ErrDenied) {
			// The verifier's reason, for the record.
			err = fmt.Errorf("%w: %w", &DenialError{Reason: why}, err)
		}
		if claimed != "" {
			err = &HandshakeError{User: claimed, Err: err}
		}
		return nil, err
	}
	acct := &Account{Name: res.User.ID, Backend: res.User.Backend, Callback: res.User.Callback}
	sess.Account = acct
	if res.Callback != nil {
		sess.Ticket = res.Callback
		return sess, nil
	}
	link.SetTransform(res.Transform)
	sess.Stats = func() *store.LAPMStats { return LAPMStatsOf(link.Stats(), res.Cipher) }
	if err := link.Establish(ctx); err != nil {
		link.Close()
		// The password was right (CONFIRM went out): the record names
		// the account, as a denied guess's does (security trial: a
		// bot that hung up after CONFIRM learnt a password unseen).
		return nil, &HandshakeError{User: res.User.ID, Err: fmt.Errorf("%w: LAPM establish: %w", errConfirmed, err)}
	}
	return sess, nil
}

// errConfirmed is wrapped by Answer's errors after CONFIRM: the login
// succeeded, the LAPM set-up of the data phase did not.
var errConfirmed = errors.New("bridge: after CONFIRM")

// answerError maps a failed auth.Answer onto the call flow's errors.
func answerError(err error) error {
	if r, ok := auth.RejectReason(err); ok {
		switch r {
		case auth.ReasonDenied:
			return fmt.Errorf("%w: %v", ErrDenied, err)
		case auth.ReasonBusy:
			return fmt.Errorf("%w: %v", ErrThrottled, err)
		}
	}
	return fmt.Errorf("%w: %w", errAccessSecurity, err)
}

// errAccessSecurity is wrapped by Answer's errors from Access Security
// (the V.42 login), as opposed to the LAPM set-up around it.
var errAccessSecurity = errors.New("bridge: Access Security")

// LinkParams is the LAPM offer of a listener (its lapm_* keys, with the
// defaults of config.DefaultLAPM).
func LinkParams(l config.Listener) lapm.LinkParams {
	p := l.LAPM()
	return lapm.LinkParams{N401: p.N401, K: p.K, FCS32: p.FCS32, SREJ: p.SREJ}
}

// LAPMStatsOf turns a link's counters into the call record's summary;
// cipher is the data phase's AEAD, 0 when the payloads are not sealed.
func LAPMStatsOf(s lapm.Stats, cipher auth.DataCipher) *store.LAPMStats {
	st := &store.LAPMStats{
		N401: s.Negotiated.N401Rx, K: s.Negotiated.KRx, FCS32: s.Negotiated.FCS == lapm.FCS32,
		FramesSent: int64(s.FramesSent), FramesReceived: int64(s.FramesReceived),
		Retransmissions: int64(s.Retransmitted), FCSErrors: int64(s.FCSErrors),
	}
	if cipher != 0 {
		st.Sealed, st.Cipher = true, cipher.String()
	}
	return st
}

// tokenConn is the link as Access Security's XIDConn: a command over the
// link's MaxXID (lapm.ErrXIDTooLong) is a malformed token to auth
// (auth.ErrMalformed), answered with REJECT protocol-error.
type tokenConn struct{ *lapm.Link }

func (c tokenConn) AcceptXID(ctx context.Context) ([]byte, error) {
	p, err := c.Link.AcceptXID(ctx)
	if errors.Is(err, lapm.ErrXIDTooLong) {
		err = fmt.Errorf("%w: %w", auth.ErrMalformed, err)
	}
	return p, err
}

// LinkLogger is the logger of a call's V.42 link (lapm.Config.Logger):
// its lines go to log at the debug level with the call's session and
// remote address as fields, and end with "(session 42,
// 198.51.100.7:50312)". A callback's remote is the address called.
func LinkLogger(log *zap.Logger, session uint64, remote string) lapm.Logger {
	return callPrintf{
		log.With(zap.Uint64("session", session), zap.String("remote", remote)).Sugar(),
		fmt.Sprintf("session %d, %s", session, remote),
	}
}

// callPrintf is a call's Printf logger for the debug lines of its line
// (tcp.Line, ws.Line) and its V.42 link: the call's fields (session,
// listener, remote, ...) on each line, for `jq 'select(.session==42)'`,
// and a tag naming the call at the end of its text ("(session 42)",
// "(session 42, 198.51.100.7:50312)"), for the console format.
type callPrintf struct {
	s   *zap.SugaredLogger
	tag string
}

func (c callPrintf) Printf(format string, args ...any) {
	c.s.Debugf(format+" (%s)", append(args, c.tag)...)
}
