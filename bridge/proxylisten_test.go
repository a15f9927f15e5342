package bridge

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/proxyproto"
	"github.com/dialgate/dialgate/transport/tcp"
)

// proxyV2For is a PROXY v2 header for a TCP4 caller src, with the
// PP2_TYPE_SSL TLV when tls.
func proxyV2For(src string, tls bool) []byte {
	s := netip.MustParseAddrPort(src)
	body := append(s.Addr().AsSlice(), 127, 0, 0, 1)
	body = binary.BigEndian.AppendUint16(body, s.Port())
	body = binary.BigEndian.AppendUint16(body, 2323)
	if tls {
		body = append(body, 0x20, 0, 5, 0x01, 0, 0, 0, 0)
	}
	b := append(append([]byte{}, proxyproto.SignatureV2[:]...), 0x21, 0x11)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// startProxyListener starts a gateway whose telnet listener takes PROXY
// headers from trusted (v42 as given).
func startProxyListener(t *testing.T, trusted []string, v42 config.V42Mode, textLogin ...config.TextLogin) (*Gateway, *store.File) {
	t.Helper()
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Listeners[0].V42 = v42
	c.Listeners[0].TextLogin = config.TextLoginAllow
	if len(textLogin) > 0 {
		c.Listeners[0].TextLogin = textLogin[0]
	}
	c.Listeners[0].ProxyProtocol = len(trusted) > 0
	c.Listeners[0].TrustedProxies = trusted
	opts := StartOptions{Verifier: &fakeVerifier{users: map[string]string{"alice": "secret"}}}
	if v42 != config.V42Off {
		key, err := auth.GenerateHostKey(crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		opts.V42 = &LAPMAnswerer{HostKey: key}
	}
	g, err := Start(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(context.Background()) })
	return g, g.Store
}

func dialFrom(t *testing.T, g *Gateway, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn
}

// TestProxyProtocolListener: a trusted proxy's header gives the call the
// caller's address (record, per-call address), TLS included; the same
// header from an address that is not trusted, or on a listener without
// proxy_protocol, ends the call as refused and never reaches the login
// as typing; a trusted proxy that closes without a word (a health check)
// makes no call.
func TestProxyProtocolListener(t *testing.T) {
	testutil.CheckGoroutines(t)
	g, st := startProxyListener(t, []string{"127.0.0.2"}, config.V42Off)

	// A health check: connect, close.
	dialFrom(t, g, "127.0.0.2").Close()

	conn := dialFrom(t, g, "127.0.0.2")
	conn.Write(proxyV2For("198.51.100.7:50312", true))
	login(t, conn, "alice", "secret")
	io.WriteString(conn, "through")
	expect(t, conn, "through")
	conn.Close()
	recs := waitRecords(t, st, 1)
	if r := recs[0]; r.Remote != "198.51.100.7:50312" || r.Line != "telnets" || r.Result != store.ResultCompleted || r.User != "alice" {
		t.Errorf("record via the trusted proxy: %+v", r)
	}

	// From an address that is not a trusted proxy: refused, with words.
	conn = dialFrom(t, g, "127.0.0.3")
	conn.Write(proxyV2For("198.51.100.8:1", false))
	if out := readAll(conn); !strings.Contains(out, "NO CARRIER (this gateway takes no PROXY protocol header from your address)") {
		t.Errorf("untrusted header: caller heard %q", out)
	}
	recs = waitRecords(t, st, 2)
	if r := recs[1]; r.Result != store.ResultRefused || !strings.HasPrefix(r.Remote, "127.0.0.3:") || !strings.Contains(r.Reason, "PROXY protocol header") {
		t.Errorf("record of an untrusted header: %+v", r)
	}
	// A direct caller from elsewhere needs no header.
	conn = dialFrom(t, g, "127.0.0.4")
	login(t, conn, "alice", "secret")
	io.WriteString(conn, "direct")
	expect(t, conn, "direct")
	conn.Close()
	recs = waitRecords(t, st, 3)
	if r := recs[2]; !strings.HasPrefix(r.Remote, "127.0.0.4:") || r.Result != store.ResultCompleted {
		t.Errorf("direct caller: %+v", r)
	}
	if len(recs) != 3 {
		t.Errorf("records (the health check must make none): %+v", recs)
	}
}

// TestProxyHeaderOnPlainListener: without proxy_protocol a header is
// refused, in text login and in V.42 detection alike.
func TestProxyHeaderOnPlainListener(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, v42 := range []config.V42Mode{config.V42Off, config.V42Detect} {
		t.Run(string(v42), func(t *testing.T) {
			g, st := startProxyListener(t, nil, v42)
			conn := dialFrom(t, g, "127.0.0.1")
			conn.Write([]byte("PROXY TCP4 198.51.100.7 127.0.0.1 50312 2323\r\n"))
			if out := readAll(conn); !strings.Contains(out, "NO CARRIER (this gateway takes no PROXY protocol header") || strings.Contains(out, "password") {
				t.Errorf("caller heard %q", out)
			}
			recs := waitRecords(t, st, 1)
			if r := recs[0]; r.Result != store.ResultRefused || r.User != "" {
				t.Errorf("record: %+v", r)
			}
		})
	}
}

// TestProxyListenerBrokenHeader: a trusted proxy that sends garbage, or
// nothing before the deadline, is closed before the call flow: no call,
// no record.
func TestProxyListenerBrokenHeader(t *testing.T) {
	testutil.CheckGoroutines(t)
	g, st := startProxyListener(t, []string{"127.0.0.2"}, config.V42Off)
	conn := dialFrom(t, g, "127.0.0.2")
	conn.Write([]byte("login: alice\r\n"))
	if b, err := io.ReadAll(conn); len(b) != 0 {
		t.Errorf("got %q (%v)", b, err)
	}
	// A good call afterwards is the first record.
	conn = dialFrom(t, g, "127.0.0.2")
	conn.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 4 2323\r\n"))
	login(t, conn, "alice", "secret")
	conn.Close()
	if r := waitRecords(t, st, 1)[0]; r.Remote != "198.51.100.9:4" {
		t.Errorf("record: %+v", r)
	}
}

// TestProxyProtocolSecureTextLogin: on a loopback listener with
// text_login = "secure", a caller from afar through the proxy is not
// local: refused in clear, allowed when the proxy says it took the call
// over TLS (send-proxy-v2-ssl); a caller on this machine through the
// proxy is local. The record names the line the proxy took over TLS
// "telnets".
func TestProxyProtocolSecureTextLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	g, st := startProxyListener(t, []string{"127.0.0.2"}, config.V42Off, config.TextLoginSecure)
	conn := dialFrom(t, g, "127.0.0.2")
	conn.Write(proxyV2For("198.51.100.7:50312", false))
	if out := readAll(conn); !strings.Contains(out, "does not offer a text login") {
		t.Errorf("in clear from afar: %q", out)
	}
	for i, src := range []string{"198.51.100.7:50313", "127.0.0.1:40000"} {
		conn = dialFrom(t, g, "127.0.0.2")
		conn.Write(proxyV2For(src, i == 0))
		login(t, conn, "alice", "secret")
		io.WriteString(conn, "in")
		expect(t, conn, "in")
		conn.Close()
	}
	recs := waitRecords(t, st, 3)
	slices.SortFunc(recs, func(a, b store.CallRecord) int { return cmp.Compare(a.Session, b.Session) })
	if recs[0].Result != store.ResultRefused || recs[1].Result != store.ResultCompleted || recs[1].Line != "telnets" || recs[2].Result != store.ResultCompleted || recs[2].Line != "telnet" {
		t.Errorf("records: %+v", recs)
	}
}

// localV2 is a version 2 LOCAL header.
func localV2() []byte {
	return append(append([]byte{}, proxyproto.SignatureV2[:]...), 0x20, 0x00, 0, 0)
}

// TestProxyListenerOwnConnections: the proxy's own connections (a LOCAL
// header; a version 1 header naming the connection itself) are health
// checks and never calls, even when the other end speaks (HAProxy's
// unix@ frontends send LOCAL for their callers, who would otherwise be
// local and, on a TLS listener, encrypted for text_login, whoever they
// are).
func TestProxyListenerOwnConnections(t *testing.T) {
	testutil.CheckGoroutines(t)
	g, st := startProxyListener(t, []string{"127.0.0.2"}, config.V42Off)
	c := dialFrom(t, g, "127.0.0.2")
	c.Write(localV2())
	c.Close()
	c = dialFrom(t, g, "127.0.0.2")
	la, ra := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", la.IP, ra.IP, la.Port, ra.Port)
	c.Close()
	c = dialFrom(t, g, "127.0.0.2")
	c.Write(append(localV2(), "alice\r\n"...))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("a LOCAL connection heard %q", b)
	}
	// A caller through the proxy afterwards is the first record.
	c = dialFrom(t, g, "127.0.0.2")
	c.Write(proxyV2For("198.51.100.7:9", false))
	login(t, c, "alice", "secret")
	c.Close()
	if recs := waitRecords(t, st, 1); len(recs) != 1 || recs[0].Remote != "198.51.100.7:9" {
		t.Errorf("records (the proxy's own connections must make none): %+v", recs)
	}
}

// TestProxyTLSListener: behind a proxy that re-encrypts (HAProxy "server
// ... ssl send-proxy-v2"), the header comes before the TLS handshake; the
// caller's line counts as encrypted only when the header says the
// caller's own connection was (send-proxy-v2-ssl); a LOCAL health check
// completes its TLS handshake (HAProxy's ssl check needs it) and makes no
// call.
func TestProxyTLSListener(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Listeners[0].TextLogin = config.TextLoginSecure
	c.Listeners[0].ProxyProtocol = true
	c.Listeners[0].TrustedProxies = []string{"127.0.0.2"}
	c.Listeners[0].TLSCert, c.Listeners[0].TLSKey = certFile, keyFile
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"alice": "secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	dialTLS := func(header []byte) *tls.Conn {
		raw := dialFrom(t, g, "127.0.0.2")
		raw.Write(header)
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake after the header: %v", err)
		}
		return tc
	}
	// A health check: LOCAL, TLS, gone.
	dialTLS(localV2()).Close()
	// A caller in clear to the proxy: refused under "secure".
	tc := dialTLS(proxyV2For("198.51.100.7:1", false))
	if out := readAll(tc); !strings.Contains(out, "does not offer a text login") {
		t.Errorf("caller in clear to the proxy heard %q", out)
	}
	// A caller over TLS to the proxy: allowed.
	tc = dialTLS(proxyV2For("198.51.100.7:2", true))
	login(t, tc, "alice", "secret")
	io.WriteString(tc, "tls")
	expect(t, tc, "tls")
	tc.Close()
	recs := waitRecords(t, g.Store, 2)
	slices.SortFunc(recs, func(a, b store.CallRecord) int { return cmp.Compare(a.Session, b.Session) })
	if len(recs) != 2 || recs[0].Result != store.ResultRefused || recs[0].Remote != "198.51.100.7:1" ||
		recs[1].Result != store.ResultCompleted || recs[1].Remote != "198.51.100.7:2" {
		t.Errorf("records: %+v", recs)
	}
}

// TestPreparedWaitBounded: a connection whose PROXY header is read waits
// at most preparedWait for Accept (which the gateway stops calling while
// every line and the calls over them are taken), then hears BUSY and
// gives its place up. Review: it waited for ever, holding a place, and
// past 256 such connections every caller was closed at once.
func TestPreparedWaitBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	defer func(d time.Duration) { preparedWait = d }(preparedWait)
	preparedWait = 100 * time.Millisecond
	core, logs := observer.New(zap.InfoLevel)
	lg := printfLogger{zap.New(core).Sugar()}
	trusted, err := proxyproto.ParseTrusted([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	notices := newNoticeLogger(lg.s)
	ln, err := listenPrepared("127.0.0.1:0", nil, trusted, tcp.Options{}, 5*time.Second, lg, notices)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimPrefix(ln.Addr(), "tcp://")
	call := func(port int) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "PROXY TCP4 198.51.100.7 192.0.2.1 %d 23\r\n", port)
		return c
	}
	// Nobody accepts: BUSY after preparedWait.
	if b, err := io.ReadAll(call(1000)); err != nil || string(b) != msgPreparedBusy {
		t.Errorf("a caller nobody accepted heard %q (%v), want %q", b, err, msgPreparedBusy)
	}
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessageSnippet("1 connection(s) hung up with BUSY after their PROXY header: no free line within 100ms (last 198.51.100.7:1000 (through 127.0.0.1:").Len() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("no notice of the BUSY: %v", logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// On a TLS listener the BUSY goes inside the TLS session (review: it
	// was written in clear under it).
	certFile, keyFile := selfSigned(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := listenPrepared("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}}, proxyproto.Trusted{}, tcp.Options{}, 5*time.Second, lg, notices)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	raw, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimPrefix(tl.Addr(), "tcp://"), "tls://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	if b, err := io.ReadAll(tc); err != nil || string(b) != msgPreparedBusy {
		t.Errorf("a TLS caller nobody accepted heard %q (%v), want %q", b, err, msgPreparedBusy)
	}
	// The next one is accepted, as the 198.51.100.7 the header names.
	c := call(1001)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	if got := line.Info().RemoteAddr; got != "198.51.100.7:1001" {
		t.Errorf("accepted line from %q", got)
	}
	c.Close()
}
