package bridge

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// freeLoopbackPort returns a port free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHAProxySendsProxyHeaders: HAProxy (Debian's haproxy) in TCP mode in
// front of a telnet listener with proxy_protocol, once with send-proxy
// (version 1) and once with send-proxy-v2, health checks on: each caller
// is recorded with its own address (callers from 127.0.0.5 and
// 127.0.0.6), and the checks (version 2 LOCAL; version 1 naming the
// check's own connection) make no calls.
func TestHAProxySendsProxyHeaders(t *testing.T) {
	bin := testutil.NeedBinary(t, "haproxy")
	testutil.CheckGoroutines(t)
	g, st := startProxyListener(t, []string{"127.0.0.1"}, config.V42Off)
	gw := strings.TrimPrefix(g.Addr("test"), "telnet://")
	p1, p2 := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend v1
    bind 127.0.0.1:%d
    default_backend gw1
frontend v2
    bind 127.0.0.1:%d
    default_backend gw2
backend gw1
    server gw %s send-proxy check inter 100ms
backend gw2
    server gw %s send-proxy-v2 check inter 100ms
`, p1, p2, gw, gw)
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// HAProxy answers once its frontends are bound.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p2))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not start: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// That probe went through to the gateway as a call from the proxy's
	// caller (127.0.0.1) that hung up at once; let a few health checks
	// pass too.
	time.Sleep(500 * time.Millisecond)
	before := len(records(t, st))

	for i, port := range []int{p1, p2} {
		from := fmt.Sprintf("127.0.0.%d", 5+i)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		conn, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		login(t, conn, "alice", "secret")
		conn.Write([]byte("via haproxy"))
		expect(t, conn, "via haproxy")
		conn.Close()
		recs := waitRecords(t, st, before+i+1)
		r := recs[len(recs)-1]
		if !strings.HasPrefix(r.Remote, from+":") || r.Result != store.ResultCompleted || r.User != "alice" {
			t.Errorf("call through HAProxy (%d) from %s: %+v\nhaproxy:\n%s", port, from, r, out)
		}
	}
	// Health checks went on meanwhile (every 100 ms on two backends):
	// none became a call.
	time.Sleep(300 * time.Millisecond)
	if recs := records(t, st); len(recs) != before+2 {
		t.Errorf("%d records after two calls, %d before: %+v", len(recs), before, recs[before:])
	}
}
