package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// browserProxyListener returns the listener configuration docs/browser.md
// gives for a gateway behind a TLS reverse proxy on the same machine.
func browserProxyListener(t *testing.T) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "docs", "browser.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "Behind a TLS reverse proxy")
	if !ok {
		t.Fatal("docs/browser.md: no reverse-proxy section")
	}
	_, after, ok = strings.Cut(after, "```toml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 || !strings.Contains(block, "127.0.0.1:8080") {
		t.Fatalf("docs/browser.md: no listener on 127.0.0.1:8080 in the reverse-proxy section")
	}
	return block
}

// TestServeBrowserProxyDocs runs the reverse-proxy configuration of
// docs/browser.md as documented and calls it the way the nginx example
// forwards a browser (the public Host and Origin, X-Forwarded-For) to
// its loopback listener: the call gets the login prompt. Without the
// documented allowed_origins line the same call is refused with HTTP
// 403 (on a loopback connection a name that is not localhost may be a
// DNS-rebinding page).
func TestServeBrowserProxyDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	listener := browserProxyListener(t)
	if !strings.Contains(listener, `allowed_origins = ["https://bbs.example.org"]`) {
		t.Fatalf("docs/browser.md's proxy listener lists no public origin:\n%s", listener)
	}
	var kept []string
	for _, l := range strings.Split(listener, "\n") {
		if !strings.HasPrefix(l, "allowed_origins") {
			kept = append(kept, l)
		}
	}
	for _, c := range []struct {
		name     string
		listener string
		answered bool
	}{
		{"as documented", listener, true},
		{"without allowed_origins", strings.Join(kept, "\n"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			dir := t.TempDir()
			port := freePort(t)
			cfg := filepath.Join(dir, "gateway.toml")
			text := fmt.Sprintf("state_dir = %q\n[log]\nformat = \"json\"\nlevel = \"debug\"\n[lines]\nholdoff = \"0s\"\n", filepath.Join(dir, "state")) +
				strings.ReplaceAll(c.listener, "127.0.0.1:8080", port)
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			g := &testGateway{t: t, bin: gatewayBinary(t), dir: dir, cfgPath: cfg}
			g.start()
			t.Cleanup(g.stop)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			line, err := ws.Dial(ctx, "ws://"+port+"/line", ws.DialOptions{
				Subprotocol: "binary",
				Origin:      "https://bbs.example.org",
				Header: http.Header{"Host": {"bbs.example.org"}, "X-Forwarded-For": {"203.0.113.9"},
					"X-Forwarded-Proto": {"https"}},
			})
			if !c.answered {
				var he *ws.HandshakeError
				if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
					t.Fatalf("dial: %v, want HTTP 403", err)
				}
				g.waitLog("list the origin in allowed_origins")
				return
			}
			if err != nil {
				t.Fatalf("dial through the documented proxy set-up: %v\n%s", err, g.log.String())
			}
			defer line.Close()
			var got []byte
			buf := make([]byte, 512)
			for !strings.Contains(string(got), "login:") {
				n, err := line.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("no login prompt: %v; got %q", err, got)
				}
			}
			// trusted_proxies: the caller is the browser, not the proxy.
			g.waitLog(`"remote":"203.0.113.9`)
		})
	}
}
