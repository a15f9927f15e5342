package v42caller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
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
	// ErrBusy means the gateway said BUSY and hung up before any V.42
	// started: it had no free line for the call (max_concurrent,
	// per_source, hold-off, maintenance or shutdown). It answers such
	// calls in plain text at once, whatever the listener's V.42 setting:
	// "BUSY", or a short line saying why and then "BUSY". Call's error
	// is then a *BusyError, which carries the reason.
	ErrBusy = errors.New("v42caller: the gateway is busy")
	// ErrNoLink means the gateway did not take up LAPM: it hung up or
	// stayed silent while the caller set up the link (a listener with
	// v42 = "off" answers LAPM with its text login, then hangs up).
	ErrNoLink = errors.New("v42caller: the gateway did not set up a V.42 link")
)

// Config configures Call.
type Config struct {
	UserID string
	// Password is read during Call only: Call zeroes it before it
	// returns, whatever the outcome (auth copies it into RESPONSE and
	// wipes that copy), so no copy outlives the handshake.
	Password []byte
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
	// Params is what the caller offers in LAPM parameter negotiation;
	// the zero value means LinkParams.
	Params lapm.LinkParams
}

// LinkParams is what the page offers by default, as `gateway dial` does:
// 4096-octet frames, a window of 127 and FCS-32. A browser line is
// fast, and with V.42's defaults (128 octets, window 15) a round trip
// carries at most 15 small frames. No SREJ: a WebSocket loses nothing,
// and with SREJ the window would be 64 (lapm.MaxKSREJ). The gateway
// answers with what both sides support.
var LinkParams = lapm.LinkParams{N401: lapm.MaxN401, K: 127, FCS32: true}

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
// (auth.RejectReason tells a denied login from a gateway that sheds
// load); a gateway with no free line for the call gives a *BusyError
// (ErrBusy) with the reason it gave.
func Call(ctx context.Context, line io.ReadWriteCloser, cfg Config) (*Session, error) {
	defer clear(cfg.Password)
	if cfg.CheckHostKey == nil {
		line.Close()
		return nil, errors.New("v42caller: Config.CheckHostKey is required")
	}
	h := &heardLine{ReadWriteCloser: line}
	var leftover []byte
	if !cfg.SkipDetection {
		res, left, err := lapm.Detect(ctx, h, lapm.Originator)
		if err != nil {
			line.Close()
			return nil, h.busyOr(fmt.Errorf("v42caller: detection: %w", err))
		}
		if res != lapm.DetectLAPM {
			line.Close()
			return nil, h.busyOr(fmt.Errorf("%w (detection: %s)", ErrNoV42, res))
		}
		leftover = left
	}
	params := cfg.Params
	if params == (lapm.LinkParams{}) {
		params = LinkParams
	}
	link, err := lapm.Open(ctx, h, leftover, lapm.Config{Role: lapm.Originator, Params: params, Logger: cfg.Logger, T401: cfg.T401})
	if err != nil {
		if errors.Is(err, lapm.ErrLinkFailure) {
			err = fmt.Errorf("%w: %w", ErrNoLink, err)
		} else {
			err = fmt.Errorf("v42caller: %w", err)
		}
		return nil, h.busyOr(err) // Open closed the line
	}
	res, err := auth.Call(ctx, link, auth.CallerConfig{
		UserID: cfg.UserID, Password: aliasString(cfg.Password), HostName: cfg.Host,
		CheckHostKey: cfg.CheckHostKey, Rand: cfg.Rand, Now: cfg.Now,
		// A browser has no AES hardware for WebAssembly to use: Go's AES
		// there is slow and table-driven (docs/access-security.md §3).
		// Explicit, so that the page's wire format does not depend on the
		// machine its tests run on.
		Cipher: auth.CipherOnlyChaCha,
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

// BusyError is ErrBusy with the reason the gateway gave before its BUSY
// ("dialgate: redialled too soon; try again in 2 s"; "" for a bare BUSY).
// It wraps ErrBusy and the error the call failed with.
type BusyError struct {
	// Reason is the gateway's reason lines, trimmed and joined by a
	// space: at most busyline.MaxLines printable ASCII lines.
	Reason string
	Err    error
}

func (e *BusyError) Error() string {
	msg := ErrBusy.Error()
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

func (e *BusyError) Unwrap() []error { return []error{ErrBusy, e.Err} }

// Hint is the reason without the gateway's name the gateway puts before
// it ("dialgate: " in "dialgate: all lines busy; try again later"; a
// gateway_name is at most 64 octets): what a status line shows after
// "busy: ". A reason with no such name is returned as it is.
func (e *BusyError) Hint() string {
	if i := strings.Index(e.Reason, ": "); i > 0 && i <= 64 && len(e.Reason) > i+2 {
		return e.Reason[i+2:]
	}
	return e.Reason
}

// heardLine passes a line through and keeps the first octets the gateway
// sent (as many as a BUSY with its reason may take), so that a call
// refused with BUSY can be told from a failed one. It keeps the line's
// read deadlines (V.42 detection needs them).
type heardLine struct {
	io.ReadWriteCloser
	mu    sync.Mutex
	head  [busyline.MaxHeard]byte
	total int // octets read so far
}

func (h *heardLine) Read(p []byte) (int, error) {
	n, err := h.ReadWriteCloser.Read(p)
	h.mu.Lock()
	if h.total < len(h.head) {
		copy(h.head[h.total:], p[:n])
	}
	h.total += n
	h.mu.Unlock()
	return n, err
}

// SetReadDeadline is the line's; without one it fails with
// lapm.ErrNoDeadline (then detection cannot run).
func (h *heardLine) SetReadDeadline(t time.Time) error {
	d, ok := h.ReadWriteCloser.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		return fmt.Errorf("v42caller: %w", lapm.ErrNoDeadline)
	}
	return d.SetReadDeadline(t)
}

// busyOr returns a *BusyError wrapping ErrBusy and err when all the
// gateway said before the call failed was BUSY, alone or after its
// reason (busyline.Parse); otherwise err.
func (h *heardLine) busyOr(err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total > len(h.head) {
		return err
	}
	if why, ok := busyline.Parse(h.head[:h.total]); ok {
		return &BusyError{Reason: why, Err: err}
	}
	return err
}

// aliasString is b as a string that shares b's memory, so that zeroing b
// wipes the string too. auth.CallerConfig takes the password as a
// string, and a string converted the usual way is a copy nobody can
// wipe. The string must be dropped before b is zeroed: Call zeroes b
// only after auth.Call has returned, and auth keeps no reference to its
// configuration after that.
func aliasString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// EndDetail words why a session's Link.Read ended, for the page's status
// line: "" for the gateway's release of the link (DISC: its NO CARRIER
// words came before it and say why), "you hung up" after the page closed
// the link, else what happened to the link or the line (browser trial: a
// link that failed showed a bare "hung up").
func EndDetail(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return ""
	case errors.Is(err, lapm.ErrClosed):
		// Closed here: the user hung up (review).
		return "you hung up"
	case errors.Is(err, lapm.ErrLinkFailure):
		return "the V.42 link failed: the gateway stopped answering, and the call was lost"
	case errors.Is(err, lapm.ErrPayloadRefused):
		return "a payload from the gateway did not authenticate (altered on the way, or forged): the call was ended"
	}
	return "the line dropped: the gateway went away without releasing the link"
}
