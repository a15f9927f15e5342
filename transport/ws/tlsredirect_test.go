package ws

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// wssServer is a Listen listener on wss://127.0.0.1:0/line with a
// self-signed certificate.
type wssServer struct {
	ln       *Listener
	addr     string // host:port
	log      *logSink
	pool     *x509.CertPool // trusts the certificate
	certFile string
}

func startWSS(t *testing.T, opts Options) *wssServer {
	t.Helper()
	s := &wssServer{log: newLogSink(t)}
	certFile, keyFile, pool := selfSigned(t)
	s.pool, s.certFile = pool, certFile
	opts.CertFile, opts.KeyFile, opts.Logger = certFile, keyFile, s.log
	ln, err := Listen("wss://127.0.0.1:0/line", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.ln, s.addr = ln, strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "wss://"), "/line")
	return s
}

// plainRoundTrip sends raw in clear on a new connection to addr and
// reads the answer to a request with method, its body, and then the end
// of the connection. A connection closed without an answer gives an
// error (a connection limit's refusal, or no answer at all).
func plainRoundTrip(addr, method, raw string) (*http.Response, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, "", err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, "", err
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		return nil, "", fmt.Errorf("after the answer: read %d, %v; want EOF", n, err)
	}
	return resp, string(body), nil
}

// countLines is how many log lines contain every one of parts.
func countLines(s *logSink, parts ...string) int {
	n := 0
	for _, l := range s.snapshot() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// waitLines waits (bounded) until want log lines contain every one of
// parts, and fails the test if more do.
func waitLines(t *testing.T, s *logSink, want int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for countLines(s, parts...) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := countLines(s, parts...); n != want {
		t.Errorf("%d log lines with %q, want %d (log: %q)", n, parts, want, s.snapshot())
	}
}

// TestTLSPortRedirectsPlainHTTP: plain GET and HEAD requests to a wss://
// Listen port get a 308 to the https:// URL of the same port and path;
// only the host part of a valid Host header is used (a forged port,
// user info, path or spaces fall back to the connection's address), and
// request octets that do not belong in a header are percent-encoded.
// Each connection is closed after the answer and logged in one line,
// gives its connection place back (13 requests, MaxConns 4), and TLS
// clients still get through on the same port.
func TestTLSPortRedirectsPlainHTTP(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startWSS(t, Options{MaxConns: 4, MaxConnsPerSource: 4})
	ln, addr, sink, pool := s.ln, s.addr, s.log, s.pool
	_, port, _ := net.SplitHostPort(addr)
	own := "https://127.0.0.1:" + port
	for _, tc := range []struct {
		name, method, raw, location string
	}{
		{"GET", "GET", "GET /path?q HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", own + "/path?q"},
		{"HEAD", "HEAD", "HEAD /x HTTP/1.1\r\nHost: bbs.example.org\r\n\r\n", "https://bbs.example.org:" + port + "/x"},
		{"other port", "GET", "GET / HTTP/1.1\r\nHost: bbs.example.org:80\r\n\r\n", "https://bbs.example.org:" + port + "/"},
		{"IPv6 host", "GET", "GET /v6 HTTP/1.1\r\nHost: [::1]:1\r\n\r\n", "https://[::1]:" + port + "/v6"},
		{"host with path", "GET", "GET /a HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", own + "/a"},
		{"user info", "GET", "GET /a HTTP/1.1\r\nHost: user@evil.example\r\n\r\n", own + "/a"},
		{"port with junk", "GET", "GET /a HTTP/1.1\r\nHost: evil.example:1@x\r\n\r\n", own + "/a"},
		{"space", "GET", "GET /a HTTP/1.1\r\nHost: a b\r\n\r\n", own + "/a"},
		{"number", "GET", "GET /a HTTP/1.1\r\nHost: 2130706433\r\n\r\n", own + "/a"},
		{"no host", "GET", "GET /old HTTP/1.0\r\n\r\n", own + "/old"},
		{"absolute form", "GET", "GET http://other.example:81/p?q HTTP/1.1\r\nHost: y\r\n\r\n", "https://other.example:" + port + "/p?q"},
		{"octets", "GET", "GET /a?\xff%0d%0a HTTP/1.1\r\nHost: x.example\r\n\r\n", "https://x.example:" + port + "/a?%FF%0d%0a"},
		{"request Location", "GET", "GET /l HTTP/1.1\r\nHost: x.example\r\nLocation: https://evil.example/\r\n\r\n", "https://x.example:" + port + "/l"},
	} {
		var resp *http.Response
		var body string
		var err error
		// Retried while the connection limit still counts the
		// previous connection (it is released after the close).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if resp, body, err = plainRoundTrip(addr, tc.method, tc.raw); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != http.StatusPermanentRedirect || !resp.Close {
			t.Errorf("%s: status %d, close %v; want 308 and Connection: close", tc.name, resp.StatusCode, resp.Close)
		}
		if locs := resp.Header.Values("Location"); len(locs) != 1 || locs[0] != tc.location {
			t.Errorf("%s: Location %q, want %q", tc.name, locs, tc.location)
		}
		wantBody := "this port speaks TLS: use " + tc.location + "\n"
		if tc.method == "HEAD" {
			wantBody = ""
		}
		if body != wantBody {
			t.Errorf("%s: body %q, want %q", tc.name, body, wantBody)
		}
	}
	waitLines(t, sink, 12, "ws: http: TLS handshake error from 127.0.0.1:", "ws: plain HTTP on a TLS port: GET redirected to https")
	waitLines(t, sink, 1, "TLS handshake error", "HEAD redirected to https")
	for _, l := range sink.snapshot() {
		if !strings.Contains(l, "redirected to https") && !strings.Contains(l, "closed at once") {
			t.Errorf("log line %q: want only the redirects (and connection-limit refusals)", l)
		}
	}

	// TLS on the same port: a wss call, and the page server over https.
	ctx := testCtx(t, 20*time.Second)
	exchange(t, ctx, ln, func() (transport.Line, error) {
		return Dial(ctx, ln.Addr(), DialOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(own + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("https GET of another path: status %d, want 404", resp.StatusCode)
	}
}

// TestTLSPortRefusesPlainRequests: plain requests other than GET and HEAD
// get a 400 that says the port speaks TLS, without a Location; a request
// whose header has a CR in a value, or that is not HTTP, is not answered;
// octets that cannot start an HTTP request are left to TLS, which fails
// the handshake as before.
func TestTLSPortRefusesPlainRequests(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startWSS(t, Options{})
	addr, sink := s.addr, s.log
	for _, method := range []string{"POST", "PUT", "OPTIONS"} {
		body := "a=b"
		resp, got, err := plainRoundTrip(addr, method, method+" /line HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 3\r\n\r\n"+body)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if resp.StatusCode != http.StatusBadRequest || !resp.Close || resp.Header.Get("Location") != "" {
			t.Errorf("%s: status %d, close %v, Location %q; want 400, Connection: close, none", method, resp.StatusCode, resp.Close, resp.Header.Get("Location"))
		}
		if got != "this port speaks TLS: use https:// or wss://\n" {
			t.Errorf("%s: body %q", method, got)
		}
		waitLines(t, sink, 1, "TLS handshake error", "ws: plain HTTP on a TLS port: "+method+" refused with 400")
	}
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: evil.example\rLocation: https://evil.example/\r\n\r\n",
		"Garbage, not HTTP\r\n\r\n",
	} {
		if resp, _, err := plainRoundTrip(addr, "GET", raw); err == nil {
			t.Errorf("%q answered with %d %q", raw, resp.StatusCode, resp.Header.Values("Location"))
		}
	}
	waitLines(t, sink, 2, "TLS handshake error", "ws: not a TLS handshake, and no HTTP request")
	// A folded line continues the Host header (RFC 9112 §5.2): its
	// value has a space, and the connection's own address is used.
	resp, _, err := plainRoundTrip(addr, "GET", "GET / HTTP/1.1\r\nHost: evil.example\r\n\tLocation: https://evil.example/\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if locs := resp.Header.Values("Location"); len(locs) != 1 || locs[0] != "https://"+addr+"/" {
		t.Errorf("folded Host header: Location %q, want https://%s/", locs, addr)
	}
	if _, _, err := plainRoundTrip(addr, "GET", "\x00\x01junk\r\n\r\n"); err == nil {
		t.Error("junk answered")
	}
	waitLines(t, sink, 1, "TLS handshake error", "tls: first record does not look like a TLS handshake")
}

// TestTLSPortSilentClient: a client that sends nothing, a part of a
// request header, or a single letter, is closed by the server's handshake
// deadline (ReadHeaderTimeout) unanswered, with one log line each, and
// leaves no goroutine behind.
func TestTLSPortSilentClient(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile, _ := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := newLogSink(t)
	l := &Listener{log: sink}
	srv := &http.Server{
		Handler:           http.NotFoundHandler(),
		ReadHeaderTimeout: 200 * time.Millisecond,
		ErrorLog:          log.New(logWriter{l}, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(NewTLSListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}()
	defer func() { srv.Close(); <-done }()
	for _, sent := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n", "G"} {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, sent)
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after %q: read %d, %v; want EOF at the handshake deadline", sent, n, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("after %q: closed after %v", sent, d)
		}
	}
	waitLines(t, sink, 3, "TLS handshake error")
}

// TestTLSPortRedirectCurl: curl's plain request to a wss:// port shows
// the redirect, and curl -L follows it into TLS on the same port.
func TestTLSPortRedirectCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (TestTLSPortRedirectsPlainHTTP covers the redirect with a raw connection)")
	}
	testutil.CheckGoroutines(t)
	s := startWSS(t, Options{})
	ctx := testCtx(t, 20*time.Second)
	out, err := exec.CommandContext(ctx, curl, "-sS", "-i", "--max-time", "10", "http://"+s.addr+"/path?q=1").CombinedOutput()
	if err != nil {
		t.Fatalf("curl -i: %v\n%s", err, out)
	}
	if !bytes.HasPrefix(out, []byte("HTTP/1.1 308 Permanent Redirect\r\n")) || !bytes.Contains(out, []byte("\r\nLocation: https://"+s.addr+"/path?q=1\r\n")) {
		t.Errorf("curl -i:\n%s", out)
	}
	out, err = exec.CommandContext(ctx, curl, "-sS", "-L", "--cacert", s.certFile, "--max-time", "10",
		"-o", "/dev/null", "-w", "%{http_code} %{url_effective}", "http://"+s.addr+"/elsewhere").CombinedOutput()
	if err != nil {
		t.Fatalf("curl -L: %v\n%s", err, out)
	}
	if want := "404 https://" + s.addr + "/elsewhere"; string(out) != want {
		t.Errorf("curl -L: %q, want %q (the 404 of the TLS server)", out, want)
	}
}

// memConn is a connection that reads from a byte slice and keeps what is
// written, at 127.0.0.1:8443.
type memConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzPlainHTTPOnTLSPort feeds arbitrary first octets to the sniffing
// connection under TLS: no panics; octets that cannot start a request
// reach TLS unchanged; otherwise nothing reaches TLS, and what is written
// back is nothing or one well-formed response whose header lines hold
// printable ASCII only and whose Location is https:// at the local port.
func FuzzPlainHTTPOnTLSPort(f *testing.F) {
	f.Add([]byte("GET /path?q HTTP/1.1\r\nHost: bbs.example.org\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\x05hello"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mc := &memConn{r: bytes.NewReader(data)}
		got, err := io.ReadAll(&sniffConn{Conn: mc})
		if len(data) == 0 || !mayStartMethod(data[0]) {
			if err != nil || !bytes.Equal(got, data) || mc.w.Len() != 0 {
				t.Fatalf("passed on %q, %v and wrote %q; want the input", got, err, mc.w.Bytes())
			}
			return
		}
		if len(got) != 0 || err == nil {
			t.Fatalf("passed on %q, %v after a plain request", got, err)
		}
		out := mc.w.Bytes()
		if len(out) == 0 {
			return
		}
		if !errors.Is(err, ErrPlainHTTP) {
			t.Fatalf("answered %q, error %v", out, err)
		}
		head, _, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("answer %q has no header end", out)
		}
		locations := 0
		for _, line := range bytes.Split(head, []byte("\r\n")) {
			for _, b := range line {
				if b < ' ' || b >= 0x7f {
					t.Fatalf("header line %q", line)
				}
			}
			loc, ok := bytes.CutPrefix(line, []byte("Location: "))
			if !ok {
				continue
			}
			locations++
			u, err := url.Parse(string(loc))
			if err != nil || bytes.ContainsAny(loc, " \t") || u.Scheme != "https" || u.User != nil || u.Port() != "8443" || u.Hostname() == "" {
				t.Fatalf("Location %q (%v)", loc, err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("answer %q: %v", out, err)
		}
		resp.Body.Close()
		if want := resp.StatusCode == http.StatusPermanentRedirect; (locations == 1) != want || locations > 1 {
			t.Fatalf("status %d with %d Location headers", resp.StatusCode, locations)
		}
	})
}

// TestHostPart: the host a redirect takes from a Host header.
func TestHostPart(t *testing.T) {
	for in, want := range map[string]string{
		"bbs.example.org":               "bbs.example.org",
		"BBS.Example.org.:8443":         "bbs.example.org.",
		"127.0.0.1:80":                  "127.0.0.1",
		"[2001:db8::1]:443":             "[2001:db8::1]",
		"[2001:DB8::1]":                 "[2001:db8::1]",
		"":                              "",
		"evil.example:1:2":              "",
		"evil.example:123456":           "",
		"evil.example:x":                "",
		"[fe80::1%eth0]":                "",
		"[127.0.0.1]":                   "",
		"[::1]x":                        "",
		"-a.example":                    "",
		"a..example":                    "",
		"a_b.example":                   "",
		"0x7f.1":                        "",
		"1.2.3":                         "",
		"example.0x7f":                  "",
		"under\x00score":                "",
		strings.Repeat("a", 64):         "",
		strings.Repeat("a.", 127) + "a": "",
	} {
		if got := hostPart(in); got != want {
			t.Errorf("hostPart(%q) = %q, want %q", in, got, want)
		}
	}
}
