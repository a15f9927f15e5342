package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/internal/listenaddr"
	"github.com/dialgate/dialgate/transport"
)

func init() {
	for _, telnet := range []bool{false, true} {
		opts := Options{Telnet: telnet}
		transport.Register(scheme(telnet),
			func(u *url.URL) (transport.Listener, error) { return Listen(u.Host, opts) },
			func(ctx context.Context, u *url.URL) (transport.Line, error) { return Dial(ctx, u.Host, opts) },
		)
		// telnets:// and tls:// dial a listener with a certificate (in
		// the gateway's configuration, telnet:// or tcp:// with
		// tls_cert); they do not listen on their own.
		transport.Register(SecureTransport(scheme(telnet)), nil,
			func(ctx context.Context, u *url.URL) (transport.Line, error) { return DialTLS(ctx, u.Host, opts, nil) },
		)
	}
}

func scheme(telnet bool) string {
	if telnet {
		return "telnet"
	}
	return "tcp"
}

// Listener answers TCP calls and wraps each in a server-side Line.
type Listener struct {
	ln     net.Listener
	opts   Options
	host   string // the host as configured ("" for every interface)
	closed atomic.Bool
}

var _ transport.Listener = (*Listener)(nil)

// Listen answers on addr (host:port; port 0 picks a free one).
func Listen(addr string, opts Options) (*Listener, error) {
	ln, err := listenaddr.Listen(net.ListenConfig{KeepAlive: -1}, addr) // NewLine configures keepalive
	if err != nil {
		return nil, netError("listen", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	return &Listener{ln: ln, opts: opts, host: host}, nil
}

// Accept implements transport.Listener.
func (l *Listener) Accept(ctx context.Context) (transport.Line, error) {
	line, err := l.AcceptLine(ctx)
	if err != nil {
		return nil, err
	}
	return line, nil
}

// AcceptLine waits for the next call. Cancelling ctx interrupts it (and any
// other Accept running at the same time, which then retries); Accept is
// meant to be called from one accept loop. After Close it returns an error
// wrapping net.ErrClosed.
func (l *Listener) AcceptLine(ctx context.Context) (*Line, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() {
			_ = l.deadline(time.Unix(1, 0))
		})
		c, err := l.ln.Accept()
		stop()
		if err == nil {
			return NewLine(c, true, l.opts), nil
		}
		if l.closed.Load() || errors.Is(err, net.ErrClosed) {
			return nil, fmt.Errorf("tcp: accept: %w", net.ErrClosed)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = l.deadline(time.Time{}) // another caller's cancelled context
			continue
		}
		return nil, fmt.Errorf("tcp: accept: %w", err)
	}
}

func (l *Listener) deadline(t time.Time) error {
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return nil
}

// Addr is the listening address as a line URL (tcp:// or telnet://): the
// host as configured with the port bound. A listener on 0.0.0.0 says
// 0.0.0.0, although the system reports a socket that takes IPv4 on every
// interface as [::]; one configured without a host shows the bound
// address.
func (l *Listener) Addr() string {
	a := l.ln.Addr().String()
	if _, port, err := net.SplitHostPort(a); err == nil && l.host != "" {
		a = net.JoinHostPort(l.host, port)
	}
	return scheme(l.opts.Telnet) + "://" + a
}

// Close stops answering; accepted lines stay up. It is idempotent: later
// calls return nil.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	if err := l.ln.Close(); err != nil {
		return fmt.Errorf("tcp: close listener: %w", err)
	}
	return nil
}

// opError is a listen or dial error that names the operation and the
// address once: the net package's own text repeats both ("listen tcp
// 127.0.0.1:2323: bind: address already in use"), so only its cause is
// shown. It unwraps to the net package's error: errors.Is (for example
// syscall.EADDRINUSE) and errors.As (*net.OpError) see what they saw
// before.
type opError struct {
	op, addr string
	err      error
}

// netError wraps err from net's op ("listen", "dial") on addr.
func netError(op, addr string, err error) error {
	return &opError{op: op, addr: addr, err: err}
}

func (e *opError) Error() string {
	cause := e.err
	var oe *net.OpError
	if errors.As(cause, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	return "tcp: " + e.op + " " + e.addr + ": " + cause.Error()
}

func (e *opError) Unwrap() error { return e.err }
