package ws

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
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
// all; connections over the bounds are closed at once; a connection that
// closes, or becomes a line, no longer counts. Regression: nothing
// bounded them, and 5,000 silent connections to a running gateway held
// 5,000 goroutines and descriptors (at the descriptor limit every
// listener fails).
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
	}
	if answered(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Error("a 4th connection from one address was answered (MaxConnsPerSource 3)")
	}
	for range 2 {
		if !answered(t, dialFrom(t, "127.0.0.2", addr)) {
			t.Fatal("another address was refused below MaxConns")
		}
	}
	if answered(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Error("a 6th connection was answered (MaxConns 5)")
	}
	// A closed connection no longer counts.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for !answered(t, dialFrom(t, "127.0.0.1", addr)) {
		if time.Now().After(deadline) {
			t.Fatal("the slot of a closed connection was not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range held[1:] {
		c.Close()
	}
	if !strings.Contains(strings.Join(logs.snapshot(), "\n"), "closed at once") {
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
	}
	if _, ok := tlsAnswered(); ok {
		t.Fatal("a 3rd TLS connection was answered (MaxConns 2)")
	}
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := tlsAnswered(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the place of a closed TLS connection was not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
