package bridge

// The page's HTTP server holds no connection without bound. (These tests
// were lost when prelogin_test.go was rewritten in b92ccd4; restored
// after a documentation audit found docs/security.md naming them.)

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// startPageGateway starts a gateway whose one listener is a WebSocket
// line at /line with the browser terminal page at the other paths, and
// returns it with the host:port of its HTTP server.
func startPageGateway(t *testing.T) (*Gateway, string) {
	t.Helper()
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(context.Background()) })
	return g, strings.TrimSuffix(strings.TrimPrefix(g.Addr("test"), "ws://"), "/line")
}

// TestHostilePageKeepAliveFreed: a client that loads the browser
// terminal page and keeps its connection open without another request
// is hung up after the idle timeout. Regression: the page's HTTP server
// had no IdleTimeout, so net/http waited for the next request forever;
// 50 such connections to a running gateway held 50 goroutines and
// descriptors for as long as the clients liked (45 s and counting).
func TestHostilePageKeepAliveFreed(t *testing.T) {
	testutil.CheckGoroutines(t)
	old := pageIdleTimeout
	pageIdleTimeout = 200 * time.Millisecond
	defer func() { pageIdleTimeout = old }()
	_, addr := startPageGateway(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("page: status %d, close %v; want 200 on a keep-alive connection", resp.StatusCode, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %d, %v; want EOF from the gateway", n, err)
	}
}

// TestHostilePageHeaderLimit: a request to the page's server whose
// header exceeds ws.MaxHeaderBytes is refused with 431 before it is read
// into memory (net/http's default allows 1 MiB per connection).
func TestHostilePageHeaderLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startPageGateway(t)
	for _, path := range []string{"/", "/line"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nX-Big: "+strings.Repeat("a", 4*ws.MaxHeaderBytes)+"\r\n\r\n")
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		c.Close()
		<-done
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s with a %d KiB header: status %d, want 431", path, 4*ws.MaxHeaderBytes>>10, resp.StatusCode)
		}
	}
}

// TestHostilePageConnFlood: the page's server, like the line's, keeps
// at most ws.DefaultMaxConnsPerSource connections that are not lines
// from one address (silent ones here): one more closes the one that has
// waited longest; nothing bounded them before.
func TestHostilePageConnFlood(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startPageGateway(t)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range ws.DefaultMaxConnsPerSource + 1 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	first := held[0]
	first.SetReadDeadline(time.Now().Add(ws.HTTPReadHeaderTimeout / 2))
	if n, err := first.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the longest-waiting of %d silent connections from one address: read %d, %v; want EOF at once", ws.DefaultMaxConnsPerSource+1, n, err)
	}
}
