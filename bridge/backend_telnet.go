package bridge

import (
	"context"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// telnetBackend is a telnet service (RFC 854), reached with a client-side
// telnet line of transport/tcp, which negotiates with the backend. The
// caller's terminal type (RFC 1091) and window size (RFC 1073 NAWS) are
// passed on, and window changes forwarded.
type telnetBackend struct {
	name    string
	addr    string
	proxy   bool
	term    string
	timeout time.Duration
}

func newTelnetBackend(b config.Backend) (Backend, error) {
	return &telnetBackend{name: b.Name, addr: string(b.Address), proxy: b.ProxyProtocol, term: b.Term, timeout: b.ConnectTimeout.Duration}, nil
}

func (b *telnetBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	c, err := dialTCP(ctx, b.addr, b.timeout, b.proxy, s)
	if err != nil {
		return nil, err
	}
	term := s.Term
	if term == "" {
		term = b.term
	}
	ln := tcp.NewLine(c, false, tcp.Options{Telnet: true, TermType: term, Window: s.Window})
	return &telnetConn{ln}, nil
}

type telnetConn struct{ *tcp.Line }

func (c *telnetConn) Resize(w transport.WindowSize) error { return c.SetWindowSize(w) }

// Interrupt passes a caller's interrupt or break on as a telnet BREAK
// (RFC 854), which BBS software commonly handles.
func (c *telnetConn) Interrupt() error { return c.SendBreak() }
