//go:build unix

package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
)

// metricsStatus fetches path from the daemon's metrics endpoint and
// returns the status code and body, whatever the status.
func (g *testGateway) metricsStatus(path string) (int, string) {
	g.t.Helper()
	resp, err := http.Get("http://" + g.metrics + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeHealthz: /healthz answers 200 "ok N calls" while the gateway
// answers, 503 with the reason while its state directory cannot be
// written, and 503 "draining" after SIGTERM while a call in progress
// ends; /metrics has the same as the gauges dialgate_state_dir_writable
// and dialgate_draining. (Ops soak test: /healthz said "ok" in both cases.)
func TestServeHealthz(t *testing.T) {
	g := newGateway(t, gwOpts{shSleep: "30"})
	if code, body := g.metricsStatus("/healthz"); code != http.StatusOK || body != "ok 0 calls\n" {
		t.Errorf("/healthz of a fresh gateway: %d %q", code, body)
	}
	m := g.metricsGet("/metrics")
	// The version, to confirm an upgrade (operator trial).
	if !strings.Contains(m, "\ndialgate_build_info{goversion=\"go") || !strings.Contains(m, `version="`) || !strings.Contains(g.log.String(), `"msg":"starting","version":"`) {
		t.Errorf("no dialgate_build_info, or no version at the start:\n%s\n%s", m, g.log.String())
	}
	if !strings.Contains(m, "\ndialgate_draining 0\n") || !strings.Contains(m, "\ndialgate_state_dir_writable 1\n") {
		t.Errorf("/metrics of a fresh gateway lacks the health gauges:\n%s", m)
	}

	// The next reservation of session numbers cannot be written (root may
	// write anywhere, so a directory stands in the way of the temporary
	// file). That is not a full disk, so the call is refused (a full disk
	// lets calls go on: internal/store's TestNextSessionDiskFull).
	state := filepath.Join(g.dir, "state")
	blocker := filepath.Join(state, "session.next.tmp")
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	refused := telnetTo(t, g.addr)
	refused.expect("NO CARRIER (gateway error)")
	refused.close()
	g.waitLog("no session number; refusing the call")
	code, body := g.metricsStatus("/healthz")
	if want := "state_dir " + state + " not writable since "; code != http.StatusServiceUnavailable || !strings.HasPrefix(body, want) || strings.Count(body, "\n") != 1 {
		t.Errorf("/healthz with the state directory not writable: %d %q, want 503 %q...", code, body, want)
	}
	if m := g.metricsGet("/metrics"); !strings.Contains(m, "\ndialgate_state_dir_writable 0\n") {
		t.Errorf("/metrics lacks dialgate_state_dir_writable 0:\n%s", m)
	}

	// Writable again: the next call reserves, logs in and stays up.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	if code, body := g.metricsStatus("/healthz"); code != http.StatusOK || !strings.HasPrefix(body, "ok ") {
		t.Errorf("/healthz once the state directory is writable again: %d %q", code, body)
	}

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"stopping: no new calls; draining"`)
	if code, body := g.metricsStatus("/healthz"); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Errorf("/healthz while draining: %d %q, want 503 \"draining\"", code, body)
	}
	if m := g.metricsGet("/metrics"); !strings.Contains(m, "\ndialgate_draining 1\n") {
		t.Errorf("/metrics lacks dialgate_draining 1:\n%s", m)
	}
	s.close()
}

// TestServeHealthzMaintenance: with [lines] maintenance switched on by a
// SIGHUP reload, /healthz answers 503 "maintenance" and
// dialgate_maintenance is 1, so a load balancer stops sending callers
// to a gateway that answers each with BUSY; switched off again, 200.
// Regression: /healthz said "ok 0 calls" and no metric showed it.
func TestServeHealthzMaintenance(t *testing.T) {
	g := newGateway(t, gwOpts{})
	if m := g.metricsGet("/metrics"); !strings.Contains(m, "\ndialgate_maintenance 0\n") {
		t.Errorf("/metrics of a fresh gateway lacks dialgate_maintenance 0:\n%s", m)
	}
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(text string) {
		t.Helper()
		if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(g.log.String(), `"msg":"reloaded (SIGHUP)"`)
		if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		g.waitLogCount(`"msg":"reloaded (SIGHUP)"`, n+1)
	}
	reload(strings.Replace(string(conf), "[lines]\n", "[lines]\nmaintenance = true\n", 1))
	if code, body := g.metricsStatus("/healthz"); code != http.StatusServiceUnavailable || body != "maintenance\n" {
		t.Errorf("/healthz in maintenance: %d %q, want 503 \"maintenance\"", code, body)
	}
	if m := g.metricsGet("/metrics"); !strings.Contains(m, "\ndialgate_maintenance 1\n") {
		t.Errorf("/metrics in maintenance lacks dialgate_maintenance 1:\n%s", m)
	}
	reload(string(conf))
	if code, body := g.metricsStatus("/healthz"); code != http.StatusOK || body != "ok 0 calls\n" {
		t.Errorf("/healthz after maintenance: %d %q", code, body)
	}
}

// TestServeHealthzAllLinesBusy: while every line is taken /healthz
// answers 503 "all lines busy (1 of 1)", so a load balancer sends the
// next caller elsewhere instead of to a BUSY; once the call ends, 200.
// Regression: it said "ok 1 calls" while the next caller heard BUSY.
func TestServeHealthzAllLinesBusy(t *testing.T) {
	g := newGateway(t, gwOpts{maxConcurrent: 1, shSleep: "30"})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	if code, body := g.metricsStatus("/healthz"); code != http.StatusServiceUnavailable || body != "all lines busy (1 of 1)\n" {
		t.Errorf("/healthz with its one line taken: %d %q, want 503 \"all lines busy (1 of 1)\"", code, body)
	}
	busy := telnetTo(t, g.addr)
	busy.expect("BUSY")
	busy.close()
	s.close()
	waitFor(t, func() bool {
		code, body := g.metricsStatus("/healthz")
		return code == http.StatusOK && body == "ok 0 calls\n"
	})
}

// fakeHealth is a healthSource for TestHealthOrder.
type fakeHealth struct {
	draining bool
	store    error
	cfg      *config.Config
}

func (f fakeHealth) Draining() bool         { return f.draining }
func (f fakeHealth) StoreHealth() error     { return f.store }
func (f fakeHealth) ActiveCalls() int       { return 2 }
func (f fakeHealth) Config() *config.Config { return f.cfg }

// TestHealthOrder: /healthz names one reason, draining first, then the
// state directory, then maintenance, then all lines busy.
func TestHealthOrder(t *testing.T) {
	on, off, full := &config.Config{}, &config.Config{}, &config.Config{}
	on.Lines.Maintenance = true
	off.Lines.MaxConcurrent = 3
	full.Lines.MaxConcurrent = 2
	disk := errors.New("store: state_dir /s not writable since T: no space left on device")
	for _, tc := range []struct {
		f    fakeHealth
		code int
		text string
	}{
		{fakeHealth{cfg: off}, 200, "ok 2 calls"},
		{fakeHealth{}, 200, "ok 2 calls"},
		{fakeHealth{cfg: full}, 503, "all lines busy (2 of 2)"},
		{fakeHealth{cfg: on}, 503, "maintenance"},
		{fakeHealth{cfg: on, store: disk}, 503, "state_dir /s not writable since T: no space left on device"},
		{fakeHealth{cfg: on, store: disk, draining: true}, 503, "draining"},
	} {
		if code, text := health(tc.f); code != tc.code || text != tc.text {
			t.Errorf("%+v: %d %q, want %d %q", tc.f, code, text, tc.code, tc.text)
		}
	}
}

// TestServeNotifiesServiceManager: with $NOTIFY_SOCKET (systemd's
// Type=notify) the gateway says READY=1 once it answers and STOPPING=1
// when it drains. Operator trial: with Type=simple `systemctl start`
// returned before the listeners were open, and reported success for a
// gateway that then failed to start.
func TestServeNotifiesServiceManager(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Skipf("no unixgram sockets here: %v", err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func() string {
		t.Helper()
		_ = l.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 256)
		n, err := l.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	g := newGateway(t, gwOpts{})
	if got := next(); got != "READY=1" {
		t.Errorf("first notification %q, want READY=1", got)
	}
	g.stop()
	if got := next(); got != "STOPPING=1" {
		t.Errorf("at SIGTERM %q, want STOPPING=1", got)
	}
}

// TestServeReloadOutcomeGauge: dialgate_config_last_reload_successful is
// 0 after a reload that kept the old configuration or the old users, 1
// after one that took both; the reload line of the second case is a
// warning. Operator trial: a failed reload showed in one log line only,
// followed by "reloaded (SIGHUP)" at info.
func TestServeReloadOutcomeGauge(t *testing.T) {
	g := newGateway(t, gwOpts{})
	gauge := func() string {
		t.Helper()
		for _, l := range strings.Split(g.metricsGet("/metrics"), "\n") {
			if v, ok := strings.CutPrefix(l, "dialgate_config_last_reload_successful "); ok {
				return v
			}
		}
		t.Fatal("no dialgate_config_last_reload_successful")
		return ""
	}
	if v := gauge(); v != "1" {
		t.Errorf("fresh gateway: %s", v)
	}
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	hup := func(msg string) {
		t.Helper()
		n := strings.Count(g.log.String(), msg)
		if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		g.waitLogCount(msg, n+1)
	}
	if err := os.WriteFile(g.cfgPath, append(conf, "[lines]\nmax_concurrent = 0\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	hup("reload: configuration not valid; keeping the old one")
	if v := gauge(); v != "0" {
		t.Errorf("after a reload that kept the old configuration: %s", v)
	}
	if err := os.WriteFile(g.cfgPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(g.dir, "users.toml")
	if err := os.WriteFile(users, []byte("[user.broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"level":"warn","time":`)
	g.waitLog(`"msg":"reloaded (SIGHUP) without the users file: the old users stay"`)
	if v := gauge(); v != "0" {
		t.Errorf("after a reload that kept the old users: %s", v)
	}
	g.writeUsers(map[string]string{"alice": "sh"})
	hup(`"msg":"reloaded (SIGHUP)"`)
	if v := gauge(); v != "1" {
		t.Errorf("after a good reload: %s", v)
	}
}
