package ws

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/dialgate/dialgate/internal/admit"
	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/transport"
)

// Defaults of the bounds on HTTP connections that are not (yet) lines.
const (
	// DefaultMaxConns bounds a server's HTTP connections that have not
	// become WebSocket lines (Options.MaxConns).
	DefaultMaxConns = 1024
	// DefaultMaxConnsPerSource bounds those from one client address
	// (Options.MaxConnsPerSource). A browser opens up to six
	// connections to a host and keeps them for HTTPIdleTimeout, and many
	// browsers may share one address (a NAT): 128 leaves room for about
	// twenty page loads from one address within HTTPIdleTimeout while a
	// single host still holds at most an eighth of DefaultMaxConns.
	DefaultMaxConnsPerSource = 128
)

// connLimiter is a net.Listener that bounds the HTTP connections which
// are not WebSocket lines: each one costs a goroutine, buffers and a
// descriptor for up to HTTPReadHeaderTimeout (silent) or HTTPIdleTimeout
// (idle keep-alive), and nothing else limits how many a client opens
// before it upgrades. Without a bound, 5,000 silent connections held
// 5,000 goroutines and descriptors; at the process's descriptor limit
// every listener of the gateway, and its call records, would fail.
// Connections over the bound are closed at once, and counted in a log
// line at most once a second (refusals). A connection stops
// counting when its server hijacks it (the upgrade: from then on the
// gateway's line slots limit it) or closes it; the server must report
// both through connState.
type connLimiter struct {
	net.Listener
	// exempt tells the sources not held to the per-source bound:
	// trusted reverse proxies, which carry every client's connections.
	exempt func(netip.Addr) bool
	logf   func(format string, args ...any)

	places   admit.Counter[netip.Addr]
	refusals burstlog.Log
}

func newConnLimiter(ln net.Listener, max, perSource int, exempt func(netip.Addr) bool, logf func(string, ...any)) *connLimiter {
	if max <= 0 {
		max = DefaultMaxConns
	}
	if perSource <= 0 {
		perSource = DefaultMaxConnsPerSource
	}
	l := &connLimiter{Listener: ln, exempt: exempt, logf: logf, places: admit.Counter[netip.Addr]{Max: max, PerSource: perSource}}
	l.refusals.Emit = func(n int, last string) {
		l.logf("ws: %d connection(s) closed at once (last %s)", n, last)
	}
	return l
}

// Close closes the listener and logs the refusals not logged yet.
func (l *connLimiter) Close() error {
	err := l.Listener.Close()
	l.refusals.Close()
	return err
}

// Accept returns the next connection within the bounds; connections over
// them are closed.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := peerAddr(c.RemoteAddr())
		src := sourceKey(peer)
		switch l.places.Take(src, l.exempt(peer)) {
		case admit.Total:
			c.Close()
			l.refusedOne(src, "too many HTTP connections")
			continue
		case admit.Source:
			c.Close()
			l.refusedOne(src, "too many HTTP connections from this address")
			continue
		}
		return &limitedConn{Conn: c, l: l, src: src}, nil
	}
}

// refusedOne counts a refused connection for the log (see burstlog.Log), so
// that a connection flood does not become a log flood.
func (l *connLimiter) refusedOne(src netip.Addr, why string) {
	l.refusals.Add(fmt.Sprintf("from %s: %s", src, why))
}

// connState is the http.Server.ConnState hook that stops counting a
// connection when it is hijacked or closed.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if s != http.StateHijacked && s != http.StateClosed {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok && lc.l == l {
		lc.once.Do(func() { l.places.Release(lc.src) })
	}
}

// limitedConn is a connection counted by a connLimiter. Its reads are
// metered against wire, the line's read budget once it is one (see
// wireMetered).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	src  netip.Addr
	once sync.Once
	wire transport.ReadBudget
}

// NetConn is the connection under the limit (sockstate reads its TCP
// state through it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

func (c *limitedConn) Read(p []byte) (int, error) { return meteredRead(c.Conn, &c.wire, p) }

func (c *limitedConn) wireBudget() *transport.ReadBudget { return &c.wire }

// wireMetered is a connection whose reads spend a budget: every octet the
// peer sends counts, frame headers, pings, text and control messages and
// empty frames included, not only the binary payloads that Line.Read
// returns (adversarial trial: a caller that had not logged in sent 5 GB of
// text frames, or endless empty continuation frames, at a core's cost
// until handshake_deadline). Line.SetReadBudget sets it.
type wireMetered interface {
	wireBudget() *transport.ReadBudget
}

// meteredRead reads c, spending b; over the budget the read fails.
func meteredRead(c net.Conn, b *transport.ReadBudget, p []byte) (int, error) {
	n, err := c.Read(p)
	if n > 0 && !b.Spend(n) {
		return 0, fmt.Errorf("ws: %w", transport.ErrReadBudget)
	}
	return n, err
}

// meteredTCPConn is an upgraded connection still metered by its
// limitedConn's budget. It embeds the *net.TCPConn, whose writev (through
// net.Buffers) gorilla/websocket uses to write a message's header and
// payload in one system call: through a net.Conn wrapper they were two
// writes, and a bulk transfer made half again as many system calls.
type meteredTCPConn struct {
	*net.TCPConn
	wire *transport.ReadBudget
}

func (c *meteredTCPConn) Read(p []byte) (int, error) { return meteredRead(c.TCPConn, c.wire, p) }

func (c *meteredTCPConn) NetConn() net.Conn { return c.TCPConn }

func (c *meteredTCPConn) wireBudget() *transport.ReadBudget { return c.wire }

// unwrapHijack hands the WebSocket upgrade the connection under a
// limitedConn, metered still (meteredTCPConn): the limit stops counting
// at the hijack (connState).
type unwrapHijack struct{ http.ResponseWriter }

func (u unwrapHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if lc, ok := c.(*limitedConn); ok {
		if tc, ok := lc.Conn.(*net.TCPConn); ok {
			c = &meteredTCPConn{TCPConn: tc, wire: &lc.wire}
		}
	}
	return c, brw, err
}

// wireBudgetOf is the budget that meters c's reads, found under any
// wrappers (TLS), or nil.
func wireBudgetOf(c net.Conn) *transport.ReadBudget {
	for c != nil {
		if m, ok := c.(wireMetered); ok {
			return m.wireBudget()
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

// peerAddr is a connection's remote IP address (invalid if it has none).
func peerAddr(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// sourceKey is the unit a client address is counted under: the IPv4
// address, or the /64 network of an IPv6 address (one subscriber usually
// holds a whole /64).
func sourceKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// LimitConns bounds the HTTP connections of srv that accepts on ln and
// serves l (mounted at some path) by l's Options.MaxConns and
// MaxConnsPerSource, as Listen does for its own server: srv must accept
// on the returned listener, and LimitConns installs srv.ConnState. Wrap
// ln before any TLS listener, so that the count is of TCP connections.
func (l *Listener) LimitConns(ln net.Listener, srv *http.Server) net.Listener {
	cl := newConnLimiter(ln, l.maxConns, l.maxPerSource, l.trusted, l.notef)
	srv.ConnState = cl.connState
	return cl
}
