package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.WriteCert(t, certFile, keyFile, "dialgate test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	return certFile, keyFile
}

// TestTextLoginPolicyAndTLS: with text_login = "secure" a listener bound
// beyond loopback refuses the text login on plain lines and offers it
// inside TLS.
func TestTextLoginPolicyAndTLS(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	for _, useTLS := range []bool{false, true} {
		c := testConfig(t)
		c.StateDir = t.TempDir()
		c.Listeners[0].Address = "telnet://0.0.0.0:0"
		c.Listeners[0].TextLogin = config.TextLoginSecure
		if useTLS {
			c.Listeners[0].TLSCert, c.Listeners[0].TLSKey = certFile, keyFile
		}
		g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.Addr("test"), "telnet://"))
		addr := net.JoinHostPort("127.0.0.1", port)
		var conn net.Conn
		if useTLS {
			conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		} else {
			conn, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if useTLS {
			login(t, conn, "t", "pw")
			expect(t, conn, "Choice: ")
			io.WriteString(conn, "g\r\n")
			expect(t, conn, "Goodbye")
		} else if out := readAll(conn); !strings.Contains(out, "NO CARRIER (this line does not offer a text login, nor V.42: it takes no calls") {
			// Not TLS: this plain listener has none to offer; nor V.42,
			// which it does not run.
			t.Errorf("plain line heard %q", out)
		}
		conn.Close()
		g.Shutdown(context.Background())
		want, line := store.ResultRefused, "telnet"
		if useTLS {
			want, line = store.ResultCompleted, "telnets"
		}
		if r := records(t, g.Store); len(r) != 1 || r[0].Result != want || r[0].Line != line {
			t.Fatalf("TLS %v: records %+v", useTLS, r)
		}
	}
}

// TestTLSSilentPeers: on a TLS listener, peers that connect and never
// start the TLS handshake are hung up after the handshake deadline without
// ever taking a line slot, so a TLS caller still gets in. Regression: the
// first write to such a peer (the banner, or BUSY) waited for its
// handshake with no deadline, and max_concurrent silent peers locked the
// gateway for good.
func TestTLSSilentPeers(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Listeners[0].TLSCert, c.Listeners[0].TLSKey = certFile, keyFile
	c.Lines.MaxConcurrent = 1
	c.Security.HandshakeDeadline.Duration = 300 * time.Millisecond
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	addr := strings.TrimPrefix(g.Addr("test"), "telnet://")
	var conns []net.Conn
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	// While they wait, a TLS caller gets the line.
	caller, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, caller, "login: ")
	caller.Close()
	for i, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Errorf("silent TLS peer %d was not hung up: %v", i, err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); len(records(t, g.Store)) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the TLS caller was not recorded")
		}
	}
	if r := records(t, g.Store); len(r) != 1 || r[0].Result != store.ResultAbandoned {
		t.Errorf("records (silent peers never became calls): %+v", r)
	}
}

// TestTLSListenerAddrAsConfigured: a TLS listener's address keeps the
// configured host with the bound port, as a plain one does: 0.0.0.0 is not
// shown as [::] in the "answering" log line.
func TestTLSListenerAddrAsConfigured(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	for _, host := range []string{"0.0.0.0", "127.0.0.1"} {
		l := config.Listener{Name: "tls", Address: "telnet://" + host + ":0", TLSCert: certFile, TLSKey: keyFile}
		ln, err := OpenListener(l, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ln.Addr()
		ln.Close()
		if !strings.HasPrefix(got, "telnet://"+host+":") || strings.HasSuffix(got, ":0") {
			t.Errorf("listener on %s: Addr %q, want telnet://%s:<bound port>", host, got, host)
		}
	}
}

// TestTLSPendingPerSource: one address cannot hold every one of a TLS
// listener's handshake slots: past maxTLSPendingPerSource its
// connections are closed at once, with a summed warning, while those
// waiting keep theirs until the handshake timeout.
func TestTLSPendingPerSource(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	core, logs := observer.New(zap.WarnLevel)
	l := config.Listener{Name: "tls", Address: "telnet://127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}
	ln, _, err := openListener(l, "", zap.New(core), 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimPrefix(ln.Addr(), "telnet://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range maxTLSPendingPerSource {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The listener counts them as it accepts them: the next ones from
	// this address are closed at once (EOF), not left waiting.
	refused := 0
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			refused++
		}
		c.Close()
	}
	if refused != 4 {
		t.Errorf("%d of 4 connections over the per-address bound were closed at once", refused)
	}
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessageSnippet("too many waiting for their TLS handshake").Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the refused connections: %v", logs.All())
		}
	}
	// The ones waiting were not closed.
	held[0].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := held[0].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection within the bound: %v, want still waiting", err)
	}
}

// TestTLSPortPlainClient: a client that does not speak TLS (telnet
// negotiation, or a typed line) on a TLS telnet listener is told in
// plain text what the line wants, then hung up.
func TestTLSPortPlainClient(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	l := config.Listener{Name: "tls", Address: "telnet://127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}
	ln, err := OpenListener(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, first := range [][]byte{{255, 253, 1, 255, 251, 24}, []byte("hello\r\n")} {
		c, err := net.Dial("tcp", strings.TrimPrefix(ln.Addr(), "telnet://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(first)
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != msgTLSOnly {
			t.Errorf("after %q: read %q, %v; want %q and the end", first, got, err, msgTLSOnly)
		}
	}
}

// TestOpenListenerHalfTLSPair: a listener given only one of its TLS files,
// or TLS files on ws://, is refused rather than opened in clear (config
// validation refuses both; OpenListener and Start take a Listener from
// any caller).
func TestOpenListenerHalfTLSPair(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	for _, l := range []config.Listener{
		{Name: "a", Address: "telnet://127.0.0.1:0", TLSCert: certFile},
		{Name: "b", Address: "tcp://127.0.0.1:0", TLSKey: keyFile},
		{Name: "c", Address: "ws://127.0.0.1:0/line", TLSCert: certFile, TLSKey: keyFile},
	} {
		if ln, err := OpenListener(l, nil); err == nil {
			ln.Close()
			t.Errorf("%s %s: opened", l.Name, l.Address)
		}
	}
}

// TestTLSPendingEvictsOldest: silent peers from a few addresses, each
// within maxTLSPendingPerSource, that together take every one of a TLS
// listener's maxTLSPending places do not keep a TLS caller out: the
// connection that has waited longest for its handshake is closed to make
// room (pentest: 32 silent connections from each of 8 addresses refused
// every TLS caller for the handshake timeout, again and again).
func TestTLSPendingEvictsOldest(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	l := config.Listener{Name: "tls", Address: "telnet://127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}
	ln, _, err := openListener(l, "", zap.NewNop(), 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimPrefix(ln.Addr(), "telnet://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range maxTLSPending {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 77, byte(1+i/maxTLSPendingPerSource))}
		c, err := (&net.Dialer{LocalAddr: src}).Dial("tcp", addr)
		if err != nil {
			t.Skipf("cannot dial from %v: %v", src, err)
		}
		held = append(held, c)
	}
	// Let the listener take them all before the caller comes.
	time.Sleep(200 * time.Millisecond)
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 78, 1)}}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("a TLS caller behind %d silent peers: %v", maxTLSPending, err)
	}
	conn.Close()
	// The oldest silent peer made room.
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the oldest silent peer: %v, want closed (EOF)", err)
	}
}

// TestTLSPendingBehindProxyEvictsOldest: behind a trusted TCP proxy
// (TLS passed through, PROXY header first), whose connections are held
// only to the listener's total bound, one client that opens
// maxTLSPending connections through the proxy and never sends a
// ClientHello does not keep the next TLS caller out.
func TestTLSPendingBehindProxyEvictsOldest(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	l := config.Listener{Name: "tls", Address: "telnet://127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile,
		ProxyProtocol: true, TrustedProxies: []string{"127.0.0.1"}}
	ln, _, err := openListener(l, "", zap.NewNop(), 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimPrefix(ln.Addr(), "telnet://")
	_, port, _ := net.SplitHostPort(addr)
	viaProxy := func(src string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "PROXY TCP4 "+src+" 127.0.0.1 40000 "+port+"\r\n")
		return c
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range maxTLSPending {
		held = append(held, viaProxy("203.0.113.66"))
	}
	time.Sleep(200 * time.Millisecond)
	raw := viaProxy("198.51.100.7")
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	if err := conn.Handshake(); err != nil {
		t.Fatalf("a TLS caller through the proxy behind %d silent connections: %v", maxTLSPending, err)
	}
	conn.Close()
}
