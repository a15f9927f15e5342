package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// dialAccept dials s and, if that succeeds, accepts and closes both ends.
func dialAccept(t *testing.T, s *server, opts DialOptions) error {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	accepted := make(chan *Line, 1)
	go func() {
		l, _ := s.l.AcceptWS(ctx)
		accepted <- l
	}()
	c, err := Dial(ctx, s.url, opts)
	if err != nil {
		s.l.Close() // unblock the Accept above; s is not used again
		if l := <-accepted; l != nil {
			l.Close()
		}
		return err
	}
	l := <-accepted
	c.Close()
	if l != nil {
		l.Close()
	}
	return nil
}

func TestOriginPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, origin string
		allowed      []string
		ok           bool
	}{
		{"absent", "", nil, true},
		{"same origin", "http://SELF", nil, true},
		{"foreign", "http://evil.example", nil, false},
		{"null", "null", nil, false},
		{"garbage", "::", nil, false},
		{"listed full origin", "https://bbs.example.org", []string{"https://bbs.example.org/"}, true},
		{"listed origin, other scheme", "http://bbs.example.org", []string{"https://bbs.example.org"}, false},
		{"listed host", "http://Term.Example.net:8080", []string{"term.example.net:8080"}, true},
		{"listed host, other port", "http://term.example.net:8081", []string{"term.example.net:8080"}, false},
		{"wildcard", "http://anything.example", []string{"*"}, true},
		// Browsers leave the default port out (browser trial).
		{"listed with the default port", "https://bbs.example.org", []string{"https://BBS.example.org:443"}, true},
		{"listed IPv6 with the default port", "http://[2001:db8::1]", []string{"http://[2001:db8::1]:80/"}, true},
		{"listed with another port", "https://bbs.example.org", []string{"https://bbs.example.org:8443"}, false},
		{"sent with the default port", "https://bbs.example.org:443", []string{"https://bbs.example.org:443"}, true},
		{"sent with the default port, listed without", "https://bbs.example.org:443", []string{"https://bbs.example.org"}, true},
		{"listed with http's default port for https", "https://bbs.example.org", []string{"https://bbs.example.org:80"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{AllowedOrigins: tc.allowed})
			origin := strings.Replace(tc.origin, "SELF", strings.TrimPrefix(strings.TrimSuffix(s.url, "/line"), "ws://"), 1)
			err := dialAccept(t, s, DialOptions{Origin: origin})
			if tc.ok {
				if err != nil {
					t.Fatalf("origin %q refused: %v", origin, err)
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || !errors.Is(err, ErrHandshake) {
				t.Fatalf("origin %q: %v, want HandshakeError 403", origin, err)
			}
			s.log.wait(t, "origin", "not allowed")
		})
	}
}

func TestSubprotocolNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		server  []string
		offered []string
		want    string // "" with status 0: none; status: refused
		status  int
	}{
		{"client order wins", nil, []string{"telnet", "base64", "binary"}, "base64", 0},
		{"fTelnet offer", nil, []string{"binary", "base64", "plain"}, "binary", 0},
		{"none offered", nil, nil, "", 0},
		{"restricted server", []string{"binary"}, []string{"plain", "binary"}, "binary", 0},
		{"nothing supported", nil, []string{"telnet", "chat"}, "", http.StatusBadRequest},
		{"not enabled", []string{"binary"}, []string{"plain"}, "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{Subprotocols: tc.server})
			ctx := testCtx(t, 10*time.Second)
			accepted := make(chan *Line, 1)
			go func() {
				l, _ := s.l.AcceptWS(ctx)
				accepted <- l
			}()
			d := websocket.Dialer{Subprotocols: tc.offered}
			conn, resp, err := d.DialContext(ctx, s.url, nil)
			if tc.status != 0 {
				if err == nil {
					conn.Close()
				}
				if resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("got %v, want HTTP %d", err, tc.status)
				}
				s.log.wait(t, "no supported subprotocol")
				s.l.Close()
				<-accepted
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := <-accepted
			if conn.Subprotocol() != tc.want || l.Info().Subproto != tc.want {
				t.Errorf("negotiated %q (line says %q), want %q", conn.Subprotocol(), l.Info().Subproto, tc.want)
			}
			conn.Close()
			l.Close()
		})
	}
	if _, err := NewHandler(Options{Subprotocols: []string{"telnet"}}); err == nil || !strings.HasPrefix(err.Error(), "ws: ") {
		t.Errorf("NewHandler with unknown subprotocol: %v", err)
	}
	if _, err := NewHandler(Options{PingInterval: time.Minute, IdleTimeout: time.Second}); err == nil {
		t.Error("NewHandler accepted IdleTimeout <= PingInterval")
	}
	if _, err := NewHandler(Options{TrustedProxies: []string{"10.0.0.0/33"}}); err == nil {
		t.Error("NewHandler accepted a bad proxy prefix")
	}
}

func TestClientAddr(t *testing.T) {
	l, err := NewHandler(Options{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
		proxied    bool
	}{
		{"direct", "198.51.100.9:4000", nil, "198.51.100.9:4000", false},
		{"untrusted peer's header ignored", "198.51.100.9:4000", []string{"203.0.113.7"}, "198.51.100.9:4000", false},
		{"trusted peer without header", "10.1.2.3:4000", nil, "10.1.2.3:4000", false},
		{"one proxy", "10.1.2.3:4000", []string{"203.0.113.7"}, "203.0.113.7:0", true},
		{"forged left part", "10.1.2.3:4000", []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7:0", true},
		{"proxy chain", "10.1.2.3:4000", []string{"203.0.113.7, 192.0.2.1", "10.9.9.9"}, "203.0.113.7:0", true},
		{"all trusted", "10.1.2.3:4000", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4:0", true},
		// A trusted proxy's hop that does not name the caller: unknown
		// (IPv6 trial: the proxy's own address, local, stood for it).
		{"garbage hop", "10.1.2.3:4000", []string{"203.0.113.7, bogus, 10.5.5.5"}, "", true},
		{"garbage only", "10.1.2.3:4000", []string{"bogus"}, "", true},
		{"unknown", "10.1.2.3:4000", []string{"unknown"}, "", true},
		// No caller's address (security trial: 0.0.0.0 was believed).
		{"unspecified", "10.1.2.3:4000", []string{"0.0.0.0"}, "", true},
		{"unspecified v6", "10.1.2.3:4000", []string{"203.0.113.7, ::"}, "", true},
		{"multicast", "10.1.2.3:4000", []string{"224.0.0.1"}, "", true},
		{"broadcast", "10.1.2.3:4000", []string{"255.255.255.255"}, "", true},
		{"bracketed without port", "10.1.2.3:4000", []string{"[2001:db8::7]"}, "[2001:db8::7]:0", true},
		{"empty elements", "10.1.2.3:4000", []string{"203.0.113.7,", ", 10.5.5.5"}, "203.0.113.7:0", true},
		{"nginx appending to a client's garbage", "10.1.2.3:4000", []string{"garbage, 203.0.113.7"}, "203.0.113.7:0", true},
		{"hop with port", "10.1.2.3:4000", []string{"203.0.113.7:5555"}, "203.0.113.7:0", true},
		{"ipv6", "[2001:db8::1]:4000", []string{"2001:db8:1::5, 2001:4860::1"}, "[2001:4860::1]:0", true},
		{"mapped peer", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.7"}, "203.0.113.7:0", true},
	} {
		r, _ := http.NewRequest("GET", "http://gw/line", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, proxied, err := l.clientAddr(r)
		if got != tc.want || proxied != tc.proxied || (err != nil) != (tc.want == "") {
			t.Errorf("%s: clientAddr = %q, %v, %v; want %q, %v", tc.name, got, proxied, err, tc.want, tc.proxied)
		}
	}
}

// TestClientAddrLinkLocalProxy: a trusted proxy on a link-local address
// (its connections' addresses carry the interface's zone) is believed.
// IPv6 trial: no prefix contained a zoned address, so it never was.
func TestClientAddrLinkLocalProxy(t *testing.T) {
	for _, proxies := range [][]string{{"fe80::/64"}, {"fe80::1%lo"}} {
		l, err := NewHandler(Options{TrustedProxies: proxies})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest("GET", "http://gw/line", nil)
		r.RemoteAddr = "[fe80::1%lo]:4000"
		r.Header.Set("X-Forwarded-For", "2001:db8::7")
		if got, proxied, err := l.clientAddr(r); got != "[2001:db8::7]:0" || !proxied || err != nil {
			t.Errorf("proxies %q: clientAddr = %q, %v, %v", proxies, got, proxied, err)
		}
	}
}

func TestTrustedProxyEndToEnd(t *testing.T) {
	testutil.CheckGoroutines(t)
	hdr := http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}, "X-Forwarded-Proto": {"https"}}

	s := startServer(t, Options{TrustedProxies: []string{"127.0.0.1"}})
	_, l := pair(t, s, DialOptions{Header: hdr})
	if info := l.Info(); info.RemoteAddr != "203.0.113.7:0" || !info.Secure || info.Transport != "wss" {
		t.Errorf("behind trusted proxy: Info() = %+v", info)
	}

	s2 := startServer(t, Options{})
	_, l2 := pair(t, s2, DialOptions{Header: hdr})
	if info := l2.Info(); !strings.HasPrefix(info.RemoteAddr, "127.0.0.1:") || info.Secure || info.Transport != "ws" {
		t.Errorf("untrusted peer: Info() = %+v", info)
	}
}

// TestForwardedProtoWithoutFor: a trusted proxy's X-Forwarded-Proto
// https is believed without X-Forwarded-For: the line is Secure (wss),
// its address stays the proxy's and is not Proxied. Regression: the
// header was ignored unless X-Forwarded-For came with it, so such a
// proxy's https callers were refused a text_login = "secure" login
// beyond loopback.
func TestForwardedProtoWithoutFor(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{TrustedProxies: []string{"127.0.0.1"}})
	_, l := pair(t, s, DialOptions{Header: http.Header{"X-Forwarded-Proto": {"https"}}})
	if info := l.Info(); !strings.HasPrefix(info.RemoteAddr, "127.0.0.1:") || info.Proxied || !info.Secure || info.Transport != "wss" {
		t.Errorf("trusted proxy, X-Forwarded-Proto only: Info() = %+v", info)
	}

	s2 := startServer(t, Options{})
	_, l2 := pair(t, s2, DialOptions{Header: http.Header{"X-Forwarded-Proto": {"https"}}})
	if info := l2.Info(); info.Proxied || info.Secure || info.Transport != "ws" {
		t.Errorf("untrusted peer, X-Forwarded-Proto only: Info() = %+v", info)
	}

	h, err := NewHandler(Options{TrustedProxies: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer  string
		proto []string
		want  bool
	}{
		{"10.1.2.3:4000", []string{"https"}, true},
		{"10.1.2.3:4000", []string{"HTTPS"}, true},
		{"10.1.2.3:4000", []string{"http"}, false},
		{"10.1.2.3:4000", []string{"http, https"}, true}, // the nearest proxy's word
		{"10.1.2.3:4000", []string{"https", "http"}, false},
		{"10.1.2.3:4000", nil, false},
		{"198.51.100.9:4000", []string{"https"}, false},
		{"[::ffff:10.1.2.3]:4000", []string{"https"}, true},
		{"garbage", []string{"https"}, false},
	} {
		r, _ := http.NewRequest("GET", "http://gw/line", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.proto {
			r.Header.Add("X-Forwarded-Proto", v)
		}
		if got := h.forwardedHTTPS(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-Proto %q: forwardedHTTPS = %v, want %v", tc.peer, tc.proto, got, tc.want)
		}
	}
}

func TestListenerClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := s.l.Accept(context.Background())
		errc <- err
	}()
	if err := s.l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("pending Accept: %v, want net.ErrClosed", err)
	}
	if _, err := s.l.Accept(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	_, err := Dial(testCtx(t, 5*time.Second), s.url, DialOptions{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Dial after Close: %v, want HTTP 503", err)
	}
	s.log.wait(t, "listener closed")
	if err := s.l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Accept honours its context.
	s2 := startServer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s2.l.Accept(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept with ended context: %v", err)
	}
}

func TestNotWebSocket(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	c := &http.Client{}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http" + strings.TrimPrefix(s.url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: HTTP %d, want 400", resp.StatusCode)
	}
	s.log.wait(t, "upgrade refused")
}

// TestListenAndRegistry uses Listen through the transport registry: its
// own server at a path, 404 elsewhere, and wss with certificate files.
func TestListenAndRegistry(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx := testCtx(t, 20*time.Second)

	ln, err := transport.Listen("ws://127.0.0.1:0/line")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr()
	if !strings.HasPrefix(addr, "ws://127.0.0.1:") || !strings.HasSuffix(addr, "/line") || strings.HasSuffix(addr, ":0/line") {
		t.Fatalf("Addr() = %q", addr)
	}
	exchange(t, ctx, ln, func() (transport.Line, error) { return transport.Dial(ctx, addr) })

	c := &http.Client{}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http" + strings.TrimSuffix(strings.TrimPrefix(addr, "ws"), "/line") + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: HTTP %d, want 404", resp.StatusCode)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	if _, err := transport.Listen("wss://127.0.0.1:0/line"); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("wss without certificate: %v, want ErrNoCertificate", err)
	}
	if _, err := Listen("wss://127.0.0.1:0/", Options{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wss with missing files: %v", err)
	}

	certFile, keyFile, pool := selfSigned(t)
	sink := newLogSink(t)
	wl, err := Listen("wss://127.0.0.1:0/line", Options{CertFile: certFile, KeyFile: keyFile, Logger: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Close()
	exchange(t, ctx, wl, func() (transport.Line, error) {
		l, err := Dial(ctx, wl.Addr(), DialOptions{TLSConfig: &tls.Config{RootCAs: pool}})
		if err != nil {
			return nil, err
		}
		if info := l.Info(); info.Transport != "wss" || !info.Secure {
			t.Errorf("dialer Info() = %+v", info)
		}
		return l, nil
	})
	// Without trusting the certificate the dial fails cleanly.
	if _, err := transport.Dial(ctx, wl.Addr()); err == nil || !strings.HasPrefix(err.Error(), "ws: ") {
		t.Errorf("wss dial with unknown certificate: %v", err)
	}
	if err := wl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// exchange accepts a call placed by dial, checks both directions and the
// answering line's Info, and hangs up.
func exchange(t *testing.T, ctx context.Context, ln transport.Listener, dial func() (transport.Line, error)) {
	t.Helper()
	type res struct {
		l   transport.Line
		err error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := ln.Accept(ctx)
		ch <- res{l, err}
	}()
	c, err := dial()
	if err != nil {
		ln.Close()
		<-ch
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.l.Close()
	want := strings.HasPrefix(ln.Addr(), "wss:")
	if info := r.l.Info(); info.Secure != want || (info.Transport == "wss") != want {
		t.Errorf("answering Info() = %+v", info)
	}
	if _, err := c.Write([]byte("ring")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r.l, buf); err != nil || string(buf) != "ring" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, err := r.l.Write([]byte("CONN")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "CONN" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool = x509.NewCertPool()
	pool.AddCert(testutil.WriteCert(t, certFile, keyFile, "dialgate test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	return certFile, keyFile, pool
}

// TestMaxPending: upgraded calls nobody accepts are bounded; the next one
// is refused with HTTP 503 before it is upgraded, and a slot frees when a
// waiting call is accepted.
func TestMaxPending(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{MaxPending: 2})
	ctx := testCtx(t, 10*time.Second)
	var dialed []*Line
	defer func() {
		for _, c := range dialed {
			c.Close()
		}
	}()
	for range 2 {
		c, err := Dial(ctx, s.url, DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dialed = append(dialed, c)
	}
	_, err := Dial(ctx, s.url, DialOptions{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third pending call: %v, want HTTP 503", err)
	}
	s.log.wait(t, "call refused", "wait for Accept")
	srv, err := s.l.AcceptWS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// The accepted call's slot is free again once ServeHTTP returns.
	var c *Line
	for c == nil {
		c, err = Dial(ctx, s.url, DialOptions{})
		if err != nil && !errors.As(err, &he) {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("no slot freed after Accept")
		}
	}
	dialed = append(dialed, c)
}

// TestListenIdleHTTPConnections: a client that makes one plain request to
// a Listen server and then keeps the connection open without another is
// disconnected (such connections used to be held forever, one goroutine
// and buffers each).
func TestListenIdleHTTPConnections(t *testing.T) {
	testutil.CheckGoroutines(t)
	old := httpIdleTimeout
	httpIdleTimeout = 100 * time.Millisecond
	defer func() { httpIdleTimeout = old }()
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: newLogSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The server must hang up the idle keep-alive connection.
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d, %v; want EOF from the server", n, err)
	}
}

// TestHandshakeErrorQuotesBody: what a refusing server puts in its body
// cannot reach the user's terminal as control sequences through the error.
func TestHandshakeErrorQuotesBody(t *testing.T) {
	testutil.CheckGoroutines(t)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "go away\x1b]0;pwned\x07\x1b[2J\r\nmore")
	}))
	defer hs.Close()
	defer hs.Client().CloseIdleConnections()
	_, err := Dial(testCtx(t, 10*time.Second), "ws"+strings.TrimPrefix(hs.URL, "http"), DialOptions{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || !strings.Contains(he.Body, "\x1b") {
		t.Fatalf("Dial: %v", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\x07\r\n") || !strings.Contains(msg, "go away") {
		t.Errorf("error message %q carries the server's control characters", msg)
	}
}

// TestListenHeaderLimit: an upgrade request with a header over
// MaxHeaderBytes is refused with 431 instead of being read into memory
// (net/http's default limit, 1 MiB, let 300 connections that each sent
// a large header without its end hold 283 MB for ReadHeaderTimeout).
func TestListenHeaderLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: newLogSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		// The server answers and hangs up before the header ends: the
		// rest of the write fails, which is the point.
		io.WriteString(c, "GET /line HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Big: "+strings.Repeat("a", 4*MaxHeaderBytes)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d KiB header: status %d, want 431", 4*MaxHeaderBytes>>10, resp.StatusCode)
	}
}

// TestOriginLoopbackRebinding: on a connection to a loopback address, the
// same origin passes only when the Host is localhost or an IP literal; a
// page served under any other name may be a DNS-rebinding attacker's
// (evil.example pointed at 127.0.0.1 is its own origin), so it is
// refused with a log line that says to list it in allowed_origins, and
// passes once listed. Regression: Host == Origin was enough.
func TestOriginLoopbackRebinding(t *testing.T) {
	for _, tc := range []struct {
		name, host, origin string
		allowed            []string
		ok                 bool
	}{
		{"rebound name", "evil.example:PORT", "http://evil.example:PORT", nil, false},
		{"rebound name without port", "evil.example", "http://evil.example", nil, false},
		{"localhost", "localhost:PORT", "http://localhost:PORT", nil, true},
		{"localhost without port", "LocalHost", "http://localhost", nil, true},
		{"IPv4 literal", "127.0.0.1:PORT", "http://127.0.0.1:PORT", nil, true},
		{"IPv6 literal", "[::1]:PORT", "http://[::1]:PORT", nil, true},
		{"no origin (not a browser)", "evil.example:PORT", "", nil, true},
		{"listed name", "bbs.example.org", "https://bbs.example.org", []string{"https://bbs.example.org"}, true},
		{"other names stay refused", "evil.example", "http://evil.example", []string{"https://bbs.example.org"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{AllowedOrigins: tc.allowed})
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(s.url, "/line"), "ws://"))
			host := strings.Replace(tc.host, "PORT", port, 1)
			origin := strings.Replace(tc.origin, "PORT", port, 1)
			err := dialAccept(t, s, DialOptions{Origin: origin, Header: http.Header{"Host": {host}}})
			if tc.ok {
				if err != nil {
					t.Fatalf("host %q, origin %q refused: %v", host, origin, err)
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
				t.Fatalf("host %q, origin %q: %v, want HandshakeError 403", host, origin, err)
			}
			s.log.wait(t, "origin", "not allowed", "allowed_origins")
		})
	}
}

// TestOriginRefusalNamesCaller: the warning about a call refused for
// its origin names the caller's address as believed (X-Forwarded-For
// from a trusted proxy) and the proxy it came through. Regression: it
// named the proxy alone, so behind a reverse proxy every refusal
// looked alike.
func TestOriginRefusalNamesCaller(t *testing.T) {
	testutil.CheckGoroutines(t)
	notices := newLogSink(t)
	s := startServer(t, Options{TrustedProxies: []string{"127.0.0.1"}, Notices: notices})
	err := dialAccept(t, s, DialOptions{Origin: "https://evil.example", Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin through a trusted proxy: %v, want HandshakeError 403", err)
	}
	notices.wait(t, "ws: 203.0.113.7:0 via trusted proxy 127.0.0.1:", "call refused: origin", "evil.example")

	// Without a trusted proxy the line names the TCP peer alone.
	notices2 := newLogSink(t)
	s2 := startServer(t, Options{Notices: notices2})
	if err := dialAccept(t, s2, DialOptions{Origin: "https://evil.example", Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}}); err == nil {
		t.Fatal("foreign origin answered")
	}
	if l := notices2.wait(t, "call refused: origin"); !strings.HasPrefix(l, "ws: 127.0.0.1:") || strings.Contains(l, "203.0.113.7") || strings.Contains(l, "via") {
		t.Errorf("untrusted peer: %q", l)
	}
}

// TestOriginSameNameBeyondLoopback: on a connection to an address that
// is not loopback, the same origin passes under any name (a rebinding
// page reaches nothing there that its author could not reach directly).
func TestOriginSameNameBeyondLoopback(t *testing.T) {
	l, err := NewHandler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const public = "198.51.100.7:40000"
	for _, c := range []struct {
		local  net.Addr
		remote string
		ok     bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}, public, true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::10"), Port: 8080}, public, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 8080}, public, false},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 8080}, public, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, public, false},
		// A gateway on a LAN, called from the LAN: a browser there may
		// carry a rebound page (security trial). Called from a public
		// address (1:1 NAT, a cloud machine) it keeps its pages.
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 8080}, "192.168.1.20:50000", false},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 8080}, "[fd00::7]:50000", false},
		{&net.TCPAddr{IP: net.ParseIP("fd12::5"), Port: 8080}, "127.0.0.1:50000", false},
		{&net.TCPAddr{IP: net.ParseIP("169.254.3.4"), Port: 8080}, "169.254.9.9:50000", false},
		{&net.TCPAddr{IP: net.ParseIP("100.100.1.2"), Port: 8080}, "100.64.0.9:50000", false}, // a tailnet (RFC 6598)
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 8080}, public, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}, "192.168.1.20:50000", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://bbs.example.org:8080/line", nil)
		r.Header.Set("Origin", "http://bbs.example.org:8080")
		r.RemoteAddr = c.remote
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.local))
		if _, ok, _ := l.originAllowed(r); ok != c.ok {
			t.Errorf("local address %v, caller %s: allowed %v, want %v", c.local, c.remote, ok, c.ok)
		}
		// An IP literal cannot be rebound.
		r.Host = "192.168.1.5:8080"
		r.Header.Set("Origin", "http://192.168.1.5:8080")
		if _, ok, _ := l.originAllowed(r); !ok {
			t.Errorf("local address %v, caller %s: an IP literal's own origin refused", c.local, c.remote)
		}
	}
}

// TestOriginNamesListedOnly: while Options.NamesListedOnly says so (the
// gateway's allowed_sources), a same-origin request by a DNS name passes
// only if listed, on a public address too: a DNS-rebinding page would
// otherwise call the listener through the browser of a user at an
// allowed address (security trial: 101 and a login prompt for Host and
// Origin evil.example). IP literals and localhost still pass; the answer
// is asked at each upgrade.
func TestOriginNamesListedOnly(t *testing.T) {
	restricted := true
	l, err := NewHandler(Options{AllowedOrigins: []string{"http://bbs.example.org:8080"}, NamesListedOnly: func() bool { return restricted }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ask := func(host string) (bool, string) {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/line", nil)
		r.Header.Set("Origin", "http://"+host)
		r.RemoteAddr = "192.0.2.20:50000"
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 8080}))
		_, ok, hint := l.originAllowed(r)
		return ok, hint
	}
	for _, c := range []struct {
		host string
		ok   bool
	}{
		{"evil.example:8080", false},
		{"bbs.example.org:8080", true}, // listed
		{"192.0.2.2:8080", true},
		{"[2001:db8::2]:8080", true},
		{"localhost:8080", true},
	} {
		if ok, hint := ask(c.host); ok != c.ok {
			t.Errorf("allowed_sources set, Host and Origin %s: allowed %v, want %v", c.host, ok, c.ok)
		} else if !ok && !strings.Contains(hint, "allowed_sources") {
			t.Errorf("refusal hint %q does not say why", hint)
		}
	}
	restricted = false // a reload that dropped allowed_sources
	if ok, _ := ask("evil.example:8080"); !ok {
		t.Error("without allowed_sources, a public address's same origin by name refused")
	}
}

// TestUpgradeWithDataLogged: a client that sends a frame together with
// its upgrade request, before the 101 reply, is dropped by
// gorilla/websocket with no reply; the listener logs it (it had been
// silent).
func TestUpgradeWithDataLogged(t *testing.T) {
	testutil.CheckGoroutines(t)
	sink := newLogSink(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /line HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
		"\x82\x84\x00\x00\x00\x00data" // a masked binary frame, too early
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 512)); err == nil {
		t.Errorf("the server replied (%d octets) to an upgrade with data behind it", n)
	}
	sink.wait(t, "dropped during the upgrade", "before handshake")
}

// TestPlainGETOfLineSaysWhatItIs: a browser pointed at the line itself
// gets HTTP 400 with words a person can read (browser trial: it showed
// gorilla/websocket's "the client is not using the websocket protocol").
func TestPlainGETOfLineSaysWhatItIs(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := Listen("ws://127.0.0.1:0/", Options{Logger: newLogSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	resp, err := http.Get("http" + strings.TrimPrefix(ln.Addr(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "is a WebSocket line, not a web page") {
		t.Errorf("plain GET: HTTP %d %q", resp.StatusCode, b)
	}
}
