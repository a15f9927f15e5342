// Package transport defines the line: dialgate's stand-in for a telephone
// line. A Line is a byte stream of raw octets between a caller and the
// gateway; it may be slow, noisy or cut. Concrete lines live in
// sub-packages (transport/tcp for raw and telnet-modem TCP, transport/ws for
// WebSocket, transport/linesim for in-memory simulated lines); they register
// URL schemes here so that configuration and the dialer can name a line by
// address: tcp://host:port, telnet://host:port, ws://host:port/path,
// wss://host:port/path, and for dialing in TLS telnets://host:port and
// tls://host:port.
//
// # Contract
//
// Read and Write move raw octets. A Line never reorders, duplicates or
// invents octets of its own (line simulators do so only when configured to
// impair the line). Close hangs up: it flushes every octet already accepted
// by Write to the peer (bounded by a flush deadline), then releases the
// connection; Read and Write in other goroutines return ErrHungUp or
// net.ErrClosed-wrapping errors promptly. Close is idempotent and safe to call
// from any goroutine. When the peer hangs up, Read returns io.EOF after
// every octet the peer sent has been delivered.
//
// Optional abilities (window-size updates, echo control, break, read
// deadlines) are separate small interfaces that a Line may implement; callers
// test for them with a type assertion.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrHungUp is returned by Read and Write after the local side closed the
// line. The peer hanging up is reported as io.EOF by Read. A Write after
// the peer hung up fails too: ws and linesim return their ErrPeerHungUp,
// which wraps ErrHungUp; tcp returns the socket's error (EPIPE, reset).
var ErrHungUp = errors.New("transport: line hung up")

// ErrReadBudget is returned (wrapped) by a line's Read, and by every Read
// after it, once the peer has sent more than the budget SetReadBudget set.
var ErrReadBudget = errors.New("transport: the peer sent more than it may before logging in")

// ReadBudgeter is implemented by lines that can bound what the peer sends
// (tcp, ws): the gateway caps what a caller may send before it has logged
// in, so that a caller without an account cannot keep a processor busy
// decoding garbage until the login deadline. SetReadBudget(n) with n >= 0
// makes Read fail with ErrReadBudget once more than n octets have arrived
// from now on (on a telnet line: octets on the wire, commands included);
// a negative n lifts the bound. It is safe to call concurrently with Read.
type ReadBudgeter interface {
	SetReadBudget(n int64)
}

// ReadBudget is the count behind a line's ReadBudgeter: Set is
// SetReadBudget, and Read calls Spend with every n octets it takes from
// the peer. Its zero value has no bound. It is safe for concurrent use.
type ReadBudget struct {
	left atomic.Int64
	on   atomic.Bool
}

// Set bounds what the peer may still send to n octets; n < 0 lifts the
// bound.
func (b *ReadBudget) Set(n int64) {
	if n < 0 {
		b.on.Store(false) // first: a Read under way never fails for the lifted bound
		return
	}
	b.left.Store(n)
	b.on.Store(true)
}

// Spend counts n octets from the peer and reports whether they were
// within the bound.
func (b *ReadBudget) Spend(n int) bool {
	return !b.on.Load() || b.left.Add(-int64(n)) >= 0
}

// NoCaller reports whether a is an address no caller has: unspecified
// (0.0.0.0, ::), multicast or the limited broadcast 255.255.255.255. A
// proxy that names one as its caller (X-Forwarded-For, a PROXY header)
// is not believed: the address would stand for every caller that sent
// it, under one per_source count and one back-off (security trial).
func NoCaller(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// ErrUnknownScheme is wrapped by Parse, Listen and Dial for an address whose
// scheme no transport has registered.
var ErrUnknownScheme = errors.New("transport: unknown line scheme")

// ErrBadAddress is wrapped by Parse for malformed line addresses.
var ErrBadAddress = errors.New("transport: malformed line address")

// WindowSize is a terminal size in character cells.
type WindowSize struct {
	Cols, Rows int
}

// LineInfo describes a line: what it is and what the peer has told us.
type LineInfo struct {
	Transport  string     // "tcp", "telnet", "ws"; in TLS "tls", "telnets", "wss"; "pipe", "sim"
	LocalAddr  string     // host:port, or a descriptive name for in-memory lines
	RemoteAddr string     // host:port of the caller as best known (X-Forwarded-For applied if trusted)
	TermType   string     // terminal type the peer announced (telnet TTYPE), "" if unknown
	Window     WindowSize // last window size the peer announced (telnet NAWS), zero if unknown
	Secure     bool       // the line itself is encrypted (wss, TLS)
	Subproto   string     // WebSocket subprotocol in use, "" otherwise
	// Proxied: RemoteAddr (and Secure, where the proxy says so) came
	// from a trusted proxy (X-Forwarded-For, a PROXY protocol header),
	// not from the connection itself.
	Proxied bool
}

// Line is a connected byte stream between a caller and the gateway.
// See the package documentation for the Close and error contract.
type Line interface {
	io.ReadWriteCloser
	// Info reports the current description of the line. It is safe to call
	// concurrently with Read and Write; values the peer may change
	// (window size, terminal type) reflect the latest announcement.
	Info() LineInfo
}

// Listener answers incoming calls.
type Listener interface {
	// Accept waits for the next call. It returns ErrHungUp-wrapping or
	// net.ErrClosed-wrapping errors after Close, and ctx.Err() when ctx ends.
	Accept(ctx context.Context) (Line, error)
	// Addr is the address the listener answers on, as a line URL.
	Addr() string
	// Close stops answering. Lines already accepted are not affected.
	Close() error
}

// Dialer places calls.
type Dialer interface {
	// Dial connects to address (a line URL of the dialer's scheme, or the
	// host:port part of one). The context bounds the connection set-up only.
	Dial(ctx context.Context, address string) (Line, error)
}

// WindowNotifier is implemented by lines whose peer can announce terminal
// size changes (telnet NAWS, a browser terminal's resize message).
type WindowNotifier interface {
	// WindowChanges returns a channel that receives each new window size.
	// Sends never block: a slow reader sees only the latest size. The
	// channel is closed when the line closes.
	WindowChanges() <-chan WindowSize
}

// EchoController is implemented by lines on which the gateway controls
// whether the caller's terminal echoes locally (telnet ECHO option).
type EchoController interface {
	// SetServerEcho(true) tells the peer that the server echoes (so the
	// peer stops local echo); the gateway then echoes only what it wants
	// (nothing for passwords). SetServerEcho(false) gives echo back to the
	// peer's terminal.
	SetServerEcho(on bool) error
}

// Event is an out-of-band signal from the peer.
type Event int

// Out-of-band events a line may report.
const (
	EventBreak       Event = iota + 1 // telnet BREAK, V.42 break
	EventInterrupt                    // telnet IP (interrupt process)
	EventAreYouThere                  // telnet AYT
	EventAbortOutput                  // telnet AO (abort output)
)

func (e Event) String() string {
	switch e {
	case EventBreak:
		return "break"
	case EventInterrupt:
		return "interrupt"
	case EventAreYouThere:
		return "are-you-there"
	case EventAbortOutput:
		return "abort-output"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

// EventNotifier is implemented by lines that carry out-of-band signals.
type EventNotifier interface {
	// Events returns a channel of out-of-band events. Sends never block
	// (events are dropped when the buffer is full); it is closed when the
	// line closes.
	Events() <-chan Event
}

// Breaker is implemented by lines that can send a break signal to the peer.
type Breaker interface {
	SendBreak() error
}

// Deadliner is implemented by lines that support read and write deadlines
// with net.Conn semantics.
type Deadliner interface {
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Lingerer is implemented by lines whose Close waits a bounded time for
// the peer (tcp and ws lines): SetLinger sets that bound for this line,
// d <= 0 going back to the line's own.
type Lingerer interface {
	SetLinger(d time.Duration)
}

// ListenFunc creates a listener for a parsed line URL.
type ListenFunc func(u *url.URL) (Listener, error)

// DialFunc dials a parsed line URL.
type DialFunc func(ctx context.Context, u *url.URL) (Line, error)

type scheme struct {
	listen ListenFunc
	dial   DialFunc
}

var (
	regMu   sync.RWMutex
	schemes = map[string]scheme{}
)

// Register makes a line scheme known. Transports call it from init. A nil
// listen or dial means the scheme cannot listen or dial. Registering the same
// scheme twice panics.
func Register(name string, listen ListenFunc, dial DialFunc) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := schemes[name]; dup {
		panic("transport: scheme registered twice: " + name)
	}
	schemes[name] = scheme{listen: listen, dial: dial}
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(schemes))
	for s := range schemes {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Parse checks a line address and returns it as a URL. It requires a
// registered scheme and a host:port (an empty host, as in telnet://:2323,
// means every interface to a listener); ws and wss may carry a path.
func Parse(address string) (*url.URL, error) {
	if !strings.Contains(address, "://") {
		return nil, fmt.Errorf("%w %q: want scheme://host:port (schemes: %s)", ErrBadAddress, redactBare(address), strings.Join(Schemes(), ", "))
	}
	u, err := url.Parse(address)
	if err != nil {
		red := redactBare(address)
		if red != address {
			// url's own error may quote a piece of the password: a
			// '/', '?' or '#' in it ends the host early (`invalid
			// port ":pa" after host`), an invalid escape in it is
			// quoted (`invalid URL escape "%zz"`). The reason given
			// is the redacted address's, or, if that parses, the
			// password's.
			if _, rerr := url.Parse(red); rerr != nil && !strings.ContainsAny(barePassword(address), "/?#") {
				err = rerr
			} else {
				err = errPasswordSyntax
			}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without url.Error's own quote of the address
		}
		return nil, fmt.Errorf("%w %q: %v", ErrBadAddress, red, err)
	}
	regMu.RLock()
	_, ok := schemes[u.Scheme]
	regMu.RUnlock()
	// From here on the address is quoted with any password redacted: error
	// messages end up in logs. Without user info in the URL's authority
	// a user:password@ is elsewhere in it (after a '/' or '#' typed
	// before the scheme): redactBare finds it.
	shown := u.Redacted()
	if u.User == nil {
		shown = redactBare(address)
	}
	if !ok {
		return nil, fmt.Errorf("%w %q in %q (registered: %s)", ErrUnknownScheme, u.Scheme, shown, strings.Join(Schemes(), ", "))
	}
	if u.Port() == "" { // an empty host means every interface (listeners)
		return nil, fmt.Errorf("%w %q: missing host:port", ErrBadAddress, shown)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w %q: credentials do not belong in a line address", ErrBadAddress, shown)
	}
	return u, nil
}

// errPasswordSyntax is Parse's reason for an address whose password does
// not parse as part of a URL.
var errPasswordSyntax = errors.New("it does not parse as a URL (percent-encode '%', '/', '?', '#' and '@' in a user or password)")

// bareUserInfo returns the user info before the host of an address that
// does not parse as a URL: after any scheme, up to the last '@' (a
// password may hold '/', '?' or '#', which would end a URL's authority:
// review), and where it starts in address; ok is false without one.
func bareUserInfo(address string) (info string, start int, ok bool) {
	rest := address
	if _, r, found := strings.Cut(address, "://"); found {
		rest = r
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", 0, false
	}
	return rest[:at], len(address) - len(rest), true
}

// barePassword is the password of a user:password@ before the host of
// address, as redactBare finds it; "" if none.
func barePassword(address string) string {
	info, _, _ := bareUserInfo(address)
	_, pw, _ := strings.Cut(info, ":")
	return pw
}

// redactBare is address with the password of a user:password@ before the
// host replaced by xxxxx, as url.URL.Redacted does, for an address that
// does not parse as a URL: error messages end up in logs and terminals
// (power-user trial: "gateway dial alice:pw@host:2323" printed the
// password twice).
func redactBare(address string) string {
	info, start, ok := bareUserInfo(address)
	user, _, hasPw := strings.Cut(info, ":")
	if !ok || !hasPw {
		return address
	}
	return address[:start] + user + ":xxxxx" + address[start+len(info):]
}

func lookup(address string) (*url.URL, scheme, error) {
	u, err := Parse(address)
	if err != nil {
		return nil, scheme{}, err
	}
	regMu.RLock()
	s := schemes[u.Scheme]
	regMu.RUnlock()
	return u, s, nil
}

// Listen starts answering calls on a line address such as telnet://127.0.0.1:2323.
func Listen(address string) (Listener, error) {
	u, s, err := lookup(address)
	if err != nil {
		return nil, err
	}
	if s.listen == nil {
		return nil, fmt.Errorf("transport: scheme %q cannot listen on its own (%s)", u.Scheme, address)
	}
	return s.listen(u)
}

// Dial places a call to a line address.
func Dial(ctx context.Context, address string) (Line, error) {
	u, s, err := lookup(address)
	if err != nil {
		return nil, err
	}
	if s.dial == nil {
		return nil, fmt.Errorf("transport: scheme %q cannot dial (%s)", u.Scheme, address)
	}
	return s.dial(ctx, u)
}
