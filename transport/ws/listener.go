package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/listenaddr"
	"github.com/dialgate/dialgate/transport"
)

// ErrNoCertificate is wrapped by Listen for a wss:// address without
// Options.CertFile and Options.KeyFile.
var ErrNoCertificate = errors.New("ws: no certificate for wss")

// acceptWait is how long an upgraded call waits for Accept before it is
// turned away with status 1013 (try again later).
const acceptWait = 10 * time.Second

// Limits of the HTTP server a Listen listener runs. A server that
// mounts a Listener elsewhere should set the same, with HTTPReadTimeout
// and Listener.BoundResponses (package bridge does).
const (
	// HTTPReadHeaderTimeout bounds reading a request's header (a client
	// that connects and sends nothing, or sends it slowly).
	HTTPReadHeaderTimeout = 10 * time.Second
	// HTTPIdleTimeout closes a keep-alive connection that sends no
	// further request (upgraded connections are not affected). Without
	// it net/http waits for the next request forever.
	HTTPIdleTimeout = 30 * time.Second
	// MaxHeaderBytes bounds a request's header. An upgrade request
	// needs a few hundred octets; browsers add cookies. net/http's
	// default, 1 MiB, let each connection that sent a large header
	// without its end hold about 1 MiB for HTTPReadHeaderTimeout (300
	// such connections: 283 MB of heap).
	MaxHeaderBytes = 32 << 10
)

// httpIdleTimeout is HTTPIdleTimeout, a variable for tests.
var httpIdleTimeout = HTTPIdleTimeout

// DefaultMaxPending is the default bound on upgraded calls waiting for
// Accept (Options.MaxPending).
const DefaultMaxPending = 64

// Options configure a Listener. Zero values select the defaults.
type Options struct {
	// Subprotocols the listener accepts, from "binary", "plain", "base64";
	// empty means all three. A client offering none is always accepted
	// (binary messages).
	Subprotocols []string
	// AllowedOrigins are origins accepted besides the same origin: either
	// a full origin "https://bbs.example.org[:port]" or a host[:port]
	// (any scheme); "*" accepts every origin. Empty: same origin only.
	AllowedOrigins []string
	// NamesListedOnly, when set and reporting true, makes a same-origin
	// request that names the listener by a DNS name pass only if
	// AllowedOrigins lists it, wherever it arrives, as on a loopback
	// address (see the package comment). The gateway sets it while the
	// listener answers only some callers (allowed_sources): a page on
	// evil.example whose name the attacker then points at the listener
	// (DNS rebinding) would otherwise call it through the browser of a
	// user at an allowed address, on public addresses too (security
	// trial). Asked at each upgrade, so the answer may change.
	NamesListedOnly func() bool
	// TrustedProxies are IP addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For and X-Forwarded-Proto headers are believed.
	TrustedProxies []string
	// ReadLimit is the largest message accepted, in bytes on the wire
	// (default DefaultReadLimit). It must allow the messages clients send:
	// Write of this package sends at most 65,536 bytes per message.
	ReadLimit int64
	// PingInterval is the ping period (default DefaultPingInterval;
	// negative: no pings).
	PingInterval time.Duration
	// IdleTimeout hangs up a line from which nothing at all (data, ping,
	// pong) arrived for this long (default DefaultIdleTimeout; negative:
	// never). It must exceed PingInterval, since a healthy peer answers
	// each ping.
	IdleTimeout time.Duration
	// CloseTimeout bounds Close: the wait for a Write in progress and for
	// the peer's close frame together (default DefaultCloseTimeout).
	CloseTimeout time.Duration
	// Logger receives log lines; nil discards them.
	Logger Logger
	// Notices receives the lines an operator has to act on: calls
	// refused for their origin (with the allowed_origins hint) and
	// connections closed over MaxConns or MaxConnsPerSource. Nil sends
	// them to Logger.
	Notices Logger
	// MaxPending bounds the calls upgraded but not yet taken by Accept
	// (each holds a connection, buffers and goroutines for up to 10 s);
	// further upgrade requests are refused with HTTP 503 at once, before
	// any buffer is allocated. Default DefaultMaxPending.
	MaxPending int
	// MaxConns bounds the HTTP connections of a Listen server that have
	// not become lines (silent, sending their request, or idle between
	// requests); MaxConnsPerSource bounds those from one client address
	// (IPv4 address or IPv6 /64; trusted proxies count only towards
	// MaxConns). Connections over either bound are closed at once.
	// Defaults DefaultMaxConns and DefaultMaxConnsPerSource. A server
	// that mounts the Listener elsewhere applies them with LimitConns.
	MaxConns, MaxConnsPerSource int
	// CertFile and KeyFile are PEM files for wss:// (Listen only; a
	// handler mounted elsewhere gets TLS from the server it is mounted on).
	CertFile, KeyFile string
	// TLS, when set, is wss://'s server configuration instead of
	// CertFile and KeyFile (Listen only): with GetCertificate its
	// certificate may change while the listener runs (a renewal).
	TLS *tls.Config
}

// ServerTLS is the TLS configuration a wss:// server of opts uses: a
// copy of opts.TLS, else one with the certificate of opts.CertFile and
// opts.KeyFile; either way it offers ALPN http/1.1 only (the WebSocket
// upgrade is HTTP/1.1).
func (opts Options) ServerTLS() (*tls.Config, error) {
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		return cfg, nil
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, ErrNoCertificate
	}
	cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}

// timing holds resolved keepalive settings shared by Options and
// DialOptions.
type timing struct {
	readLimit              int64
	ping, idle, closeAfter time.Duration
}

func resolveTiming(readLimit int64, ping, idle, closeAfter time.Duration) (timing, error) {
	t := timing{readLimit: readLimit, ping: ping, idle: idle, closeAfter: closeAfter}
	if t.readLimit <= 0 {
		t.readLimit = DefaultReadLimit
	}
	if t.ping == 0 {
		t.ping = DefaultPingInterval
	}
	if t.idle == 0 {
		t.idle = DefaultIdleTimeout
	}
	if t.closeAfter <= 0 {
		t.closeAfter = DefaultCloseTimeout
	}
	if t.ping > 0 && t.idle > 0 && t.idle <= t.ping {
		return t, fmt.Errorf("ws: IdleTimeout %v must exceed PingInterval %v", t.idle, t.ping)
	}
	return t, nil
}

// Listener answers WebSocket calls. It is an http.Handler (mount it at any
// path) and a transport.Listener: each upgraded request becomes a Line
// returned by Accept.
type Listener struct {
	timing   timing
	log      Logger
	notice   Logger
	protos   map[string]bool
	origins  []string
	anyOrig  bool
	listed   func() bool // Options.NamesListedOnly
	proxies  []netip.Prefix
	upgrader websocket.Upgrader

	maxConns, maxPerSource int

	accept     chan *Line
	acceptWait time.Duration
	pending    chan struct{} // one token per upgraded call waiting for Accept
	done       chan struct{}
	closeOnce  sync.Once

	// Set by Listen only.
	addr      string
	srv       *http.Server
	serveDone chan struct{}
}

var (
	_ transport.Listener  = (*Listener)(nil)
	_ transport.Line      = (*Line)(nil)
	_ transport.Deadliner = (*Line)(nil)
)
var _ http.Handler = (*Listener)(nil)

// NewHandler returns a Listener to mount in an http.ServeMux. Addr
// reports "" for it: the address belongs to the server it is mounted on.
func NewHandler(opts Options) (*Listener, error) {
	t, err := resolveTiming(opts.ReadLimit, opts.PingInterval, opts.IdleTimeout, opts.CloseTimeout)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		timing:     t,
		log:        opts.Logger,
		notice:     opts.Notices,
		protos:     map[string]bool{},
		accept:     make(chan *Line),
		acceptWait: acceptWait,
		done:       make(chan struct{}),
		maxConns:   opts.MaxConns, maxPerSource: opts.MaxConnsPerSource,
		listed: opts.NamesListedOnly,
	}
	if l.notice == nil {
		l.notice = opts.Logger
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	l.pending = make(chan struct{}, opts.MaxPending)
	if len(opts.Subprotocols) == 0 {
		opts.Subprotocols = supported
	}
	for _, p := range opts.Subprotocols {
		if !isSupported(p) {
			return nil, fmt.Errorf("ws: unknown subprotocol %q (supported: %s)", p, strings.Join(supported, ", "))
		}
		l.protos[p] = true
	}
	for _, o := range opts.AllowedOrigins {
		o = canonicalOrigin(o)
		if o == "*" {
			l.anyOrig = true
		}
		l.origins = append(l.origins, o)
	}
	for _, p := range opts.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return nil, err
		}
		l.proxies = append(l.proxies, pfx)
	}
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: t.closeAfter,
		// Checked (and logged) by ServeHTTP before upgrading.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			l.logf("ws: %s: upgrade refused with HTTP %d: %v", r.RemoteAddr, status, reason)
			if !websocket.IsWebSocketUpgrade(r) {
				// A browser pointed at the line itself (browser trial:
				// it showed gorilla/websocket's words).
				http.Error(w, "dialgate: this address is a WebSocket line, not a web page: call it with a WebSocket client (gateway dial, or the gateway's browser terminal page where a listener serves one)", status)
				return
			}
			http.Error(w, "ws: "+reason.Error(), status)
		},
	}
	return l, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("ws: trusted proxy %q: %v", s, err)
		}
		// Addresses are unmapped before they are checked (trusted), so
		// an IPv4-mapped prefix ("::ffff:10.0.0.0/104") is taken as the
		// IPv4 prefix it covers, as a mapped single address is.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ws: trusted proxy %q: %v", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (l *Listener) logf(format string, args ...any) {
	if l.log != nil {
		l.log.Printf(format, args...)
	}
}

// notef logs a line the operator has to act on (Options.Notices).
func (l *Listener) notef(format string, args ...any) {
	if l.notice != nil {
		l.notice.Printf(format, args...)
	}
}

// ServeHTTP upgrades the request and hands the line to Accept. It answers
// 503 after Close or when Options.MaxPending calls already wait for
// Accept, 403 for a foreign origin, 400 for a bad handshake or when no
// offered subprotocol is supported.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isDone(l.done) {
		l.logf("ws: %s: call refused: listener closed", r.RemoteAddr)
		http.Error(w, "ws: not answering", http.StatusServiceUnavailable)
		return
	}
	if origin, ok, hint := l.originAllowed(r); !ok {
		l.notef("ws: %s: call refused: origin %.100q not allowed for host %.100q%s", l.caller(r), origin, r.Host, hint)
		http.Error(w, "ws: origin not allowed", http.StatusForbidden)
		return
	}
	offered := websocket.Subprotocols(r)
	proto, ok := l.choose(offered)
	if !ok {
		l.logf("ws: %s: call refused: no supported subprotocol among %.200q", r.RemoteAddr, offered)
		http.Error(w, "ws: no supported subprotocol (binary, plain, base64)", http.StatusBadRequest)
		return
	}
	select {
	case l.pending <- struct{}{}:
		defer func() { <-l.pending }()
	default:
		l.logf("ws: %s: call refused: %d calls already wait for Accept", r.RemoteAddr, cap(l.pending))
		http.Error(w, "ws: busy", http.StatusServiceUnavailable)
		return
	}
	remote, proxied, err := l.clientAddr(r)
	if err != nil {
		l.notef("ws: call via trusted proxy %s refused: %v: the proxy must name each caller by its IP address", r.RemoteAddr, err)
		http.Error(w, "ws: X-Forwarded-For does not name the caller", http.StatusBadRequest)
		return
	}
	secure := r.TLS != nil || l.forwardedHTTPS(r)
	var hdr http.Header
	if proto != "" {
		hdr = http.Header{"Sec-Websocket-Protocol": {proto}}
	}
	conn, err := l.upgrader.Upgrade(unwrapHijack{w}, r, hdr)
	if err != nil {
		// Refusals (HandshakeError) were replied to and logged by
		// upgrader.Error; a failure after the hijack (a client that sent
		// data before the 101 reply, a failed write of it) closed the
		// connection with no reply, and is logged here.
		var he websocket.HandshakeError
		if !errors.As(err, &he) {
			l.logf("ws: %s: call dropped during the upgrade: %v", l.caller(r), err)
		}
		return
	}
	info := transport.LineInfo{Transport: "ws", RemoteAddr: remote, Secure: secure, Proxied: proxied}
	if secure {
		info.Transport = "wss"
	}
	if a := conn.NetConn().LocalAddr(); a != nil {
		info.LocalAddr = a.String()
	}
	line := newLine(conn, lineConfig{
		info: info, readLimit: l.timing.readLimit, pingInterval: l.timing.ping,
		idleTimeout: l.timing.idle, closeAfter: l.timing.closeAfter, log: l.log,
	})
	t := time.NewTimer(l.acceptWait)
	defer t.Stop()
	select {
	case l.accept <- line:
	case <-l.done:
		line.closeOnce.Do(func() { _ = line.hangUp(websocket.CloseGoingAway, "not answering") })
	case <-t.C:
		l.logf("ws: %s: call not accepted within %v, turned away with status 1013", remote, l.acceptWait)
		line.closeOnce.Do(func() { _ = line.hangUp(websocket.CloseTryAgainLater, "busy") })
	}
}

// choose picks the first offered subprotocol we support; a client that
// offers none gets none.
func (l *Listener) choose(offered []string) (string, bool) {
	if len(offered) == 0 {
		return "", true
	}
	for _, p := range offered {
		if l.protos[p] {
			return p, true
		}
	}
	return "", false
}

// canonicalOrigin is an allowed_origins entry as a browser would send
// it in Origin: in lower case, without a trailing slash, and without the
// scheme's default port, which browsers leave out (browser trial:
// "https://bbs.test:443" never matched "https://bbs.test").
func canonicalOrigin(o string) string {
	o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return o
	}
	switch {
	case u.Port() == "443" && (u.Scheme == "https" || u.Scheme == "wss"),
		u.Port() == "80" && (u.Scheme == "http" || u.Scheme == "ws"):
		return u.Scheme + "://" + strings.TrimSuffix(u.Host, ":"+u.Port())
	}
	return o
}

// originAllowed applies the origin policy (see the package comment). A
// refusal may come with a hint for the log line.
func (l *Listener) originAllowed(r *http.Request) (origin string, ok bool, hint string) {
	origin = r.Header.Get("Origin")
	if origin == "" {
		return "", true, ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Scheme == "" {
		return origin, false, ""
	}
	if l.anyOrig {
		return origin, true, ""
	}
	// Canonical as the entries are: a client other than a browser may
	// write the default port (review).
	full := canonicalOrigin(u.Scheme + "://" + u.Host)
	host := strings.ToLower(u.Host)
	for _, o := range l.origins {
		if o == full || o == host {
			return origin, true, ""
		}
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return origin, false, ""
	}
	// Same origin. On a connection to a loopback address, a DNS name
	// proves nothing: a page on evil.example whose name the attacker
	// then points at 127.0.0.1 (DNS rebinding) is its own origin, and
	// the browser sends Host and Origin evil.example. Only localhost and
	// IP literals, which no one else's DNS can rebind, pass as the same
	// origin there; other names must be listed. So on a private network
	// (see rebindable), and on a listener that answers only some callers
	// (NamesListedOnly).
	where := rebindable(r)
	if where == "" && l.listed != nil && l.listed() {
		where = "a listener with allowed_sources"
	}
	if where != "" && !unrebindableHost(r.Host) {
		return origin, false, " (a name other than localhost on " + where + " may be a DNS-rebinding page; to accept it, list the origin in allowed_origins)"
	}
	return origin, true, ""
}

// rebindable says where r arrived if a DNS-rebinding page could have sent
// it, else "": on a connection to a loopback address (net/http's
// LocalAddrContextKey, whatever address the server listens on), or to a
// private or link-local address from one (a gateway on a LAN, which a
// page on the Internet can reach through the browser of a user on that
// LAN: security trial). A caller from a public address is not a browser
// inside the network, so a gateway on a private address behind 1:1 NAT
// (a cloud machine) keeps its same-origin pages.
func rebindable(r *http.Request) string {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return ""
	}
	if ap.Addr().Unmap().IsLoopback() {
		return "a loopback address"
	}
	if !inside(ap.Addr()) {
		return ""
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && (inside(peer.Addr()) || peer.Addr().Unmap().IsLoopback()) {
		return "a private address"
	}
	return ""
}

// inside reports whether a is a private (RFC 1918, RFC 4193), shared
// (RFC 6598, carrier-grade NAT and overlay networks such as Tailscale's
// 100.64.0.0/10) or link-local unicast address. A LAN on global IPv6
// addresses cannot be told from the Internet.
func inside(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLinkLocalUnicast() || sharedSpace.Contains(a)
}

// sharedSpace is RFC 6598's shared address space.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// unrebindableHost reports whether a Host header (with or without a port)
// names "localhost" or is an IP literal.
func unrebindableHost(hostport string) bool {
	h := hostport
	if sh, _, err := net.SplitHostPort(hostport); err == nil {
		h = sh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}

// clientAddr returns the caller's address and whether it came through a
// trusted proxy. The error is errUnreadableHop when a trusted proxy named
// the caller in a way that cannot be read (a garbled or zoned hop, say
// "unknown", where the walk from the nearest hop stops before it finds
// an address that is not a trusted proxy's): the caller is unknown, and
// neither the proxy's address nor a trusted hop's may stand for it (a
// proxy on loopback would make them local for text_login = "secure",
// and put them all under one per_source count).
func (l *Listener) clientAddr(r *http.Request) (string, bool, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, false, nil
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(peer) {
		return r.RemoteAddr, false, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			// An empty element ("203.0.113.7,") names nobody and
			// stops nothing.
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	if len(hops) == 0 {
		return r.RemoteAddr, false, nil
	}
	// Walk from the nearest hop outwards; the first address not belonging
	// to a trusted proxy is the caller. Anything left of it may be forged.
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			if errors.Is(err, errNoCallerHop) {
				return "", true, fmt.Errorf("%w: %.60q (%v)", errUnreadableHop, hops[i], "no caller has that address")
			}
			return "", true, fmt.Errorf("%w: %.60q", errUnreadableHop, hops[i])
		}
		if !l.trusted(a) {
			return net.JoinHostPort(a.String(), "0"), true, nil
		}
		last = a
	}
	// Every hop is a trusted proxy: the call began at the last of them.
	return net.JoinHostPort(last.String(), "0"), true, nil
}

// forwardedHTTPS reports whether r comes from a trusted proxy that says
// the caller reached it over TLS (X-Forwarded-Proto "https", the last
// value). It is believed with or without X-Forwarded-For: a proxy that
// sends only X-Forwarded-Proto leaves the line with the proxy's address
// (LineInfo.Proxied false) but marks it Secure.
func (l *Listener) forwardedHTTPS(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(peer) {
		return false
	}
	return strings.EqualFold(lastValue(r.Header.Values("X-Forwarded-Proto")), "https")
}

// caller names the caller of r for a log line: the address as believed
// (clientAddr: X-Forwarded-For from a trusted proxy) and, when that came
// from a proxy, the proxy's own address ("203.0.113.7:0 via trusted
// proxy 127.0.0.1:41822").
func (l *Listener) caller(r *http.Request) string {
	remote, proxied, err := l.clientAddr(r)
	switch {
	case err != nil:
		return "a caller it could not name (" + err.Error() + ") via trusted proxy " + r.RemoteAddr
	case !proxied:
		return remote
	}
	return remote + " via trusted proxy " + r.RemoteAddr
}

// errZonedHop is parseHop's error for an address with an IPv6 zone.
var errZonedHop = errors.New("ws: X-Forwarded-For hop with an IPv6 zone")

// errUnreadableHop is clientAddr's error for a trusted proxy's
// X-Forwarded-For that does not name the caller.
var errUnreadableHop = errors.New("X-Forwarded-For hop is not a caller's IP address")

// parseHop parses one X-Forwarded-For hop, an IP address with or
// without a port. A hop with an IPv6 zone ("fe80::1%eth0") is rejected
// like any malformed hop rather than stripped of its zone: a zone names
// an interface of the host that wrote it, so no proxy forwarding a
// caller from elsewhere writes one, and a link-local address without
// its zone says nothing about who called. And the zone is free text
// (netip takes any octets after the '%'), which would reach the log and
// the call records in the caller's address: control characters, bidi
// overrides, terminal escape sequences.
func parseHop(s string) (netip.Addr, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1] // "[2001:db8::7]": an IPv6 address without a port
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, perr
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, errZonedHop
	}
	if a = a.Unmap(); transport.NoCaller(a) {
		return netip.Addr{}, errNoCallerHop
	}
	return a, nil
}

// errNoCallerHop is parseHop's error for an address no caller has.
var errNoCallerHop = errors.New("ws: X-Forwarded-For hop that is no caller's address")

func (l *Listener) trusted(a netip.Addr) bool {
	// A link-local peer's address has its zone (the interface), which no
	// prefix contains.
	a = a.Unmap().WithZone("")
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	parts := strings.Split(vs[len(vs)-1], ",")
	return strings.TrimSpace(parts[len(parts)-1])
}

// Accept returns the next upgraded call. After Close it returns an error
// wrapping net.ErrClosed; when ctx ends, ctx.Err().
func (l *Listener) Accept(ctx context.Context) (transport.Line, error) {
	line, err := l.AcceptWS(ctx)
	if err != nil {
		return nil, err
	}
	return line, nil
}

// AcceptWS is Accept returning the concrete *Line.
func (l *Listener) AcceptWS(ctx context.Context) (*Line, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("ws: accept: %w", net.ErrClosed)
	default:
	}
	select {
	case line := <-l.accept:
		return line, nil
	case <-l.done:
		return nil, fmt.Errorf("ws: accept: %w", net.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr is the listener's line URL (ws://host:port/path) for a Listener
// made by Listen, "" for one made by NewHandler.
func (l *Listener) Addr() string { return l.addr }

// Close stops answering: Accept fails, ServeHTTP answers 503, and a server
// started by Listen stops. Lines already accepted are not affected.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		if l.srv != nil {
			err = l.srv.Close()
			<-l.serveDone
		}
	})
	return err
}

// Listen starts an HTTP (ws://) or HTTPS (wss://) server on the address's
// host:port that serves the listener at the address's path (default "/")
// and answers 404 elsewhere. wss needs opts.CertFile and opts.KeyFile.
func Listen(address string, opts Options) (*Listener, error) {
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("ws: listen %q: %w", address, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("ws: listen %q: scheme must be ws or wss", address)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("ws: listen %q: missing port", address)
	}
	var tlsCfg *tls.Config
	if u.Scheme == "wss" {
		if tlsCfg, err = opts.ServerTLS(); errors.Is(err, ErrNoCertificate) {
			return nil, fmt.Errorf("%w: listening on %q needs Options.TLS, or Options.CertFile and Options.KeyFile", ErrNoCertificate, address)
		} else if err != nil {
			return nil, fmt.Errorf("ws: listen %q: %w", address, err)
		}
	}
	l, err := NewHandler(opts)
	if err != nil {
		return nil, err
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	ln, err := listenaddr.Listen(net.ListenConfig{}, u.Host)
	if err != nil {
		return nil, fmt.Errorf("ws: listen %q: %w", address, err)
	}
	l.addr = u.Scheme + "://" + ln.Addr().String() + path
	l.srv = &http.Server{
		Handler: l.BoundResponses(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			l.ServeHTTP(w, r)
		}), httpStallTimeout, httpResponseTimeout),
		ReadHeaderTimeout: HTTPReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(logWriter{l}, "", 0),
	}
	ln = l.LimitConns(ln, l.srv)
	if tlsCfg != nil {
		ln = NewTLSListener(ln, tlsCfg) // plain HTTP gets a redirect to https
	}
	l.serveDone = make(chan struct{})
	go func() {
		defer close(l.serveDone)
		_ = l.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return l, nil
}

// logWriter feeds net/http's error log into the Logger.
type logWriter struct{ l *Listener }

func (w logWriter) Write(p []byte) (int, error) {
	// net/http's own lines begin "http: ".
	w.l.logf("ws: http: %s", strings.TrimPrefix(strings.TrimRight(string(p), "\n"), "http: "))
	return len(p), nil
}
