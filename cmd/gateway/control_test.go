package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"context"
	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/internal/store"
	"time"
)

// runGateway runs the built binary with args and returns its exit code,
// standard output and standard error.
func runGateway(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// listCalls is `gateway calls --json` against g.
func (g *testGateway) listCalls() []bridge.CallInfo {
	g.t.Helper()
	code, out, errOut := runGateway(g.t, "calls", "--config", g.cfgPath, "--json")
	if code != exitOK {
		g.t.Fatalf("gateway calls: exit %d: %s", code, errOut)
	}
	var r callsReply
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		g.t.Fatalf("gateway calls --json: %v: %q", err, out)
	}
	return r.Calls
}

// TestServeCallsAndHangUp: `gateway calls` lists a telnet caller (the
// inetutils client) and a V.42 caller (`gateway dial`) with their users,
// phases and backends; `gateway hangup` ends the V.42 call first, then
// the telnet one, each hearing why and recorded so.
func TestServeCallsAndHangUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	sock := filepath.Join(g.dir, "state", controlSocketName)
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v", fi, err)
	}
	if code, out, _ := runGateway(t, "calls", "--config", g.cfgPath); code != exitOK || !strings.Contains(out, "no calls in progress") {
		t.Errorf("no calls: exit %d, %q", code, out)
	}

	s := telnetTo(t, g.addr)
	s.login("bob", "pw-bob")
	s.send("abc")
	s.expect("abc")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu", "--known-hosts", kh, "telnet://"+g.addr)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "V.42 with Access Security") })

	var calls []bridge.CallInfo
	waitFor(t, func() bool {
		calls = g.listCalls()
		return len(calls) == 2 && calls[0].Phase == bridge.PhaseSession && calls[1].Phase == bridge.PhaseSession
	})
	text, v42 := calls[0], calls[1]
	if text.Mode != "text" {
		text, v42 = v42, text
	}
	if text.User != "bob" || text.Backend != "echo" || text.Mode != "text" || text.Line != "telnet" || text.BytesIn < 3 || !strings.HasPrefix(text.Remote, "127.0.0.1:") {
		t.Errorf("telnet call: %+v", text)
	}
	if v42.User != "bob" || v42.Backend != "echo" || v42.Mode != "v42" || v42.Session == text.Session {
		t.Errorf("V.42 call: %+v", v42)
	}
	code, out, _ := runGateway(t, "calls", "--config", g.cfgPath)
	for _, want := range []string{"SESSION", strconv.FormatUint(text.Session, 10), strconv.FormatUint(v42.Session, 10), "bob", "echo", "session", "v42"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("gateway calls: exit %d, no %q in\n%s", code, want, out)
		}
	}

	code, out, errOut := runGateway(t, "hangup", "--state-dir", filepath.Join(g.dir, "state"), strconv.FormatUint(v42.Session, 10))
	if code != exitOK || !strings.Contains(out, "hung up") {
		t.Fatalf("gateway hangup: exit %d: %s %s", code, out, errOut)
	}
	if code := p.wait(t); code != exitHungUp || !strings.Contains(p.stdout.String(), "NO CARRIER (the operator ended the call)") {
		t.Errorf("dial: exit %d, stdout %q, stderr %q", code, p.stdout, p.stderr)
	}
	if code, _, errOut := runGateway(t, "hangup", "--config", g.cfgPath, strconv.FormatUint(v42.Session, 10)); code != exitFailure || !strings.Contains(errOut, "no call in progress") {
		t.Errorf("hanging up an ended call: exit %d, %q", code, errOut)
	}
	if code, _, _ := runGateway(t, "hangup", "--config", g.cfgPath, strconv.FormatUint(text.Session, 10)); code != exitOK {
		t.Errorf("hangup of the telnet call: exit %d", code)
	}
	s.expect("NO CARRIER (the operator ended the call)")
	recs := g.waitRecords(2)
	for _, r := range recs {
		if r.Result != store.ResultCompleted || r.Reason != "hung up by the operator" || r.User != "bob" {
			t.Errorf("record: %+v", r)
		}
	}
	s.close()
	if calls := g.listCalls(); len(calls) != 0 {
		t.Errorf("calls after the hang-ups: %+v", calls)
	}
}

// TestControlErrors: the commands say what is wrong when no gateway runs,
// and the gateway replaces a socket left by one that died but refuses to
// start over anything else by that name.
func TestControlErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	code, _, errOut := runGateway(t, "calls", "--state-dir", dir)
	if code != exitFailure || !strings.Contains(errOut, "no gateway is running with state_dir "+dir) {
		t.Errorf("no gateway: exit %d, %q", code, errOut)
	}
	// A socket nobody listens on (a gateway killed with -9).
	ln, err := net.Listen("unix", filepath.Join(dir, controlSocketName))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	code, _, errOut = runGateway(t, "hangup", "--state-dir", dir, "7")
	if code != exitFailure || !strings.Contains(errOut, "no gateway is running") {
		t.Errorf("stale socket: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runGateway(t, "hangup", "--state-dir", dir, "seven"); code != exitUsage || !strings.Contains(errOut, `"seven" is not a session number`) {
		t.Errorf("bad number: exit %d, %q", code, errOut)
	}

	g := newGateway(t, gwOpts{})
	if calls := g.listCalls(); len(calls) != 0 {
		t.Errorf("calls: %+v", calls)
	}
	// A second gateway with the same state_dir stops at its socket.
	if b, err := exec.Command(g.bin, "serve", "--config", g.cfgPath).CombinedOutput(); err == nil || !strings.Contains(string(b), "another gateway is running with this state_dir") {
		t.Errorf("second gateway: %v\n%s", err, b)
	}
	if calls := g.listCalls(); len(calls) != 0 {
		t.Errorf("calls after the second gateway's try: %+v", calls)
	}
	g.stop()
	if _, err := os.Lstat(filepath.Join(g.dir, "state", controlSocketName)); !os.IsNotExist(err) {
		t.Errorf("socket after a clean stop: %v", err)
	}
	// A gateway killed leaves its socket; the next one replaces it.
	g.start()
	_ = g.cmd.Process.Kill()
	<-g.done
	g.start()
	if calls := g.listCalls(); len(calls) != 0 {
		t.Errorf("calls after a restart: %+v", calls)
	}
	g.stop()
	// Anything else by that name stops the gateway from starting.
	if err := os.Mkdir(filepath.Join(g.dir, "state", controlSocketName), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(g.bin, "serve", "--config", g.cfgPath)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "the name is taken by a directory; remove it") {
		t.Errorf("serve over a directory named %s: %v\n%s", controlSocketName, err, b)
	}
}

// TestServeCallsListsCallbacks: gateway calls lists the callbacks not
// placed yet (table and JSON), and gateway hangup withdraws one, whose
// record says so; the callback is never placed. Regression (callback
// trial): a pending callback was invisible and could not be stopped
// but by a restart or maintenance.
func TestServeCallsListsCallbacks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	home := listenHome(t)
	g := newCalGateway(t, "5s", home.Addr())
	g.loginForCallback()
	session := g.waitRecords(1)[0].Session

	code, out, _ := runGateway(t, "calls", "--config", g.cfgPath)
	for _, want := range []string{"no calls in progress", "callbacks not placed yet", strconv.FormatUint(session, 10), "cal", home.Addr(), "text", "STATE", "delay"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("gateway calls: exit %d, no %q in\n%s", code, want, out)
		}
	}
	code, out, _ = runGateway(t, "calls", "--json", "--config", g.cfgPath)
	var reply callsReply
	if err := json.Unmarshal([]byte(out), &reply); code != exitOK || err != nil || len(reply.Callbacks) != 1 || reply.Callbacks[0].Session != session || reply.Callbacks[0].User != "cal" ||
		reply.Callbacks[0].State != "delay" || reply.Callbacks[0].Attempt != 1 {
		t.Errorf("gateway calls --json: exit %d, %v, %s", code, err, out)
	}
	code, out, errOut := runGateway(t, "hangup", "--config", g.cfgPath, strconv.FormatUint(session, 10))
	if code != exitOK || !strings.Contains(out, "callback withdrawn") {
		t.Fatalf("gateway hangup of the callback: exit %d: %s %s", code, out, errOut)
	}
	recs := g.waitRecords(2)
	if r := recs[1]; r.Session != session || r.Result != store.ResultCallbackFailed || !strings.Contains(r.Reason, "by the operator") {
		t.Errorf("records: %+v", recs)
	}
	if _, out, _ := runGateway(t, "calls", "--config", g.cfgPath); strings.Contains(out, "callbacks not placed yet") {
		t.Errorf("the withdrawn callback is still listed:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	if line, err := home.Accept(ctx); err == nil {
		line.Close()
		t.Error("the withdrawn callback was placed")
	}
}

// TestCallsWithBrokenConfig: gateway calls and hangup need only the
// configuration's state_dir: a file that does not pass (mid-edit) still
// finds the control socket, with a warning; one that is not TOML at all
// says to use --state-dir. Operator trial: a typo anywhere in the file
// made both refuse to work.
func TestCallsWithBrokenConfig(t *testing.T) {
	g := newGateway(t, gwOpts{})
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.cfgPath, append([]byte("gatway_name = \"typo\"\n"), conf...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runGateway(t, "calls", "--config", g.cfgPath)
	if code != exitOK || !strings.Contains(out, "no calls in progress") || !strings.Contains(errOut, "does not pass gateway check; using its state_dir "+filepath.Join(g.dir, "state")) {
		t.Errorf("calls with a configuration that does not pass: exit %d, %q, %q", code, out, errOut)
	}
	if err := os.WriteFile(g.cfgPath, []byte("state_dir = \"unterminated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runGateway(t, "hangup", "--config", g.cfgPath, "1"); code == exitOK || !strings.Contains(errOut, "--state-dir DIR") {
		t.Errorf("hangup with a file that is not TOML: exit %d, %q", code, errOut)
	}
	if err := os.WriteFile(g.cfgPath, conf, 0o600); err != nil { // for the stop
		t.Fatal(err)
	}
}

// TestCellMasksTerminalControls: what gateway calls prints goes to the
// operator's terminal: C0 and C1 controls and the bidirectional
// formatting characters that reorder a line (Trojan Source) are masked,
// as the call records escape them (fuzz review: cell let the
// bidirectional ones through).
func TestCellMasksTerminalControls(t *testing.T) {
	for in, want := range map[string]string{
		"alice":            "alice",
		"a\x1b[2Jb":        "a?[2Jb",
		"a\u009bb":         "a?b",
		"adm\u202eni":      "adm?ni",
		"x\u2066y\u2069z":  "x?y?z",
		"\u200fuser\u200e": "?user?",
		"Jürgen 漢字":        "Jürgen 漢字",
		"":                 "-",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServePerUserLimit: with [lines] per_user = 1, bob in a telnet
// session (the inetutils client) and then `gateway dial` as bob over
// V.42: dial exits busy (11) with the reason in words, the gateway's
// words on its terminal, the record says why. Bob's telnet session is
// not disturbed.
func TestServePerUserLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect", perUser: 1})
	s := telnetTo(t, g.addr)
	s.login("bob", "pw-bob")
	s.send("abc")
	s.expect("abc")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu", "--known-hosts", kh, "telnet://"+g.addr)
	if code := p.wait(t); code != exitBusy || !strings.Contains(p.stdout.String(), "NO CARRIER (this account is already logged in as many times as allowed)") ||
		!strings.Contains(p.stderr.String(), "busy: the gateway refused the login: this account is already logged in") {
		t.Errorf("dial: exit %d, stdout %q, stderr %q", code, p.stdout, p.stderr)
	}
	s.send("def")
	s.expect("def")
	recs := g.waitRecords(1)
	if recs[0].Result != store.ResultRefused || recs[0].User != "bob" || !strings.Contains(recs[0].Reason, "lines.per_user = 1") {
		t.Errorf("record: %+v", recs[0])
	}
}
