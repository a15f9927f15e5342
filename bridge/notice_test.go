package bridge

import (
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
