package bridge

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/admit"
	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/listenaddr"
	"github.com/dialgate/dialgate/internal/retry"
	"github.com/dialgate/dialgate/internal/tlscert"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
	"github.com/dialgate/dialgate/transport/tcp"
	"github.com/dialgate/dialgate/transport/ws"
	"github.com/dialgate/dialgate/web"
)

// printfLogger adapts zap to the narrow Printf loggers of the transports.
// Their lines are per-connection detail (telnet negotiation, hang-up
// details) and go to the debug level: the call log has one "call ended"
// line per call, and a connection flood must not turn into a log flood.
// What the operator has to act on goes through noticeLogger instead.
type printfLogger struct{ s *zap.SugaredLogger }

func (p printfLogger) Printf(format string, args ...any) { p.s.Debugf(format, args...) }

// noticeLogger takes the transports' lines an operator has to act on
// (WebSocket calls refused for their origin, with the allowed_origins
// hint; connections closed over the connection limits) to the warn
// level, at most one line a second per listener: a flood of refused
// connections must not become a log flood. A line after a quiet second
// says how many were left out before it.
type noticeLogger struct {
	s *zap.SugaredLogger

	mu      sync.Mutex
	last    time.Time
	dropped int
	now     func() time.Time
}

func newNoticeLogger(s *zap.SugaredLogger) *noticeLogger {
	return &noticeLogger{s: s, now: time.Now}
}

func (n *noticeLogger) Printf(format string, args ...any) {
	n.mu.Lock()
	now := n.now()
	if !n.last.IsZero() && now.Sub(n.last) < time.Second {
		n.dropped++
		n.mu.Unlock()
		return
	}
	dropped := n.dropped
	n.last, n.dropped = now, 0
	n.mu.Unlock()
	if dropped > 0 {
		n.s.Warnf(format+" (%d more such lines left out)", append(args, dropped)...)
		return
	}
	n.s.Warnf(format, args...)
}

// OpenListener starts answering on a configured listener's address:
// tcp:// and telnet:// with transport/tcp (TLS when tls_cert and tls_key
// are set), ws:// and wss:// with transport/ws (allowed origins, trusted
// proxies, TLS). TLS handshakes get DefaultTLSHandshakeTimeout. A ws:// or
// wss:// listener whose line path is not "/" also serves the browser
// terminal (package web) on its other paths, "/" being the page; the page
// logs in with V.42 and Access Security when the listener has
// v42 = "lapm", with the text login otherwise. On ws:// and wss://, a
// listener with allowed_sources takes a page's own origin by a DNS name
// only if allowed_origins lists it (ws.Options.NamesListedOnly).
func OpenListener(l config.Listener, log *zap.Logger) (transport.Listener, error) {
	restricted := len(l.AllowedSources) > 0
	ln, _, err := openListener(l, "", log, DefaultTLSHandshakeTimeout, func() bool { return restricted })
	return ln, err
}

// DefaultTLSHandshakeTimeout bounds the TLS handshake (and the PROXY
// header) of a tcp:// or telnet:// listener with TLS files (or
// proxy_protocol). Start uses [security] handshake_deadline instead when
// that is shorter.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// maxTLSPending bounds the connections being prepared (PROXY header, TLS
// handshake) on one listener, and maxTLSPendingPerSource those from one
// address (other than a trusted proxy's, which carries everyone's):
// connections beyond either are closed at once, so that a flood of peers
// that never finish cannot pile up goroutines and descriptors, and one
// address cannot take every slot from the others for the handshake
// timeout. The refusals are counted in a warning at most once a second.
const (
	maxTLSPending          = 256
	maxTLSPendingPerSource = 32
)

// openListener is OpenListener, which also returns the listener's
// certificate (nil: no TLS), for ReloadCertificates.
// name is the gateway's name (gateway_name) for the browser page ("":
// the page's own); restricted reports whether the listener has
// allowed_sources now (ws.Options.NamesListedOnly).
func openListener(l config.Listener, name string, log *zap.Logger, tlsTimeout time.Duration, restricted func() bool) (transport.Listener, *tlscert.Cert, error) {
	if log == nil {
		log = zap.NewNop()
	}
	lg := printfLogger{log.With(zap.String("listener", l.Name)).Sugar()}
	u, err := url.Parse(l.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: listener %s: %w", l.Name, err)
	}
	// Config validation refuses these; Start and OpenListener take a
	// Listener from any caller, and a half pair must not fall back to a
	// plain listener.
	if (l.TLSCert == "") != (l.TLSKey == "") || l.Scheme() == "ws" && l.TLSCert != "" {
		return nil, nil, fmt.Errorf("bridge: listener %s: tls_cert and tls_key go together, on tcp://, telnet:// and wss:// listeners", l.Name)
	}
	var cert *tlscert.Cert
	if l.TLSCert != "" {
		if cert, err = tlscert.Load(l.TLSCert, l.TLSKey); err != nil {
			return nil, nil, fmt.Errorf("bridge: listener %s: %w", l.Name, err)
		}
	}
	var ln transport.Listener
	switch l.Scheme() {
	case "tcp", "telnet":
		opts := tcp.Options{Telnet: l.TelnetOn(), Logger: lg}
		if cert == nil && !l.ProxyProtocol {
			ln, err = tcp.Listen(u.Host, opts)
			break
		}
		var trusted proxyproto.Trusted
		if l.ProxyProtocol {
			if trusted, err = proxyproto.ParseTrusted(l.TrustedProxies); err != nil {
				return nil, nil, fmt.Errorf("bridge: listener %s: %w", l.Name, err)
			}
		}
		var cfg *tls.Config
		if cert != nil {
			cfg = cert.ServerConfig()
		}
		ln, err = listenPrepared(u.Host, cfg, trusted, opts, tlsTimeout, lg, newNoticeLogger(lg.s))
	case "ws", "wss":
		opts := ws.Options{AllowedOrigins: l.AllowedOrigins, TrustedProxies: l.TrustedProxies, Logger: lg, Notices: newNoticeLogger(lg.s),
			MaxConns: l.HTTPMaxConns, MaxConnsPerSource: l.HTTPMaxConnsPerSource, NamesListedOnly: restricted}
		if cert != nil {
			opts.TLS = cert.ServerConfig()
		}
		if u.Path != "" && u.Path != "/" {
			// The browser terminal's login: V.42 with Access Security in
			// the page when the listener starts LAPM at once, else the
			// text login.
			mode := web.ModeText
			if l.V42 == config.V42LAPM {
				mode = web.ModeV42
			}
			ln, err = listenWithPage(u, opts, web.Options{LinePath: u.Path, Mode: mode, Name: name, Charset: l.Charset}, lg)
		} else {
			ln, err = ws.Listen(l.Address, opts)
		}
	default:
		return nil, nil, fmt.Errorf("bridge: listener %s: %w %q", l.Name, transport.ErrUnknownScheme, l.Scheme())
	}
	if err != nil {
		return nil, nil, err
	}
	return ln, cert, nil
}

// preparedListener answers raw or telnet lines that need work before
// they are lines: a PROXY protocol header from a trusted proxy
// (proxy_protocol), then a TLS handshake (tls_cert). A background loop
// accepts connections and prepares each in its own goroutine under a
// deadline; Accept hands out only prepared lines. A peer that connects
// and never speaks TLS (or a trusted proxy that never sends its header)
// therefore never reaches the call flow (where the first write would
// wait for its handshake with no deadline) and never takes a line slot.
type preparedListener struct {
	ln      net.Listener
	host    string      // as configured (0.0.0.0 stays 0.0.0.0 in Addr)
	cfg     *tls.Config // nil: no TLS
	trusted proxyproto.Trusted
	opts    tcp.Options
	timeout time.Duration
	log     printfLogger
	notices *noticeLogger // PROXY headers refused: the operator's to fix

	ready  chan prepared // prepared, waiting for Accept
	failed chan error    // the accept loop ended
	stop   context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	// The connections being prepared, in all and by source
	// (auth.SourceKey), bounded by maxTLSPending and
	// maxTLSPendingPerSource; refusals sums those closed over them.
	places   admit.Counter[string]
	refusals burstlog.Log
	// handshaking holds the places of connections still waiting for
	// their PROXY header or TLS handshake, with when they came: when
	// every place is taken, the one that has waited longest is closed
	// to make room (evictOldest), as transport/ws does for HTTP
	// connections, so that silent peers from a few addresses cannot
	// keep every TLS caller out.
	handshaking admit.Waiting[*pendingPlace]
	// turnedAway sums the prepared connections that heard BUSY after
	// waiting preparedWait for Accept.
	turnedAway burstlog.Log
	once       sync.Once
	wg         sync.WaitGroup
}

// msgTLSOnly is what a client that does not speak TLS reads from a TLS
// tcp:// or telnet:// listener before it hangs up.
const msgTLSOnly = "\r\nNO CARRIER (this line speaks TLS only: connect with a TLS client, such as gateway dial telnets://, telnet-ssl or openssl s_client)\r\n"

// prepared is a connection ready to be a line.
type prepared struct {
	conn net.Conn
	peer *tcp.Peer // the caller as the trusted proxy described it; nil: the connection's peer
}

func listenPrepared(addr string, cfg *tls.Config, trusted proxyproto.Trusted, opts tcp.Options, timeout time.Duration, log printfLogger, notices *noticeLogger) (transport.Listener, error) {
	ln, err := listenaddr.Listen(net.ListenConfig{}, addr)
	if err != nil {
		return nil, fmt.Errorf("bridge: listen %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	l := &preparedListener{
		ln: ln, host: host, cfg: cfg, trusted: trusted, opts: opts, timeout: timeout, log: log, notices: notices,
		ready: make(chan prepared), failed: make(chan error, 1),
		places: admit.Counter[string]{Max: maxTLSPending, PerSource: maxTLSPendingPerSource},
	}
	what := "TLS handshake"
	if cfg == nil {
		what = "PROXY header"
	}
	l.refusals.Emit = func(n int, last string) {
		notices.Printf("%d connection(s) closed at once: too many waiting for their %s or for a free line (last %s); each may wait %v, then %v for the line", n, what, last, timeout, preparedWait)
	}
	l.turnedAway.Emit = func(n int, last string) {
		notices.Printf("%d connection(s) hung up with BUSY after their %s: no free line within %v (last %s)", n, what, preparedWait, last)
	}
	l.stop, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

func (l *preparedListener) acceptLoop() {
	defer l.wg.Done()
	var backoff retry.Backoff
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				l.failed <- fmt.Errorf("bridge: accept: %w", net.ErrClosed)
				return
			}
			// Transient (EMFILE and the like): back off.
			delay := backoff.Next(time.Now())
			l.log.Printf("tcp: accept: %v; retrying in %v", err, delay)
			select {
			case <-time.After(delay):
			case <-l.stop.Done():
			}
			continue
		}
		src := auth.SourceKey(c.RemoteAddr().String())
		exempt := l.trusted.Contains(c.RemoteAddr().String())
		lim := l.places.Take(src, exempt)
		if lim == admit.Total && l.evictOldest() {
			lim = l.places.Take(src, exempt)
		}
		if lim != admit.None {
			c.Close()
			why := "the listener's limit"
			if lim == admit.Source {
				why = "the limit for one address"
			}
			l.refusals.Add(c.RemoteAddr().String() + ": " + why)
			continue
		}
		pp := &pendingPlace{conn: c, src: src}
		l.handshaking.Add(pp)
		l.wg.Add(1)
		go l.prepare(c, pp)
	}
}

// pendingPlace is a connection's place among those being prepared.
type pendingPlace struct {
	conn net.Conn
	src  string
	once sync.Once
	// evicted: closed by evictOldest (its errors are not the peer's).
	evicted atomic.Bool
}

// settled takes pp out of reach of evictOldest: its PROXY header and
// TLS handshake are done (it still holds its place until it is a line).
func (l *preparedListener) settled(pp *pendingPlace) { l.handshaking.Remove(pp) }

// release gives pp's place back, once (prepare and evictOldest may both).
func (l *preparedListener) release(pp *pendingPlace) {
	l.settled(pp)
	pp.once.Do(func() { l.places.Release(pp.src) })
}

// evictOldest closes the connection that has waited longest for its
// PROXY header or TLS handshake, gives its place back, and reports
// whether there was one. A real handshake takes milliseconds; without
// this, 32 silent connections from each of 8 addresses held all 256
// places for the handshake timeout and, reopened, kept every TLS caller
// out (pentest).
func (l *preparedListener) evictOldest() bool {
	victim, ok := l.handshaking.TakeOldest(nil)
	if !ok {
		return false
	}
	victim.evicted.Store(true)
	l.release(victim)
	victim.conn.Close()
	l.refusals.Add(victim.conn.RemoteAddr().String() + ": closed to make room: the longest wait for its handshake")
	return true
}

// prepare reads a trusted proxy's PROXY header and does the TLS
// handshake, both within l.timeout, and hands the connection to Accept.
func (l *preparedListener) prepare(c net.Conn, pp *pendingPlace) {
	defer l.wg.Done()
	defer l.release(pp)
	ctx, cancel := context.WithTimeout(l.stop, l.timeout)
	defer cancel()
	p := prepared{conn: c}
	from := c.RemoteAddr().String()
	// own: the proxy's own connection: its health check, answered by
	// the connection (and the TLS handshake) alone, never a call.
	own := false
	if l.trusted.Contains(from) {
		stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
		h, err := proxyproto.Read(c)
		if !stop() {
			err = cmp.Or(err, ctx.Err())
		}
		_ = c.SetReadDeadline(time.Time{})
		switch {
		case err == nil && (h.Local || sameAddrPort(h.Source, from) && sameAddrPort(h.Dest, c.LocalAddr().String())):
			// LOCAL (version 2: HAProxy's check on a send-proxy-v2
			// server; version 1 UNKNOWN), or a header that names this
			// very connection (HAProxy's check on a send-proxy
			// server). No caller's address: as a call it would be
			// the proxy's, local (loopback) and, on a TLS listener,
			// encrypted, whoever is behind it (HAProxy's unix@
			// frontends send LOCAL for their callers).
			own = true
		case err == nil:
			p.peer = &tcp.Peer{RemoteAddr: h.Source.String(), Secure: h.TLS}
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
			// Closed before a single octet: a proxy's health check
			// (HAProxy's "check" sends no header unless
			// check-send-proxy), not a call.
			l.log.Printf("tcp: %s: closed before a PROXY header (a health check?)", from)
			c.Close()
			return
		case l.stop.Err() != nil || pp.evicted.Load():
			// The listener is closing, or this connection was closed
			// to make room (evictOldest): not the proxy's fault.
			c.Close()
			return
		default:
			// A trusted proxy that sends no header, or a broken one, is
			// misconfigured: every caller through it would be lost.
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no PROXY header within %v", l.timeout)
			}
			l.notices.Printf("PROXY protocol header from trusted proxy %s refused: %v; connection closed (does the proxy send one: HAProxy send-proxy or send-proxy-v2, nginx proxy_protocol on?)", from, err)
			c.Close()
			return
		}
	}
	if l.cfg != nil {
		// Metered beneath the TLS: the line's pre-login read budget
		// counts every octet of the records, not their data only.
		tc := tls.Server(tcp.MeterWire(c), l.cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			l.log.Printf("tls: %s: handshake: %v", c.RemoteAddr(), err)
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) && rh.Conn != nil {
				// A plain telnet or raw client on a TLS port: say so in
				// its own terms before hanging up, as an HTTPS server
				// answers plain HTTP.
				_ = rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = io.WriteString(rh.Conn, msgTLSOnly)
			}
			c.Close()
			return
		}
		p.conn = tc
	}
	l.settled(pp)
	if own {
		// A health check (it connects, perhaps completes TLS, and
		// goes): a call would only leave a record of a caller who left.
		l.log.Printf("tcp: %s: the proxy's own connection (LOCAL): closed, not a call", from)
		c.Close()
		return
	}
	wait := time.NewTimer(preparedWait)
	defer wait.Stop()
	select {
	case l.ready <- p:
	case <-wait.C:
		// The gateway takes no calls (every line and the calls over
		// them in flight: callGate): the caller hears BUSY, and its
		// place goes to the next one (review: prepared connections
		// waited for ever, each holding its place).
		// Into the TLS session when there is one (review: it went
		// in clear, under it), then its close_notify.
		_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(p.conn, msgPreparedBusy)
		p.conn.Close()
		who := from
		if p.peer != nil {
			who = p.peer.RemoteAddr + " (through " + from + ")"
		}
		l.turnedAway.Add(who)
	case <-l.stop.Done():
		c.Close()
	}
}

// preparedWait bounds the wait of a prepared connection for Accept,
// as transport/ws's acceptWait does an upgraded one's. Tests shorten it.
var preparedWait = 10 * time.Second

// msgPreparedBusy is what a prepared connection that waited preparedWait
// hears (busyMessage's form without the gateway's name, which a listener
// does not know).
const msgPreparedBusy = "\r\nall lines busy; try again later\r\n" + msgBusy

// sameAddrPort reports whether a and the host:port b are one address
// (IPv4-mapped IPv6 and IPv4 alike).
func sameAddrPort(a netip.AddrPort, b string) bool {
	bp, err := netip.ParseAddrPort(b)
	return err == nil && a.Port() == bp.Port() && a.Addr().Unmap() == bp.Addr().Unmap()
}

// Accept returns the next prepared line. After Close it returns an error
// wrapping net.ErrClosed.
func (l *preparedListener) Accept(ctx context.Context) (transport.Line, error) {
	select {
	case p := <-l.ready:
		opts := l.opts
		opts.Proxied = p.peer
		line := tcp.NewLine(p.conn, true, opts)
		if l.cfg != nil && p.peer == nil {
			// Encrypted from the caller. A proxied caller's line is
			// encrypted only from the proxy on: the header's TLS
			// flag says whether the caller's own was (tcp.Peer).
			return secureLine{line}, nil
		}
		return line, nil
	case err := <-l.failed:
		l.failed <- err // for later calls
		return nil, err
	case <-l.stop.Done():
		return nil, fmt.Errorf("bridge: accept: %w", net.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *preparedListener) Addr() string {
	s := "tcp"
	if l.opts.Telnet {
		s = "telnet"
	}
	a := l.ln.Addr().String()
	if _, port, err := net.SplitHostPort(a); err == nil && l.host != "" {
		a = net.JoinHostPort(l.host, port)
	}
	return s + "://" + a
}

// Close stops answering: the accept loop ends and connections being
// prepared are abandoned; lines already accepted stay up. Close is
// idempotent.
func (l *preparedListener) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
		l.refusals.Close()
		l.turnedAway.Close()
	})
	return err
}

// secureLine is a tcp line inside TLS.
type secureLine struct{ *tcp.Line }

func (l secureLine) Info() transport.LineInfo {
	i := l.Line.Info()
	i.Secure, i.Transport = true, tcp.SecureTransport(i.Transport)
	return i
}

// pageListener is a WebSocket listener whose HTTP server serves the line
// at its path and the browser terminal (package web) everywhere else.
type pageListener struct {
	*ws.Listener
	addr string
	srv  *http.Server
	done chan struct{}
	once sync.Once
}

// pageIdleTimeout closes a keep-alive connection to the page's server
// that sends no further request (ws.HTTPIdleTimeout; a variable for
// tests). Without it, every browser that loaded the page, and anyone
// who made one request and then kept the connection open, held a
// goroutine and a descriptor forever.
var pageIdleTimeout = ws.HTTPIdleTimeout

// The bounds on the rest of an exchange with the page's server
// (ws.HTTPReadTimeout, ws.HTTPWriteStallTimeout, ws.HTTPResponseTimeout;
// variables for tests). Without them a client that asked for
// dialgate.wasm (4.5 MB) and read nothing held its connection, and one
// of the line's MaxConns slots, for as long as it liked.
var (
	pageReadTimeout     = ws.HTTPReadTimeout
	pageStallTimeout    = ws.HTTPWriteStallTimeout
	pageResponseTimeout = ws.HTTPResponseTimeout
)

// listenWithPage is ws.Listen plus the page. If the line path cannot be
// put into the page, the listener serves the line only (and logs why).
func listenWithPage(u *url.URL, opts ws.Options, po web.Options, lg printfLogger) (transport.Listener, error) {
	page, err := web.Handler(po)
	if err != nil {
		lg.Printf("bridge: no browser terminal page on %s: %v", u.Redacted(), err)
		return ws.Listen(u.String(), opts)
	}
	var tlsCfg *tls.Config
	if u.Scheme == "wss" {
		if tlsCfg, err = opts.ServerTLS(); errors.Is(err, ws.ErrNoCertificate) {
			return nil, fmt.Errorf("bridge: listen %s: %w", u.Redacted(), err)
		} else if err != nil {
			return nil, fmt.Errorf("bridge: TLS certificate: %w", err)
		}
	}
	line, err := ws.NewHandler(opts)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	ln, err := listenaddr.Listen(net.ListenConfig{}, u.Host)
	if err != nil {
		return nil, fmt.Errorf("bridge: listen %s: %w", u.Host, err)
	}
	p := &pageListener{Listener: line, addr: u.Scheme + "://" + ln.Addr().String() + u.Path, done: make(chan struct{})}
	path := u.Path
	p.srv = &http.Server{
		// Every response, the page's and a refused upgrade's, must keep
		// up (the line's upgrade is not bounded: it clears the deadline).
		Handler: line.BoundResponses(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				line.ServeHTTP(w, r)
				return
			}
			page.ServeHTTP(w, r)
		}), pageStallTimeout, pageResponseTimeout),
		ReadHeaderTimeout: ws.HTTPReadHeaderTimeout,
		ReadTimeout:       pageReadTimeout,
		IdleTimeout:       pageIdleTimeout,
		MaxHeaderBytes:    ws.MaxHeaderBytes,
		ErrorLog:          log.New(printfWriter{lg}, "", 0),
	}
	// The page's connections count towards the line's bounds on HTTP
	// connections that are not lines (ws.Options.MaxConns).
	ln = line.LimitConns(ln, p.srv)
	if tlsCfg != nil {
		ln = ws.NewTLSListener(ln, tlsCfg) // plain HTTP gets a redirect to https
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln) // http.ErrServerClosed after Close
	}()
	return p, nil
}

// Addr is the line URL with the real port.
func (p *pageListener) Addr() string { return p.addr }

// Close stops answering and stops the HTTP server. Lines already
// accepted (hijacked connections, unknown to the server) are not
// affected.
func (p *pageListener) Close() error {
	err := p.Listener.Close()
	p.once.Do(func() {
		if cerr := p.srv.Close(); err == nil {
			err = cerr
		}
		<-p.done
	})
	return err
}

// printfWriter feeds net/http's error log into a Printf logger.
type printfWriter struct{ l printfLogger }

func (w printfWriter) Write(b []byte) (int, error) {
	// net/http's own lines begin "http: ".
	w.l.Printf("bridge: http: %s", strings.TrimPrefix(strings.TrimRight(string(b), "\n"), "http: "))
	return len(b), nil
}
