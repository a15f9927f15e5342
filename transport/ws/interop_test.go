package ws

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// nodeClient returns the node binary and the interop script, or skips
// (locally) / fails (CI=true) when node or the npm ws package is missing.
// The test command installs it with: npm ci --prefix transport/ws/testdata/node
func nodeClient(t *testing.T) (node, script string) {
	t.Helper()
	node = testutil.NeedBinary(t, "node")
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		testutil.Missing(t, "npm package ws not installed: run npm ci --prefix transport/ws/testdata/node")
	}
	return node, filepath.Join(dir, "client.js")
}

// interopOctets is octets() of client.js.
func interopOctets(n int) []byte {
	b := make([]byte, n)
	x := uint32(1)
	for i := range b {
		if i < 512 {
			b[i] = byte(i)
			continue
		}
		x = (x*1103515245 + 12345) & 0x7fffffff
		b[i] = byte(x >> 16)
	}
	return b
}

// TestNodeWSClient drives the npm ws client against the listener in each
// subprotocol: it sends test octets (and a resize message where the
// subprotocol has control messages), we echo them and close at once, and
// it checks every octet came back before a 1000 close.
func TestNodeWSClient(t *testing.T) {
	node, script := nodeClient(t)
	const size = 256 << 10
	want := interopOctets(size)
	for _, proto := range []string{"binary", "plain", "base64", "none"} {
		t.Run(proto, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{})
			ctx := testCtx(t, 60*time.Second)
			cmd := exec.CommandContext(ctx, node, script, s.url, proto, strconv.Itoa(size))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			l, err := s.l.AcceptWS(ctx)
			if err != nil {
				cmd.Wait()
				t.Fatalf("Accept: %v; client said %s", err, out.String())
			}
			watchdog(t, 50*time.Second, func() { l.Close() })
			wantProto := proto
			if proto == "none" {
				wantProto = ""
			}
			if info := l.Info(); info.Subproto != wantProto {
				t.Errorf("Info().Subproto = %q, want %q", info.Subproto, wantProto)
			}
			got := make([]byte, size)
			if _, err := io.ReadFull(l, got); err != nil {
				t.Fatalf("reading from node: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("octets from node differ")
			}
			if wantProto == "binary" || wantProto == "" {
				if w := l.Info().Window; w != (transport.WindowSize{Cols: 132, Rows: 50}) {
					t.Errorf("Info().Window = %+v after the node client's resize", w)
				}
			}
			if _, err := l.Write(got); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "OK" {
				t.Fatalf("node client: %v: %s", err, out.String())
			}
		})
	}
}

// TestNodeWSClientForeignOrigin: a browser-like client from another site
// is refused with 403 and a log line.
func TestNodeWSClientForeignOrigin(t *testing.T) {
	node, script := nodeClient(t)
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, script, s.url, "binary", "1", "https://evil.example").CombinedOutput()
	if strings.TrimSpace(string(out)) != "HTTP 403" {
		t.Fatalf("node client: %v: %s", err, out)
	}
	s.log.wait(t, "origin", "evil.example", "not allowed")
}
