package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

// TestReloadChanges: what a reload changed, as its log line says it.
func TestReloadChanges(t *testing.T) {
	oldCfg := &config.Config{Backends: []config.Backend{
		{Name: "a", Type: "tcp", Address: "127.0.0.1:1"},
		{Name: "b", Type: "tcp", Address: "127.0.0.1:2"},
		{Name: "c", Type: "pty", Command: []string{"/bin/sh"}},
	}}
	newCfg := &config.Config{Backends: []config.Backend{
		{Name: "a", Type: "tcp", Address: "127.0.0.1:1"},
		{Name: "c", Type: "pty", Command: []string{"/bin/sh", "-l"}},
		{Name: "d", Type: "tcp", Address: "127.0.0.1:4"},
	}}
	newCfg.Lines.Maintenance = true
	newCfg.Security.LoginTries = 5
	newCfg.GatewayName = "renamed"
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	oldUsers := []auth.User{
		{ID: "same", Hash: "h1", Expires: exp},
		{ID: "gone", Hash: "h2"},
		{ID: "newpw", Hash: "h3"},
		{ID: "disabled", Hash: "h4"},
	}
	newUsers := []auth.User{
		{ID: "same", Hash: "h1", Expires: exp.In(time.FixedZone("X", 3600))},
		{ID: "newpw", Hash: "h3'"},
		{ID: "disabled", Hash: "h4", Disabled: true},
		{ID: "added", Hash: "h5"},
	}
	got := reloadChanges(oldCfg, newCfg, oldUsers, newUsers)
	want := reloadChange{usersAdded: 1, usersRemoved: 1, usersChanged: 2, backendsChanged: 3, maintenance: true, settings: "security,gateway_name"}
	if got != want {
		t.Errorf("reloadChanges = %+v, want %+v", got, want)
	}
	if got := reloadChanges(oldCfg, oldCfg, oldUsers, oldUsers); got != (reloadChange{}) {
		t.Errorf("no change: %+v", got)
	}
}

// editConfig replaces, in g's configuration file, the first occurrence
// of each pair's first string by its second; a string not found fails
// the test (serveConfig has changed under it).
func (g *testGateway) editConfig(t *testing.T, edits ...[2]string) {
	t.Helper()
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	for _, r := range edits {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("serveConfig has changed (no %q): update this test", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMergeListenersKeepsOpenSettings: a reload takes a served listener's
// call settings but keeps those fixed when it was opened (proxy_protocol,
// trusted_proxies, TLS files, origins, telnet, HTTP bounds), and says so;
// a new trial operator added proxy_protocol, sent SIGHUP, and nothing
// said it had not taken effect.
func TestMergeListenersKeepsOpenSettings(t *testing.T) {
	served := []config.Listener{
		{Name: "modem", Address: "telnet://127.0.0.1:2323", TextLogin: config.TextLoginSecure, IdleTimeout: &config.Duration{Duration: time.Minute}},
		{Name: "web", Address: "ws://127.0.0.1:8080/line", V42: config.V42Off, AllowedOrigins: []string{"https://a.example"}},
	}
	fresh := []config.Listener{
		{Name: "modem", Address: "telnet://127.0.0.1:2323", TextLogin: config.TextLoginAllow, IdleTimeout: &config.Duration{Duration: time.Hour},
			ProxyProtocol: true, TrustedProxies: []string{"127.0.0.1"}},
		{Name: "web", Address: "ws://127.0.0.1:8080/line", V42: config.V42LAPM, AllowedOrigins: []string{"https://b.example"}, Charset: "cp437"},
	}
	out, kept := mergeListeners(served, fresh)
	if m := out[0]; m.TextLogin != config.TextLoginAllow || m.IdleTimeout.Duration != time.Hour || m.ProxyProtocol || m.TrustedProxies != nil {
		t.Errorf("modem after reload: %+v", m)
	}
	if w := out[1]; w.V42 != config.V42Off || w.AllowedOrigins[0] != "https://a.example" || w.Charset != "" {
		t.Errorf("web after reload: %+v", w)
	}
	if len(kept) != 2 || !strings.Contains(kept[0], `listener "modem": trusted_proxies, proxy_protocol change only with a restart`) ||
		!strings.Contains(kept[1], `listener "web": allowed_origins, charset, v42`) {
		t.Errorf("kept: %q", kept)
	}
	if _, kept := mergeListeners(served, served); len(kept) != 0 {
		t.Errorf("no change: %q", kept)
	}
}

// TestServeSIGHUPLogAndRestartSettings: a reload takes a new [log] level
// at once and says that [metrics], state_dir and the log format change
// only with a restart (operator trial: all four were dropped without a
// word, the log level included).
func TestServeSIGHUPLogAndRestartSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{})
	g.editConfig(t,
		[2]string{"level = \"debug\"", "level = \"info\""},
		[2]string{"listen = " + strconv.Quote(g.metrics), "listen = \"127.0.0.1:1\""},
		[2]string{"state_dir = ", "state_dir = \"/elsewhere\"\n#"},
		[2]string{"format = \"json\"", "format = \"console\""})
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	for _, want := range []string{
		`"msg":"reload: log level changed","log_level":"info"}`,
		`"msg":"reload: [metrics] changes take effect only with a restart"`,
		`"msg":"reload: state_dir changes take effect only with a restart","state_dir":` + strconv.Quote(filepath.Join(g.dir, "state")),
		`"msg":"reload: [log] format changes take effect only with a restart","kept":"json","configured":"console"`,
	} {
		if !strings.Contains(g.log.String(), want) {
			t.Errorf("the reload's log has no %s:\n%s", want, g.log.String())
		}
	}
	// The metrics endpoint is still where it was.
	if resp, err := http.Get("http://" + g.metrics + "/healthz"); err != nil {
		t.Errorf("metrics endpoint after the reload: %v", err)
	} else {
		resp.Body.Close()
	}
}

// TestServeSIGHUPRenamedListener: a reload that replaces a listener by
// one of another name (the count unchanged) says that the old one still
// answers and the new one answers only after a restart; the old one does
// still answer. Operator trial: nothing was logged but the name.
func TestServeSIGHUPRenamedListener(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{})
	g.editConfig(t, [2]string{`name = "modem"`, `name = "modem2"`})
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	for _, want := range []string{
		`"msg":"reload: a new listener answers only after a restart","listener":"modem2"`,
		`"msg":"reload: a listener removed from the configuration still answers until a restart","listener":"modem"`,
	} {
		if !strings.Contains(g.log.String(), want) {
			t.Errorf("the reload's log has no %s:\n%s", want, g.log.String())
		}
	}
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
}

// TestServeSIGHUPStateDirKeepsDefaultUsers: with the default users_file
// (in state_dir), a reload that changes state_dir (kept until a restart)
// keeps reading the users file of the state_dir in effect (retest: the
// default followed the new state_dir, where there was none, and every
// account was gone).
func TestServeSIGHUPStateDirKeepsDefaultUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{})
	g.stop()
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(g.dir, "users.toml")
	line := "users_file = " + strconv.Quote(users) + "\n"
	if !strings.Contains(string(conf), line) {
		t.Fatalf("serveConfig has changed (no %q): update this test", line)
	}
	text := strings.Replace(string(conf), line, "", 1)
	data, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "state", "users.toml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start()
	t.Cleanup(g.stop)
	text = strings.Replace(text, "state_dir = ", "state_dir = \"/elsewhere\"\n#", 1)
	if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	if log := g.log.String(); strings.Contains(log, "users file missing") || !strings.Contains(log, `"users_removed":0`) {
		t.Errorf("the reload lost the accounts:\n%s", log)
	}
}
