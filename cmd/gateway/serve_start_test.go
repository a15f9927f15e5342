package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/internal/config"
)

// TestServePortInUse: a listener whose port another program holds stops
// `gateway serve` at start with one line on stderr that names the
// listener and says what to do; no stack trace, no second copy in the
// log.
func TestServePortInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir, taken := t.TempDir(), takenAddr(t)
	stderr := serveRefuses(t, writeTestConfig(t, dir, fmt.Sprintf("state_dir = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://%s\"\n", filepath.Join(dir, "state"), taken)))
	var mentions []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "in use") {
			mentions = append(mentions, l)
		}
	}
	want := fmt.Sprintf(`gateway serve: listener "modem" (telnet://%s): the address is already in use: another program (or another gateway) listens there; stop it or change the address in the configuration`, taken)
	if len(mentions) != 1 || !strings.HasPrefix(mentions[0], want) {
		t.Errorf("stderr:\n%s\nwant one line starting\n%s", stderr, want)
	}
	if strings.Contains(stderr, "goroutine ") {
		t.Errorf("stack trace on stderr:\n%s", stderr)
	}
}

// TestServeMetricsPortInUse: a [metrics] address another program holds
// stops the gateway at start, and the log never said it was answering
// (new-user trial: "answering" for every listener, then the exit).
func TestServeMetricsPortInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir, taken := t.TempDir(), takenAddr(t)
	out := serveRefuses(t, writeTestConfig(t, dir, fmt.Sprintf("state_dir = %q\n[metrics]\nlisten = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://%s\"\n", filepath.Join(dir, "state"), taken, freePort(t))))
	if !strings.Contains(out, "[metrics] listen "+taken+": the address is already in use") || strings.Contains(out, "answering") {
		t.Errorf("output:\n%s", out)
	}
}

// takenAddr is a loopback address that another listener holds for the
// rest of the test.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// writeTestConfig writes text as dir/gateway.toml and returns its path.
func writeTestConfig(t *testing.T, dir, text string) string {
	t.Helper()
	cfg := filepath.Join(dir, "gateway.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveRefuses runs gateway serve --config cfg, which must stop at once
// with exit 1, and returns its stderr.
func serveRefuses(t *testing.T, cfg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBinary(t), "serve", "--config", cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var ee *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("serve: %v, want exit %d; stderr:\n%s", err, exitFailure, stderr.String())
	}
	return stderr.String()
}

// TestExplainStartError: the usual reasons a listening address cannot be
// opened are told with the listener or metrics endpoint and the remedy;
// other errors pass unchanged.
func TestExplainStartError(t *testing.T) {
	cfg := &config.Config{
		Listeners: []config.Listener{{Name: "modem", Address: "telnet://0.0.0.0:23"}, {Name: "web", Address: "ws://192.0.2.1:8080/line"}},
		Metrics:   config.Metrics{Listen: "127.0.0.1:9464"},
	}
	listenErr := func(addr string, errno syscall.Errno) error {
		return fmt.Errorf("tcp: listen %s: %w", addr, &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", errno)})
	}
	// As bridge.Start and serve return them: named by the listener (or
	// the metrics endpoint) that failed, whatever the address's text.
	listenerErr := func(name, address, addr string, errno syscall.Errno) error {
		return &bridge.ListenError{Listener: name, Address: address, Err: listenErr(addr, errno)}
	}
	metricsErr := func(addr string, errno syscall.Errno) error {
		return metricsListenError{fmt.Errorf("metrics: %w", listenErr(addr, errno))}
	}
	for _, c := range []struct {
		err  error
		demo bool
		want string
	}{
		{listenerErr("modem", "telnet://0.0.0.0:23", "0.0.0.0:23", syscall.EACCES), false, `listener "modem" (telnet://0.0.0.0:23): permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE`},
		{listenerErr("web", "ws://192.0.2.1:8080/line", "192.0.2.1:8080", syscall.EADDRNOTAVAIL), false, `listener "web" (ws://192.0.2.1:8080/line): the host is not an address of this machine`},
		{metricsErr("127.0.0.1:9464", syscall.EADDRINUSE), false, `[metrics] listen 127.0.0.1:9464: the address is already in use`},
		{listenerErr("modem", "telnet://0.0.0.0:23", "0.0.0.0:23", syscall.EADDRINUSE), true, `run the gateway with a configuration file (--config) that names other addresses`},
		// The address in the error's text matches another listener's
		// (a prefix of it): the error names the one that failed.
		{listenerErr("web", "ws://localhost:2323/line", "127.0.0.1:2323", syscall.EADDRINUSE), false, `listener "web" (ws://localhost:2323/line): the address is already in use`},
		// The metrics endpoint failing on a listener's address.
		{metricsErr("0.0.0.0:23", syscall.EADDRINUSE), false, `[metrics] listen 127.0.0.1:9464: the address is already in use`},
		{errors.New("store: state directory in use by another gateway"), false, "store: state directory in use by another gateway"},
		// Permission errors that are not about an address stay as they
		// are (they were explained as a port below 1024).
		{fmt.Errorf("store: %w", &os.PathError{Op: "mkdir", Path: "/var/lib/dialgate", Err: syscall.EACCES}), false, "store: mkdir /var/lib/dialgate: permission denied"},
	} {
		got := explainStartError(cfg, c.demo, c.err)
		if strings.Contains(got.Error(), "ports below 1024") != strings.Contains(c.want, "ports below 1024") {
			t.Errorf("explainStartError(%v) = %q: port advice where it does not apply, or none where it does", c.err, got)
		}
		if !strings.Contains(got.Error(), c.want) {
			t.Errorf("explainStartError(%v) = %q, want %q", c.err, got, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("explainStartError(%v) does not wrap it", c.err)
		}
	}
}

// TestServeConfigWithoutFlag: `gateway serve FILE` (the file without
// --config) is a usage error that shows the right command.
func TestServeConfigWithoutFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	cmd := exec.Command(gatewayBinary(t), "serve", "my.toml")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("serve ended with %v, want exit %d; stderr:\n%s", err, exitUsage, stderr.String())
	}
	if want := "gateway serve --config my.toml"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not show %q", stderr.String(), want)
	}
}

// TestServeSIGHUPDuringStart: a SIGHUP that arrives while the gateway is
// still starting (logrotate's postrotate, a certbot hook, `systemctl
// kill -s HUP` while the unit is activating) is a reload once the
// gateway answers, not the signal's default action, which ended the
// process without a word; and under systemd a death by SIGHUP counts as
// a clean exit, so Restart=on-failure did not bring it back (operator
// trial). The signals are sent from the log's first line, "starting",
// until the listeners answer.
func TestServeSIGHUPDuringStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{})
	g.stop()
	g.launch()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.log.String(), `"msg":"starting"`) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not log starting:\n%s", g.log.String())
		}
		time.Sleep(50 * time.Microsecond)
	}
	sent := 0
	for !strings.Contains(g.log.String(), `"msg":"answering"`) {
		select {
		case err := <-g.done:
			t.Fatalf("gateway ended (%v) by a SIGHUP during its start (%d sent); log:\n%s", err, sent, g.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not answer:\n%s", g.log.String())
		}
		if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		sent++
		time.Sleep(100 * time.Microsecond)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	if got := g.metricsGet("/healthz"); !strings.HasPrefix(got, "ok ") {
		t.Errorf("/healthz after the start: %q", got)
	}
}
