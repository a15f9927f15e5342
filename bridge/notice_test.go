package bridge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestNoticeLoggerRate: notices go out at the warn level, at most one a
// second; the first after a quiet second says how many were left out.
func TestNoticeLoggerRate(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	n := newNoticeLogger(zap.New(core).Sugar())
	now := time.Unix(1000, 0)
	n.now = func() time.Time { return now }
	for i := range 5 {
		n.Printf("refused %d", i)
		now = now.Add(100 * time.Millisecond)
	}
	now = now.Add(time.Second)
	n.Printf("refused %d", 5)
	var got []string
	for _, e := range logs.All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("level %v for %q, want warn", e.Level, e.Message)
		}
		got = append(got, e.Message)
	}
	want := []string{"refused 0", "refused 5 (4 more such lines left out)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestListenOriginRefusalLogged: a WebSocket call refused for its origin
// is logged where the operator sees it (warn, the default level shows
// it), not only at debug as the transports' per-connection detail is.
// Regression: the refusal and its allowed_origins hint went to debug,
// and at the default level a misconfigured reverse proxy left no trace.
func TestListenOriginRefusalLogged(t *testing.T) {
	testutil.CheckGoroutines(t)
	core, logs := observer.New(zap.InfoLevel)
	l := config.Listener{Name: "web", Address: "ws://127.0.0.1:0/line"}
	ln, err := OpenListener(l, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	req, err := http.NewRequest("GET", strings.Replace(ln.Addr(), "ws://", "http://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "https://evil.example")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("origin").Len(); n != 1 {
		t.Errorf("%d warn lines about the refused origin, want 1 (logged: %v)", n, logs.All())
	}
}

// TestListenHTTPConnLimitsFromConfig: a ws listener's http_max_conns_per_source
// reaches the WebSocket server: over it a connection from one address
// closes that address's oldest idle one, and the operator gets a warning
// saying so.
func TestListenHTTPConnLimitsFromConfig(t *testing.T) {
	testutil.CheckGoroutines(t)
	core, logs := observer.New(zap.InfoLevel)
	l := config.Listener{Name: "web", Address: "ws://127.0.0.1:0/line", HTTPMaxConnsPerSource: 2}
	ln, err := OpenListener(l, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line")
	answered := func() bool {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	for i := range 2 {
		if !answered() {
			t.Fatalf("connection %d within the bound was refused", i+1)
		}
	}
	if !answered() {
		t.Error("a 3rd connection from one address was refused, its idle ones kept (http_max_conns_per_source 2)")
	}
	for deadline := time.Now().Add(5 * time.Second); logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("closed to make room").Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the refused connection (logged: %v)", logs.All())
		}
	}
}
