package v42caller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/lapm"
)

// Errors of Call (wrapped).
var (
	// ErrNoV42 means the gateway answered without V.42 (after T400): it
	// expects the text login.
	ErrNoV42 = errors.New("v42caller: the gateway did not answer with V.42")
	// ErrCallback means the gateway accepted the login but will call
	// back, which this caller cannot take.
	ErrCallback = errors.New("v42caller: the account takes callbacks, which this caller cannot answer")
)

// Config configures Call.
type Config struct {
	UserID, Password string
	// Host names the gateway for CheckHostKey (its host:port).
	Host string
	// CheckHostKey is called with the gateway's static public key before
	// the password is sent; an error aborts the call (known-hosts check:
	// pinned fingerprint or trust on first use). Required.
	CheckHostKey func(pub []byte) error
	// SkipDetection starts LAPM at once (a listener with v42 = "lapm").
	SkipDetection bool
	// Rand and Now are for auth (nil: crypto/rand, time.Now).
	Rand io.Reader
	Now  func() time.Time
	// Logger receives the link's log lines; nil discards them.
	Logger lapm.Logger
	// T401 is the link's acknowledgement timer (0: lapm's default).
	T401 time.Duration
}

// Session is an established call: read and write the session's octets
// on Link; close it to hang up.
type Session struct {
	Link          *lapm.Link
	SessionNumber uint64
	GatewayName   string
	HostKey       []byte
}

// Call runs a V.42 call with Access Security on line, which it owns from
// now on (it is closed when Call fails and when Link is closed). ctx
// bounds the set-up only. Errors from Access Security keep their type
// (auth.RejectReason tells a denied login from a busy gateway).
func Call(ctx context.Context, line io.ReadWriteCloser, cfg Config) (*Session, error) {
	if cfg.CheckHostKey == nil {
		line.Close()
		return nil, errors.New("v42caller: Config.CheckHostKey is required")
	}
	var leftover []byte
	if !cfg.SkipDetection {
		res, left, err := lapm.Detect(ctx, asReadWriter(line), lapm.Originator)
		if err != nil {
			line.Close()
			return nil, fmt.Errorf("v42caller: detection: %w", err)
		}
		if res != lapm.DetectLAPM {
			line.Close()
			return nil, fmt.Errorf("%w (detection: %s)", ErrNoV42, res)
		}
		leftover = left
	}
	link, err := lapm.Open(ctx, line, leftover, lapm.Config{Role: lapm.Originator, Logger: cfg.Logger, T401: cfg.T401})
	if err != nil {
		return nil, fmt.Errorf("v42caller: %w", err) // Open closed the line
	}
	res, err := auth.Call(ctx, link, auth.CallerConfig{
		UserID: cfg.UserID, Password: cfg.Password, HostName: cfg.Host,
		CheckHostKey: cfg.CheckHostKey, Rand: cfg.Rand, Now: cfg.Now,
	})
	if err != nil {
		link.Close()
		return nil, fmt.Errorf("v42caller: %w", err)
	}
	if res.Callback {
		link.Close()
		if res.Ticket != nil {
			res.Ticket.Wipe()
		}
		return nil, ErrCallback
	}
	link.SetTransform(res.Transform)
	if err := link.Establish(ctx); err != nil {
		link.Close()
		return nil, fmt.Errorf("v42caller: data phase: %w", err)
	}
	return &Session{Link: link, SessionNumber: res.SessionNumber, GatewayName: res.GatewayName, HostKey: res.HostKey}, nil
}

// asReadWriter keeps the line's SetReadDeadline visible to lapm.Detect.
func asReadWriter(line io.ReadWriteCloser) io.ReadWriter { return line }
