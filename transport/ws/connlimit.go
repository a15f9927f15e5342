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

// limitedConn is a connection counted by a connLimiter.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	src  netip.Addr
	once sync.Once
}

// NetConn is the connection under the limit (sockstate reads its TCP
// state through it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// unwrapHijack hands the WebSocket upgrade the connection under a
// limitedConn: the limit stops counting at the hijack (connState), and
// gorilla/websocket writes a message's header and payload with one
// writev only on a *net.TCPConn (net.Buffers); through the wrapper they
// were two writes, and a bulk transfer made half again as many system
// calls.
type unwrapHijack struct{ http.ResponseWriter }

func (u unwrapHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if lc, ok := c.(*limitedConn); ok {
		c = lc.Conn
	}
	return c, brw, err
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
