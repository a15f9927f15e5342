package bridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/ws"
)

// setPageBounds sets the page server's bounds in time until the test
// ends: the stall bound of a response and the read bound of a request.
func setPageBounds(t *testing.T, stall, read time.Duration) {
	oldStall, oldRead := pageStallTimeout, pageReadTimeout
	pageStallTimeout, pageReadTimeout = stall, read
	t.Cleanup(func() { pageStallTimeout, pageReadTimeout = oldStall, oldRead })
}

// openPageListener opens a ws listener with the page, with the trial's
// small bounds on HTTP connections (8, 4 from one address), logging to
// the returned observer; it returns the listener and its host:port.
func openPageListener(t *testing.T) (transport.Listener, string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ln, err := OpenListener(config.Listener{Name: "web", Address: "ws://127.0.0.1:0/line", HTTPMaxConns: 8, HTTPMaxConnsPerSource: 4}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line"), logs
}

// dialFromAddr connects to addr from the loopback address src, with a
// receive buffer of about rcvbuf octets.
func dialFromAddr(t *testing.T, src, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
		t.Fatal(err)
	}
	return c
}

// wsCallFrom makes a WebSocket upgrade to the line from src and reports
// whether it was answered with 101; the line is then accepted and hung up.
func wsCallFrom(t *testing.T, ln transport.Listener, src, addr string) bool {
	t.Helper()
	c := dialFromAddr(t, src, addr, 64<<10)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /line HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line, err := ln.Accept(ctx)
	if err != nil {
		t.Fatalf("upgraded call not accepted: %v", err)
	}
	if tl, ok := line.(transport.Lingerer); ok {
		tl.SetLinger(10 * time.Millisecond)
	}
	line.Close()
	return true
}

// TestHostilePageSlowReadersFreed is the trial's case: with
// http_max_conns 8 and http_max_conns_per_source 4, clients at two
// addresses ask for dialgate.wasm with a 1 KiB receive buffer and read
// nothing. Each is cut once a chunk of the response has waited longer
// than the stall bound (one log line each), and a WebSocket call from a
// third address gets through. Regression: the page's server had no
// write bound, and the eight held every slot for as long as they liked
// ("too many HTTP connections").
func TestHostilePageSlowReadersFreed(t *testing.T) {
	testutil.CheckGoroutines(t)
	setPageBounds(t, 200*time.Millisecond, ws.HTTPReadTimeout)
	ln, addr, logs := openPageListener(t)
	var slow []net.Conn
	for i := range 8 {
		c := dialFromAddr(t, fmt.Sprintf("127.0.0.%d", 2+i/4), addr, 1024)
		if _, err := io.WriteString(c, "GET /dialgate.wasm HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	cuts := func() int { return logs.FilterMessageSnippet("response cut").Len() }
	for deadline := time.Now().Add(10 * time.Second); cuts() < len(slow); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slow readers cut (logged: %v)", cuts(), len(slow), logs.All())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !wsCallFrom(t, ln, "127.0.0.4", addr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a WebSocket call from a third address is still refused")
		}
	}
	if n := cuts(); n != len(slow) {
		t.Errorf("%d \"response cut\" lines for %d cut connections", n, len(slow))
	}
	for _, c := range slow {
		c.Close()
	}
}

// TestPageProgressingReaderGetsWasm: a client that reads dialgate.wasm
// steadily, pausing between reads, gets all of it, and a download that
// outlasts the request's read bound is not cut for it. (That a download
// may last many stall bounds is TestBoundResponsesProgressingReader's,
// in package ws, over send buffers it keeps small: the page's server
// gets loopback's, which grow to megabytes, and the kernel wakes a
// blocked writer only when a third of its buffer has drained, so here
// the stall bound must leave time for that.)
func TestPageProgressingReaderGetsWasm(t *testing.T) {
	testutil.CheckGoroutines(t)
	const read = 100 * time.Millisecond
	setPageBounds(t, 2*time.Second, read)
	want, err := os.ReadFile("../web/static/dialgate.wasm")
	if err != nil {
		t.Fatal(err)
	}
	_, addr, logs := openPageListener(t)
	c := dialFromAddr(t, "127.0.0.2", addr, 64<<10)
	if _, err := io.WriteString(c, "GET /dialgate.wasm HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 32<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d octets: %v (logged: %v)", len(got), err, logs.All())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d octets, want the %d of dialgate.wasm", len(got), len(want))
	}
	if took := time.Since(start); took < 2*read {
		t.Fatalf("the download took %v, not longer than the read bound: the test proves nothing", took)
	}
	if n := logs.FilterMessageSnippet("response cut").Len(); n != 0 {
		t.Errorf("%d \"response cut\" lines", n)
	}
}

// TestPageBoundsSpareLines: a line upgraded on the page's server is not
// cut by any bound of its HTTP exchange: idle for longer than all of
// them, it still carries data both ways.
func TestPageBoundsSpareLines(t *testing.T) {
	testutil.CheckGoroutines(t)
	const bound = 100 * time.Millisecond
	setPageBounds(t, bound, bound)
	oldIdle, oldTotal := pageIdleTimeout, pageResponseTimeout
	pageIdleTimeout, pageResponseTimeout = bound, bound
	defer func() { pageIdleTimeout, pageResponseTimeout = oldIdle, oldTotal }()
	ln, _, _ := openPageListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan transport.Line, 1)
	go func() {
		l, _ := ln.Accept(ctx)
		accepted <- l
	}()
	c, err := ws.Dial(ctx, ln.Addr(), ws.DialOptions{PingInterval: -1, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.Fatal("no line accepted")
	}
	defer s.Close()
	time.Sleep(5 * bound) // idle: every HTTP bound passes
	testutil.StillCarries(t, c, s)
}

// TestWSTrustedProxyZonedHop: behind a trusted proxy, an X-Forwarded-For
// hop with an IPv6 zone does not name a caller: the call is refused
// (HTTP 400; it got the proxy's address, which counted as local: IPv6
// trial), no call is recorded, and none of its zone's control
// characters (a bidi override, C1 CSI sequences) reaches the log.
// Regression: "fe80::1%\u202e\u009b2J\u009b31mEVIL" became the caller's
// address in the INFO lines.
func TestWSTrustedProxyZonedHop(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	c.Listeners[0].TrustedProxies = []string{"127.0.0.1"}
	core, logs := observer.New(zap.DebugLevel)
	v := &fakeVerifier{users: map[string]string{"alice": "pw"}}
	g, err := Start(context.Background(), c, StartOptions{Verifier: v, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hdr := http.Header{"X-Forwarded-For": {"fe80::1%\u202e\u009b2J\u009b31mEVIL"}}
	if line, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{Header: hdr}); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		if line != nil {
			line.Close()
		}
		t.Fatalf("dial: %v, want HTTP 400", err)
	}
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessageSnippet("X-Forwarded-For hop is not a caller's IP address").Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the refusal: %v", logs.All())
		}
	}
	if r := records(t, g.Store); len(r) != 0 {
		t.Errorf("records %+v", r)
	}
	for _, e := range logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		if strings.ContainsAny(text, "\u202e\u009b") {
			t.Errorf("logged %q", text)
		}
	}
}
