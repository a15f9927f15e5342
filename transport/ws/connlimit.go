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
// A connection over the bound closes the one that has waited longest
// without a request in progress (evict), or is closed at once if there
// is none; both are counted in a log line at most once a second
// (refusals). A connection stops
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

	// waiting holds the counted connections that have no request in
	// progress (new, or idle between keep-alive requests), with when
	// they began to wait: the oldest is closed to make room for a new
	// connection that finds the bounds full (evict).
	waiting admit.Waiting[*limitedConn]
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
		exempt := l.exempt(peer)
		took := l.places.Take(src, exempt)
		if took != admit.None && l.evict(src, took == admit.Source) {
			took = l.places.Take(src, exempt)
		}
		switch took {
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

// evict closes the connection that has waited longest without a request
// in progress (from src only if sameSource: the bound it met is src's),
// gives its place back and reports whether there was one. Connections
// that never send a request, or send it a byte at a time, would otherwise
// hold the places until HTTPReadHeaderTimeout and, reopened as they end,
// keep every caller out (security trial: 128 from each of 8 addresses
// filled the 1,024); a real request takes its connection out of reach
// as soon as it begins, and an upgrade for good.
func (l *connLimiter) evict(src netip.Addr, sameSource bool) bool {
	victim, ok := l.waiting.TakeOldest(func(lc *limitedConn) bool { return !sameSource || lc.src == src })
	if !ok {
		return false
	}
	l.release(victim)
	victim.Conn.Close()
	l.refusedOne(victim.src, "closed to make room: it had no request in progress")
	return true
}

// refusedOne counts a refused connection for the log (see burstlog.Log), so
// that a connection flood does not become a log flood.
func (l *connLimiter) refusedOne(src netip.Addr, why string) {
	l.refusals.Add(fmt.Sprintf("from %s: %s", src, why))
}

// connState is the http.Server.ConnState hook that stops counting a
// connection when it is hijacked or closed, and keeps waiting (see
// evict).
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok || lc.l != l {
		return
	}
	switch s {
	case http.StateNew, http.StateIdle:
		l.waiting.Add(lc)
	default:
		l.waiting.Remove(lc)
	}
	if s == http.StateHijacked || s == http.StateClosed {
		l.release(lc)
	}
}

// release gives lc's place back, once (evict and connState may both).
func (l *connLimiter) release(lc *limitedConn) {
	lc.once.Do(func() { l.places.Release(lc.src) })
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

// BoundHTTP bounds the connections of srv that accepts on ln to max in
// all, as LimitConns does, for an HTTP endpoint that serves no
// WebSocket lines (the gateway's metrics: every connection held costs a
// descriptor the calls need, and any local user reaches a loopback
// port). logf gets a line at most once a second about the connections
// closed. srv must accept on the returned listener; BoundHTTP installs
// srv.ConnState.
func BoundHTTP(ln net.Listener, srv *http.Server, max int, logf func(format string, args ...any)) net.Listener {
	cl := newConnLimiter(ln, max, max, func(netip.Addr) bool { return false }, logf)
	cl.refusals.Emit = func(n int, last string) {
		logf("%d connection(s) closed at once (last %s)", n, last)
	}
	srv.ConnState = cl.connState
	return cl
}
