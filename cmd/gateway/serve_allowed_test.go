package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
)

// TestServeAllowedSources: a listener with allowed_sources hangs up on a
// caller from elsewhere with a line saying why, before any login and
// without a line slot, and records it refused; a reload that lists the
// caller's address lets it in.
func TestServeAllowedSources(t *testing.T) {
	g := newGatewayNoStart(t, gwOpts{maxConcurrent: 1, shSleep: "30"})
	g.setListener("allowed_sources", `["10.0.0.0/8", "127.0.0.2", "2001:db8::/32"]`)
	g.start()
	// The only line (max_concurrent 1) is taken by a caller from an
	// allowed address: the others hear that their address is not taken,
	// not BUSY (the check comes before the slot).
	held := loginFrom(t, g.addr, "127.0.0.2", "alice", "pw-alice", "hello alice")
	for range 3 {
		s := telnetTo(t, g.addr)
		s.expect("NO CARRIER (this line does not take calls from your address)")
		s.expect("Connection closed by foreign host")
	}
	// gateway dial, text and V.42: not connected (13), saying why.
	for _, mode := range []string{"--text", "--v42=detect"} {
		cmd := exec.Command(g.bin, "dial", "--quiet", mode, "telnet://"+g.addr)
		cmd.Env = append(os.Environ(), "DIALGATE_USER=alice", "DIALGATE_PASSWORD=pw-alice")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitNoCarrier || !strings.Contains(string(out), "this line does not take calls from your address") {
			t.Errorf("dial %s: %v, output %q; want exit %d saying why", mode, err, out, exitNoCarrier)
		}
	}
	recs := g.waitRecords(5)
	for _, r := range recs {
		if r.Result != store.ResultRefused || r.Reason != "address not in the listener's allowed_sources" || r.User != "" {
			t.Fatalf("record %+v, want refused for its address", r)
		}
	}
	held.Close()
	g.waitRecords(6)

	g.editConfig(t, [2]string{`allowed_sources = ["10.0.0.0/8", "127.0.0.2", "2001:db8::/32"]`, `allowed_sources = ["10.0.0.0/8", "127.0.0.1"]`})
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
}

// loginFrom logs in at a text login from a loopback address of its own
// (a telnet listener's negotiation is ignored) and returns the
// connection once want has come.
func loginFrom(t *testing.T, addr, src, user, pw, want string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var got strings.Builder
	b := make([]byte, 512)
	for _, step := range [][2]string{{"login: ", user + "\r"}, {"password: ", pw + "\r"}, {want, ""}} {
		for !strings.Contains(got.String(), step[0]) {
			n, err := c.Read(b)
			got.Write(b[:n])
			if err != nil {
				t.Fatalf("from %s: %v before %q; read %q", src, err, step[0], got.String())
			}
		}
		got.Reset()
		if step[1] != "" {
			c.Write([]byte(step[1]))
		}
	}
	c.SetDeadline(time.Time{})
	return c
}
