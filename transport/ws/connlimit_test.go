package ws

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answered tells whether the server answers a plain request on c (an
// admitted connection; it stays open, idle) or hangs up without a word
// (a connection over the bounds).
func answered(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotFound
}

// TestListenConnLimits: a Listen server holds at most MaxConnsPerSource
// HTTP connections that are not lines from one address and MaxConns in
// all; a connection over the bounds makes room by closing the one that
// has waited longest without a request in progress (idle, or silent
// since it connected), or is closed at once if every one has a request
// in progress (TestConnLimitsRefuseWhenAllBusy); a connection that
// closes, or becomes a line, no longer counts. Regressions: nothing
// bounded them, and 5,000 silent connections to a running gateway held
// 5,000 goroutines and descriptors (at the descriptor limit every
// listener fails); then the bounds refused every new connection while
// slow ones held them (security trial: 128 silent connections from each
// of 8 addresses kept every browser out).
func TestListenConnLimits(t *testing.T) {
	testutil.CheckGoroutines(t)
	logs := newLogSink(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: logs, MaxConns: 5, MaxConnsPerSource: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line")

	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.1", addr)
		if !answered(t, c) {
			t.Fatal("a connection within the bounds was refused")
		}
		held = append(held, c)
		settle()
	}
	// A 4th from the address: its oldest idle connection makes room.
	if !answered(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Error("a 4th connection from one address was refused, its idle ones kept")
	}
	if !closedByServer(t, held[0]) || closedByServer(t, held[1]) {
		t.Error("not the oldest idle connection of the address was closed to make room")
	}
	for range 2 {
		if !answered(t, dialFrom(t, "127.0.0.2", addr)) {
			t.Fatal("another address was refused below MaxConns")
		}
	}
	// MaxConns: the oldest idle connection of any address makes room.
	if !answered(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Error("a 6th connection was refused, idle ones kept (MaxConns 5)")
	}
	if !closedByServer(t, held[1]) {
		t.Error("the oldest idle connection was not closed to make room")
	}
	// A silent connection (no request yet) makes room as well.
	silent := dialFrom(t, "127.0.0.4", addr)
	time.Sleep(50 * time.Millisecond) // accepted and counted
	if !answered(t, dialFrom(t, "127.0.0.5", addr)) {
		t.Error("a connection was refused while a silent one held a place")
	}
	for _, c := range held[2:] {
		c.Close()
	}
	silent.Close()
	if !strings.Contains(strings.Join(logs.snapshot(), "\n"), "closed to make room") {
		t.Error("no log line about connections closed to make room")
	}
}

// settle gives the server time to mark a connection it has just answered
// idle (it does so after writing the answer, which the client may read
// first); without it, under load, the oldest connection could still count
// as busy when the next one arrives, and a younger one would make room.
func settle() { time.Sleep(200 * time.Millisecond) }

// closedByServer reports whether the server has closed c (an idle
// connection: it sends nothing else).
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestConnLimitsRefuseWhenAllBusy: with every place held by a request in
// progress, a connection over the bounds is closed at once, and the
// refusal logged.
func TestConnLimitsRefuseWhenAllBusy(t *testing.T) {
	testutil.CheckGoroutines(t)
	logs := newLogSink(t)
	l, err := NewHandler(Options{Logger: logs, MaxConns: 3, MaxConnsPerSource: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release := make(chan struct{})
	busy := make(chan struct{}, 8)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		busy <- struct{}{}
		<-release
	})}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l.LimitConns(tl, srv))
	defer srv.Close()
	defer close(release)
	addr := tl.Addr().String()
	request := func(src string) net.Conn {
		c := dialFrom(t, src, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		return c
	}
	request("127.0.0.1")
	request("127.0.0.1")
	for range 2 {
		<-busy
	}
	if !closedByServer(t, request("127.0.0.1")) {
		t.Error("a 3rd connection from one address was kept while two requests from it were in progress (MaxConnsPerSource 2)")
	}
	request("127.0.0.2")
	<-busy
	if !closedByServer(t, request("127.0.0.3")) {
		t.Error("a 4th connection was kept while three requests were in progress (MaxConns 3)")
	}
	if !strings.Contains(strings.Join(logs.snapshot(), "\n"), "too many HTTP connections") {
		t.Error("no log line about refused connections")
	}
}

// TestListenConnLimitsLinesDoNotCount: connections that became lines do
// not count towards the bounds (the gateway's line slots limit those).
// An accepted line writes on the TCP connection itself, not on the
// limit's wrapper, so that gorilla/websocket sends each message's header
// and payload with one writev (net.Buffers takes that path only for a
// *net.TCPConn, or a type that embeds one as meteredTCPConn does: its
// method set holds the unexported writeBuffers; strace shows one writev).
func TestListenConnLimitsLinesDoNotCount(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: newLogSink(t), MaxConns: 2, MaxConnsPerSource: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t, 20*time.Second)
	var lines []*Line
	for i := range 6 {
		accepted := make(chan *Line, 1)
		go func() {
			l, _ := ln.AcceptWS(ctx)
			accepted <- l
		}()
		c, err := Dial(ctx, ln.Addr(), DialOptions{})
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		lines = append(lines, c)
		l := <-accepted
		if l == nil {
			continue
		}
		lines = append(lines, l)
		if mc, ok := l.conn.NetConn().(*meteredTCPConn); !ok {
			t.Errorf("line %d writes on a %T", i+1, l.conn.NetConn())
		} else if nc := mc.TCPConn; nc.RemoteAddr().String() != c.conn.NetConn().LocalAddr().String() {
			t.Errorf("line %d's connection is from %v, the caller is %v", i+1, nc.RemoteAddr(), c.conn.NetConn().LocalAddr())
		}
	}
	for _, l := range lines {
		l.Close()
	}
}

// TestListenConnLimitsTLS: on wss the bounds count TCP connections, and
// a TLS connection that closes gives its place back (the server reports
// it as a *tls.Conn).
func TestListenConnLimitsTLS(t *testing.T) {
	testutil.CheckGoroutines(t)
	cert, key, pool := selfSigned(t)
	ln, err := Listen("wss://127.0.0.1:0/line", Options{Logger: newLogSink(t), MaxConns: 2, MaxConnsPerSource: 2, CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "wss://"), "/line")
	tlsAnswered := func() (net.Conn, bool) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return nil, false
		}
		t.Cleanup(func() { c.Close() })
		return c, answered(t, c)
	}
	var held []net.Conn
	for range 2 {
		c, ok := tlsAnswered()
		if !ok {
			t.Fatal("a TLS connection within the bounds was refused")
		}
		held = append(held, c)
		settle()
	}
	// A 3rd makes room by closing the oldest idle one.
	third, ok := tlsAnswered()
	if !ok {
		t.Fatal("a 3rd TLS connection was refused, the idle ones kept (MaxConns 2)")
	}
	if !closedByServer(t, held[0]) {
		t.Error("the oldest idle TLS connection was not closed to make room")
	}
	// Closed connections give their places back: two new ones fit
	// without the second closing the first.
	held[1].Close()
	third.Close()
	time.Sleep(100 * time.Millisecond) // the server sees the closes
	a, okA := tlsAnswered()
	if _, okB := tlsAnswered(); !okA || !okB {
		t.Fatal("TLS connections refused after the others closed")
	}
	if closedByServer(t, a) {
		t.Error("the place of a closed TLS connection was not given back: a new one had to make room")
	}
}

// TestBoundHTTP: an HTTP server that is no WebSocket listener (the
// gateway's metrics) holds at most max connections; silent ones are
// closed, the longest-waiting first, to make room for a scrape
// (pentest: nothing bounded them, and a local user's connections could
// take every descriptor the calls need).
func TestBoundHTTP(t *testing.T) {
	testutil.CheckGoroutines(t)
	var mu sync.Mutex
	var logged []string
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Minute}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := BoundHTTP(tl, srv, 3, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	})
	go srv.Serve(ln)
	defer srv.Close()
	addr := tl.Addr().String()
	first := dialFrom(t, "127.0.0.1", addr)
	time.Sleep(50 * time.Millisecond) // first waits longest
	for range 2 {
		dialFrom(t, "127.0.0.1", addr)
	}
	if !answered(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("a request was not answered while three silent connections were held (max 3)")
	}
	if !closedByServer(t, first) {
		t.Error("the longest-waiting silent connection was not closed to make room")
	}
	ln.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logged, "\n"), "closed to make room") {
		t.Errorf("log %q: no line about the connection closed", logged)
	}
}
