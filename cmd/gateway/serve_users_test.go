package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
)

// logEntries returns the JSON log lines of g whose level is level and
// whose message contains substr.
func (g *testGateway) logEntries(level, substr string) []map[string]any {
	g.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(g.logText(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if msg, _ := e["msg"].(string); e["level"] == level && strings.Contains(msg, substr) {
			out = append(out, e)
		}
	}
	return out
}

// waitLogCount waits until the log holds n lines containing substr.
func (g *testGateway) waitLogCount(substr string, n int) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(g.logText(), substr) < n {
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not log %q %d times:\n%s", substr, n, g.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeUsersFileMode: `gateway serve` logs a warning for a users
// file other users can read, at start-up and on every SIGHUP reload; on
// SIGHUP it keeps the old users when the file has become writable by
// others, and says so; at start-up such a file stops it with one line
// that names the file and the chmod that fixes it.
func TestServeUsersFileMode(t *testing.T) {
	const readable = "other users can read the password hashes"
	g := newGateway(t, gwOpts{})
	users := filepath.Join(g.dir, "users.toml")
	chmod := func(mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(users, mode); err != nil {
			t.Fatal(err)
		}
	}
	hup := func(n int) {
		t.Helper()
		if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		g.waitLogCount(`"msg":"reloaded (SIGHUP)`, n) // with the users file or not
	}
	if w := g.logEntries("warn", readable); len(w) != 0 {
		t.Errorf("mode 0600: warned %v", w)
	}

	// Readable by others: each reload loads it and warns.
	chmod(0o644)
	hup(1)
	hup(2)
	if w := g.logEntries("warn", readable); len(w) != 2 || !strings.Contains(w[0]["msg"].(string), users+" has mode 0644") {
		t.Errorf("after two reloads of a 0644 users file, warnings %v; log:\n%s", w, g.log.String())
	}

	// Writable by others: the reload keeps the three users it has (erin
	// is not added) and says why.
	g.writeUsers(map[string]string{"alice": "sh", "erin": "sh"})
	chmod(0o664)
	hup(3)
	refused := g.logEntries("error", "reload: users file refused; keeping the old users")
	if len(refused) != 1 || !strings.Contains(fmt.Sprint(refused[0]["error"]), "chmod 600 "+users) {
		t.Errorf("reload of a 0664 users file: %v; log:\n%s", refused, g.log.String())
	}
	if reloaded := g.logEntries("warn", "reloaded (SIGHUP) without the users file: the old users stay"); len(reloaded) != 1 || reloaded[0]["users"] != 3.0 {
		t.Errorf("reload of a 0664 users file: %v, want the 3 old users kept", reloaded)
	}

	// At start-up: a readable file is served with the warning.
	g.stop()
	chmod(0o644)
	g.start()
	if w := g.logEntries("warn", readable); len(w) != 1 {
		t.Errorf("start-up with a 0644 users file: warnings %v; log:\n%s", w, g.log.String())
	}
	g.stop()

	// A writable one stops the gateway: exit 1, one line on stderr (a
	// console log, as most operators start with).
	chmod(0o664)
	cfg := filepath.Join(g.dir, "console.toml")
	text := fmt.Sprintf("state_dir = %q\nusers_file = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:0\"\n", filepath.Join(g.dir, "state"), users)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(g.bin, "serve", "--config", cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("serve with a 0664 users file: %v, want exit %d; stderr:\n%s", err, exitFailure, stderr.String())
	}
	var mentions []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, users) {
			mentions = append(mentions, l)
		}
	}
	want := "gateway serve: auth: users file " + users + " has mode 0664: other users can change the accounts and password hashes, so it is not loaded"
	if len(mentions) != 1 || !strings.HasPrefix(mentions[0], want) || !strings.Contains(mentions[0], "run chmod 600 "+users) {
		t.Errorf("stderr:\n%s\nwant one line starting %q that says chmod 600 %s", stderr.String(), want, users)
	}
}

// TestServeReloadWarnings: a SIGHUP reload warns, as the start-up does,
// about a pty backend whose program is missing and about an account whose
// backend the configuration does not define.
func TestServeReloadWarnings(t *testing.T) {
	g := newGateway(t, gwOpts{})
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, "[[backend]]\nname = \"door\"\ntype = \"pty\"\ncommand = [\"/nonexistent/door\"]\n"...)
	if err := os.WriteFile(g.cfgPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeUsers(map[string]string{"alice": "sh", "erin": "gone"})
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	if w := g.logEntries("warn", "configuration: backend \"door\": program /nonexistent/door"); len(w) != 1 {
		t.Errorf("missing program: warnings %v; log:\n%s", w, g.log.String())
	}
	if w := g.logEntries("warn", `users file: user erin has backend "gone", which the configuration does not define`); len(w) != 1 {
		t.Errorf("undefined backend: warnings %v; log:\n%s", w, g.log.String())
	}
}

// TestServeReloadUsersFileRemoved: a users file removed and a reload is
// no accounts, as at start-up: a call in progress stays, a new login is
// denied, and the log says why. Regression: the old users were kept (an
// error line), so removing the file could not lock the accounts out.
func TestServeReloadUsersFileRemoved(t *testing.T) {
	g := newGateway(t, gwOpts{shSleep: "30"})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	if err := os.Remove(filepath.Join(g.dir, "users.toml")); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)","users":0`)
	if w := g.logEntries("warn", "reload: users file missing: no accounts now, every login is denied"); len(w) != 1 {
		t.Errorf("warnings %v; log:\n%s", w, g.log.String())
	}
	s.send("still here\r")
	s.expect("got:still here")
	b := telnetTo(t, g.addr)
	b.login("bob", "pw-bob")
	b.expect("Login incorrect")
}

// TestReloadSecurity: a SIGHUP reload applies the login throttle's
// settings at once, to the failures already counted too, and says that
// the hashing settings wait for a restart. Operator trial: both were
// ignored until a restart while the reload line said "security" changed.
func TestReloadSecurity(t *testing.T) {
	g := newGateway(t, gwOpts{})
	s := telnetTo(t, g.addr)
	for i := range 4 { // login_tries 3 per call
		if i == 3 {
			s.close()
			s = telnetTo(t, g.addr)
		}
		s.login("alice", "wrong")
		if i == 2 {
			s.expect("NO CARRIER (access denied)")
		} else {
			s.expect("Login incorrect")
		}
	}
	s.close()
	g.waitLogCount("wrong password", 4)
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(`throttle_base = "10ms"`, `throttle_base = "30s"`, `throttle_max = "20ms"`, `throttle_max = "1m"`,
		"argon2_memory_kib = 64", "argon2_memory_kib = 128").Replace(string(conf))
	if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	g.waitLog(`reload: [security] argon2_memory_kib changes take effect only with a restart (kept as served)`)
	s = telnetTo(t, g.addr)
	s.login("alice", "pw-alice") // the right password, throttled
	s.expect("Login incorrect")
	g.waitLog("denied: throttled for ")
	s.close()
	if !strings.Contains(g.log.String(), "denied: throttled for 2") && !strings.Contains(g.log.String(), "denied: throttled for 3") {
		t.Errorf("the throttle after the reload (throttle_base 30s, 4 failures) is not about 30 s:\n%s", g.log.String())
	}
}

// TestDeniedRecordReasons: a denied text login's record says the
// verifier's reason for the last attempt, and a caller that hangs up
// after its password, before the check ends, is recorded with the
// attempt. Operator trial: records said "3 failed login attempts"
// whatever the reason (a throttled or expired user read as a guesser),
// and a script that closed after each password was recorded abandoned,
// without its user, out of the fail2ban records jail's sight.
func TestDeniedRecordReasons(t *testing.T) {
	g := newGateway(t, gwOpts{})
	s := telnetTo(t, g.addr)
	for i := range 3 {
		s.login("nobody-here", "wrong")
		if i < 2 {
			s.expect("Login incorrect")
		}
	}
	s.expect("NO CARRIER (access denied)")
	s.close()
	// A script: its password, then a close while the check runs.
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	var got []byte
	for _, step := range []struct{ want, send string }{{"login: ", "alice\r\n"}, {"password: ", "wrong\r\n"}} {
		for !strings.Contains(string(got), step.want) {
			b := make([]byte, 512)
			n, err := c.Read(b)
			if err != nil {
				t.Fatalf("before %q: %v (read %q)", step.want, err, got)
			}
			got = append(got, b[:n]...)
		}
		got = got[:0]
		if _, err := io.WriteString(c, step.send); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	c.Close()
	recs := g.waitRecords(2)
	if r := recs[0]; r.Result != store.ResultDenied || r.Reason != "3 failed login attempts (last: unknown user)" {
		t.Errorf("three unknown-user attempts recorded %s %q", r.Result, r.Reason)
	}
	if r := recs[1]; r.Result != store.ResultDenied || r.User != "alice" || r.Reason != "1 failed login attempt (last: wrong password), then the caller left" {
		t.Errorf("a password, then a close, recorded %s user %q %q", r.Result, r.User, r.Reason)
	}
}
