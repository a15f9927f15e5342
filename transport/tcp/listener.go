package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/transport"
)

func init() {
	for _, telnet := range []bool{false, true} {
		opts := Options{Telnet: telnet}
		transport.Register(scheme(telnet),
			func(u *url.URL) (transport.Listener, error) { return Listen(u.Host, opts) },
			func(ctx context.Context, u *url.URL) (transport.Line, error) { return Dial(ctx, u.Host, opts) },
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
	closed atomic.Bool
}

var _ transport.Listener = (*Listener)(nil)

// Listen answers on addr (host:port; port 0 picks a free one).
func Listen(addr string, opts Options) (*Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1} // NewLine configures keepalive
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp: listen %s: %w", addr, err)
	}
	return &Listener{ln: ln, opts: opts}, nil
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

// Addr is the listening address as a line URL (tcp:// or telnet://).
func (l *Listener) Addr() string {
	return scheme(l.opts.Telnet) + "://" + l.ln.Addr().String()
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
