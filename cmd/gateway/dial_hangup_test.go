package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of how `gateway dial` ends when the gateway, not the
// caller, ends the session mid-call: the real daemon (`gateway serve`)
// is stopped (SIGTERM), killed (SIGKILL), or hangs up an idle session.
// Each runs over the text path and over V.42 with Access Security.

// newGatewayLines starts `gateway serve` like newGateway (users alice/sh,
// bob/echo, dave/down) with lines in place of the [lines] settings
// holdoff and drain_timeout.
func newGatewayLines(t *testing.T, o gwOpts, lines string) *testGateway {
	t.Helper()
	if o.v42 == "" {
		o.v42 = "off"
	}
	dir := t.TempDir()
	g := &testGateway{t: t, bin: gatewayBinary(t), dir: dir, cfgPath: filepath.Join(dir, "gateway.toml"), addr: freePort(t), metrics: freePort(t)}
	conf := fmt.Sprintf(serveConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), g.addr, 4, "0", o.echoAddr, o.v42, g.metrics, false)
	const old = "holdoff = \"0s\"\ndrain_timeout = \"20s\"\n"
	if !strings.Contains(conf, old) {
		t.Fatal("serveConfig has changed: update newGatewayLines")
	}
	conf = strings.Replace(conf, old, lines, 1)
	if err := os.WriteFile(g.cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeUsers(map[string]string{"bob": "echo"})
	g.start()
	t.Cleanup(g.stop)
	return g
}

// dialBob calls g as bob over the text path (v42 false) or V.42 and
// waits until an echo came back through the bridged session. stdin stays
// open: the caller does not hang up.
func dialBob(t *testing.T, g *testGateway, v42 bool) *dialProc {
	t.Helper()
	var p *dialProc
	// seen waits until out (the call's stdout or stderr) holds s.
	seen := func(out *dialBuffer, s string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), s); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("dial did not show %q; stdout:\n%q\nstderr:\n%s\ngateway:\n%s", s, p.stdout, p.stderr, g.log)
			}
		}
	}
	if v42 {
		p = startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu",
			"--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
		seen(p.stderr, "V.42 with Access Security")
	} else {
		p = startDialProc(t, nil, "--text", "telnet://"+g.addr)
		seen(p.stdout, "login: ")
		io.WriteString(p.stdin, "bob\r")
		seen(p.stdout, "assword: ")
		io.WriteString(p.stdin, "pw-bob\r")
	}
	io.WriteString(p.stdin, "mid-call\r")
	seen(p.stdout, "mid-call\r")
	return p
}

// forBothPaths runs f as a subtest over the text path and over V.42.
func forBothPaths(t *testing.T, f func(t *testing.T, v42 bool)) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for _, v42 := range []bool{false, true} {
		name := "text"
		if v42 {
			name = "v42"
		}
		t.Run(name, func(t *testing.T) { f(t, v42) })
	}
}

func v42Mode(v42 bool) string {
	if v42 {
		return "detect"
	}
	return "off"
}

// TestE2EDialGatewayShutdown: SIGTERM to the daemon during a call: after
// drain_timeout the gateway hangs up with "NO CARRIER (the gateway is
// shutting down)" and dial exits 15 (hung up by the gateway), not 0.
func TestE2EDialGatewayShutdown(t *testing.T) {
	forBothPaths(t, func(t *testing.T, v42 bool) {
		g := newGatewayLines(t, gwOpts{echoAddr: echoBackend(t), v42: v42Mode(v42)}, "holdoff = \"0s\"\ndrain_timeout = \"200ms\"\n")
		p := dialBob(t, g, v42)
		if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t); code != exitHungUp {
			t.Fatalf("exit %d, want %d; stderr:\n%s\ngateway:\n%s", code, exitHungUp, p.stderr, g.log)
		}
		if !strings.HasSuffix(p.stdout.String(), "NO CARRIER (the gateway is shutting down)\r\n") ||
			!strings.Contains(p.stderr.String(), "the gateway hung up: NO CARRIER (the gateway is shutting down)") {
			t.Errorf("stdout %q\nstderr %q", p.stdout, p.stderr)
		}
		<-g.done
		if r := g.records(); len(r) != 1 || r[0].Result != "shutdown" {
			t.Errorf("records %+v", r)
		}
	})
}

// TestE2EDialGatewayKilled: the daemon killed (SIGKILL) during a call:
// the connection ends without a word (text) or without a LAPM release
// (V.42), and dial exits 16 (the line dropped), not 0.
func TestE2EDialGatewayKilled(t *testing.T) {
	forBothPaths(t, func(t *testing.T, v42 bool) {
		g := newGatewayLines(t, gwOpts{echoAddr: echoBackend(t), v42: v42Mode(v42)}, "holdoff = \"0s\"\ndrain_timeout = \"20s\"\n")
		p := dialBob(t, g, v42)
		if err := g.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-g.done
		if code := p.wait(t); code != exitDropped {
			t.Fatalf("exit %d, want %d; stderr:\n%s\nstdout:\n%q", code, exitDropped, p.stderr, p.stdout)
		}
		if !strings.Contains(p.stderr.String(), "the line dropped mid-call") {
			t.Errorf("stderr %q", p.stderr)
		}
	})
}

// TestE2EDialIdleTimeout: [lines] idle_timeout on the real daemon: a
// session in which nothing moves is hung up with "NO CARRIER (idle
// timeout)" (inside the sealed link on V.42), recorded with that reason
// and logged; dial exits 15.
func TestE2EDialIdleTimeout(t *testing.T) {
	forBothPaths(t, func(t *testing.T, v42 bool) {
		g := newGatewayLines(t, gwOpts{echoAddr: echoBackend(t), v42: v42Mode(v42)}, "holdoff = \"0s\"\ndrain_timeout = \"20s\"\nidle_timeout = \"1s\"\n")
		p := dialBob(t, g, v42)
		if code := p.wait(t); code != exitHungUp {
			t.Fatalf("exit %d, want %d; stderr:\n%s\ngateway:\n%s", code, exitHungUp, p.stderr, g.log)
		}
		if !strings.HasSuffix(p.stdout.String(), "mid-call\r\r\nNO CARRIER (idle timeout)\r\n") {
			t.Errorf("stdout %q", p.stdout)
		}
		recs := g.waitRecords(1)
		if r := recs[0]; r.Result != "completed" || r.Reason != "idle timeout" || r.BytesIn != int64(len("mid-call\r")) {
			t.Errorf("record %+v", r)
		}
		g.waitLog(`"msg":"session idle: hanging up"`)
	})
}

// TestDialHangupBackendDown: a user whose backend cannot be reached hears
// NO CARRIER (service "down" is not available) and dial exits 15 (the
// gateway hung up), over the text path and over V.42, also when dial's
// own input has already ended (stdin from /dev/null in a script).
func TestDialHangupBackendDown(t *testing.T) {
	forBothPaths(t, func(t *testing.T, v42 bool) {
		g := newGateway(t, gwOpts{v42: "detect"})
		var p *dialProc
		if v42 {
			p = startDialProc(t, []string{"DIALGATE_PASSWORD=pw-dave"}, "--user", "dave", "--tofu",
				"--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
			p.stdin.Close()
		} else {
			p = startDialProc(t, nil, "--text", "telnet://"+g.addr)
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.stdout.String(), "login: "); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no login prompt; stdout %q", p.stdout)
				}
			}
			io.WriteString(p.stdin, "dave\rpw-dave\r")
		}
		if code := p.wait(t); code != exitHungUp {
			t.Fatalf("exit %d, want %d; stdout %q\nstderr:\n%s\ngateway:\n%s", code, exitHungUp, p.stdout, p.stderr, g.log)
		}
		if want := `NO CARRIER (service "down" is not available)`; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.stderr)
		}
	})
}

// TestE2EDialGatewayKilledAfterBanner: TestE2EDialGatewayKilled on a
// listener with a banner_file: dial still knows the peer for a dialgate
// gateway (its session line opens the call, before the banner) and
// exits 16 when the gateway dies mid-call (review: the banner came
// first, dial took the gateway for a BBS and exited 0).
func TestE2EDialGatewayKilledAfterBanner(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGatewayLines(t, gwOpts{echoAddr: echoBackend(t)}, "holdoff = \"0s\"\ndrain_timeout = \"20s\"\n")
	if err := os.WriteFile(filepath.Join(g.dir, "issue"), []byte("Welcome to Example BBS\nAsk the sysop for an account\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.setListener("banner_file", `"issue"`)
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	p := dialBob(t, g, false)
	if !strings.Contains(p.stdout.String(), "Welcome to Example BBS") {
		t.Fatalf("no banner: %q", p.stdout)
	}
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-g.done
	if code := p.wait(t); code != exitDropped {
		t.Fatalf("exit %d, want %d; stderr:\n%s\nstdout:\n%q", code, exitDropped, p.stderr, p.stdout)
	}
}
