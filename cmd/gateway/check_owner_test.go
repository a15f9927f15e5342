//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/auth"
)

// ownerTestConfig writes a configuration in dir whose state_dir is
// dir/state and whose users file is users, and returns its path.
func ownerTestConfig(t *testing.T, dir, users string) string {
	t.Helper()
	cfg := filepath.Join(dir, "gateway.toml")
	text := fmt.Sprintf("state_dir = %q\nusers_file = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:0\"\n", filepath.Join(dir, "state"), users)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCheckServeWritableStateDir: a state directory every user may write
// in stops gateway serve, and fails gateway check with the same words,
// naming the directory and chmod o-w; with the sticky bit too (security
// trial: a 1777 state_dir passed the check, and a root gateway appended
// to the file a calls.jsonl link planted there led to).
func TestCheckServeWritableStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for _, c := range []struct {
		mode os.FileMode
		bits string
	}{{0o777, "0777"}, {0o777 | os.ModeSticky, "1777"}} {
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(state, c.mode); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(dir, "victim")
		if err := os.WriteFile(victim, []byte("root only"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(state, "calls.jsonl")); err != nil {
			t.Fatal(err)
		}
		cfg := ownerTestConfig(t, dir, filepath.Join(dir, "users.toml"))
		want := "auth: directory " + state + " (holding the host key) has mode " + c.bits + ": every user can "
		code, _, stderr := checkBinary(t, "", cfg)
		if code != exitFailure || !strings.Contains(stderr.String(), "gateway check: "+want) || !strings.Contains(stderr.String(), "run chmod o-w "+state+"\n") {
			t.Errorf("check, %s: exit %d, stderr:\n%s\nwant exit %d and %q", c.bits, code, stderr, exitFailure, want)
		}
		if got := serveRefuses(t, cfg); !strings.Contains(got, "gateway serve: "+want) {
			t.Errorf("serve, %s: stderr:\n%s\nwant %q", c.bits, got, want)
		}
		if _, err := os.Stat(filepath.Join(state, auth.HostKeyFile)); err == nil {
			t.Errorf("serve made a host key in a %s state directory", c.bits)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "root only" {
			t.Errorf("%s: the file the planted calls.jsonl leads to is now %q (%v)", c.bits, b, err)
		}
	}
}

// TestCheckServeStateDirLink: a state_dir that is a symbolic link in a
// world-writable directory is refused by check and serve alike, naming
// that directory (security trial: check said ok, judging only the
// directory the link leads to).
func TestCheckServeStateDirLink(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "state")
	if err := os.MkdirAll(real, 0o700); err != nil {
		t.Fatal(err)
	}
	ww := filepath.Join(dir, "ww")
	if err := os.Mkdir(ww, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(ww, "state")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gateway.toml")
	text := fmt.Sprintf("state_dir = %q\nusers_file = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:0\"\n", filepath.Join(ww, "state"), filepath.Join(dir, "users.toml"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "auth: directory " + ww + " (on the way to the host key) has mode 0777"
	code, _, stderr := checkBinary(t, "", cfg)
	if code != exitFailure || !strings.Contains(stderr.String(), "gateway check: "+want) {
		t.Errorf("check: exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitFailure, want)
	}
	if got := serveRefuses(t, cfg); !strings.Contains(got, "gateway serve: "+want) {
		t.Errorf("serve: stderr:\n%s\nwant %q", got, want)
	}
}

// TestCheckServeOtherUsersFile: the security trial's case. As root, a
// users file owned by nobody (uid 65534) stops gateway serve whatever its
// mode, and fails gateway check, whose state_dir is root's, with the
// same words; with a state_dir of another user (the service user's) the
// check warns instead (the gateway may run as that user). gateway user
// add, run as root, still edits a users file of the service user's, and
// keeps its owner. Needs root.
func TestCheckServeOtherUsersFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the users file to uid 65534")
	}
	const nobody = 65534
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	if r := userCmd(t, "pw one 1\n", nil, append([]string{"add", "--users", users, "--password-stdin"}, append(userCmdCheap, "alice")...)...); r.code != exitOK {
		t.Fatalf("user add: %+v", r)
	}
	if err := os.Chown(users, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cfg := ownerTestConfig(t, dir, users)
	want := "auth: users file " + users + " is owned by "
	for _, mode := range []os.FileMode{0o644, 0o600} {
		if err := os.Chmod(users, mode); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := checkBinary(t, "", cfg)
		if code != exitFailure || !strings.Contains(stderr.String(), "gateway check: "+want) || !strings.Contains(stderr.String(), "chown root:root "+users) {
			t.Errorf("check, mode %04o: exit %d, stderr:\n%s\nwant exit %d and %q", mode, code, stderr, exitFailure, want)
		}
		if got := serveRefuses(t, cfg); !strings.Contains(got, "gateway serve: "+want) || !strings.Contains(got, "(uid 65534), not by root") {
			t.Errorf("serve, mode %04o: stderr:\n%s\nwant %q", mode, got, want)
		}
	}

	// No state directory yet: a gateway run as root would make it, root's,
	// so the check fails as serve does (trial: a fresh install's check
	// said ok with a warning, and serve refused).
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := checkBinary(t, "", cfg); code != exitFailure || !strings.Contains(stderr.String(), "gateway check: "+want) {
		t.Errorf("check without a state_dir: exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitFailure, want)
	}
	if got := serveRefuses(t, cfg); !strings.Contains(got, "gateway serve: "+want) {
		t.Errorf("serve without a state_dir: stderr:\n%s\nwant %q", got, want)
	}
	if err := os.MkdirAll(state, 0o700); err != nil { // serve made it
		t.Fatal(err)
	}

	// The service user's state directory: the check cannot tell that the
	// gateway runs as root, and warns. (Its host key, if serve made one
	// before refusing, is the service user's too, as keygen run as that
	// user makes it: root's would fail the check, TestCheckOwnerCannotRead.)
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(state, auth.HostKeyFile), nobody, nobody); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	code, stdout, stderr := checkBinary(t, "", cfg)
	if code != exitOK || !strings.Contains(stderr.String(), ": warning: "+want) || !strings.Contains(stderr.String(), "run the check as the gateway's user") {
		t.Errorf("check with nobody's state_dir: exit %d, stderr:\n%s\nwant a warning %q", code, stderr, want)
	}
	// Not a plain "ok": whom it holds for, and what serve as root refuses
	// (trial: a container's root with a bind mount of uid 1000's).
	wantOK := cfg + ": ok only for a gateway running as "
	wantWhy := "run as root, gateway serve would refuse to start: " + users + " is owned by "
	if out := stdout.String(); !strings.HasPrefix(out, wantOK) || !strings.Contains(out, "(uid 65534), the owner of state_dir "+state) || !strings.Contains(out, wantWhy) || strings.Contains(out, ": ok (") {
		t.Errorf("check with nobody's state_dir: stdout %q, want %q ... %q", out, wantOK, wantWhy)
	}
	serveRefuses(t, cfg)

	// gateway user add as root edits the service user's file and keeps
	// it theirs.
	if r := userCmd(t, "pw two 2\n", nil, append([]string{"add", "--users", users, "--password-stdin"}, append(userCmdCheap, "bob")...)...); r.code != exitOK {
		t.Fatalf("user add to nobody's users file as root: %+v", r)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(users, &st); err != nil || st.Uid != nobody {
		t.Errorf("after user add: %v, owner %d, want %d", err, st.Uid, nobody)
	}
}

// TestServeChecksBeforeCreating: a state_dir that does not exist yet, in
// a directory every user may write in, is refused by gateway serve
// without being created there first, and the refusal says the directory
// is on the way to the host key, not holding it.
func TestServeChecksBeforeCreating(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	ww := filepath.Join(dir, "ww")
	if err := os.Mkdir(ww, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg := ownerTestConfig(t, ww, filepath.Join(dir, "users.toml"))
	want := "gateway serve: auth: directory " + ww + " (on the way to the host key) has mode 0777"
	if got := serveRefuses(t, cfg); !strings.Contains(got, want) {
		t.Errorf("serve: stderr:\n%s\nwant %q", got, want)
	}
	if _, err := os.Lstat(filepath.Join(ww, "state")); err == nil {
		t.Errorf("serve made %s in the directory it refused", filepath.Join(ww, "state"))
	}
}

// TestCheckServeFIFOInStateDir: a FIFO at host_key (check, serve) or at
// session.next (serve) is refused at once, saying so (trial: both hung
// in open(2), waiting for a writer).
func TestCheckServeFIFOInStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for _, name := range []string{auth.HostKeyFile, "session.next"} {
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		if _, err := auth.CreateHostKey(state, false); err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(state, name)
		os.Remove(fifo)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := ownerTestConfig(t, dir, filepath.Join(dir, "users.toml"))
		want := fifo + " is not a regular file but a FIFO"
		if name == auth.HostKeyFile {
			code, _, stderr := checkBinary(t, "", cfg)
			if code != exitFailure || !strings.Contains(stderr.String(), want) {
				t.Errorf("check with %s a FIFO: exit %d, stderr:\n%s\nwant exit %d and %q", name, code, stderr, exitFailure, want)
			}
		}
		if got := serveRefuses(t, cfg); !strings.Contains(got, want) {
			t.Errorf("serve with %s a FIFO: stderr:\n%s\nwant %q", name, got, want)
		}
	}
}

// TestCheckOwnerCannotRead: a host key the gateway's user (state_dir's
// owner) cannot read fails the check, whether it runs as root or as that
// user, as gateway serve would fail (operator trial: a key restored as
// root, owned by root, passed with "ok" or "ok only for nobody", and
// serve as nobody stopped with permission denied).
func TestCheckOwnerCannotRead(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the check as uid 65534")
	}
	const nobody = 65534
	base, bin := binaryForNobody(t)
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(state, "users.toml")
	if r := userCmd(t, "pw one 1\n", nil, append([]string{"add", "--users", users, "--password-stdin"}, append(userCmdCheap, "alice")...)...); r.code != exitOK {
		t.Fatalf("user add: %+v", r)
	}
	key := filepath.Join(state, auth.HostKeyFile)
	if _, err := auth.CreateHostKey(state, false); err != nil { // root's, 0600
		t.Fatal(err)
	}
	for _, p := range []string{state, users} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ownerTestConfig(t, base, users)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(asNobody bool) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, "check", cfg)
		if asNobody {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	// The key left root's (0600): nobody's gateway cannot read it.
	for _, asNobody := range []bool{false, true} {
		want := "is not readable by nobody (uid 65534), the owner of state_dir"
		if asNobody {
			want = "nobody, the owner of state_dir, may not read it: gateway serve running as nobody would not start"
		}
		if code, out := check(asNobody); code != exitFailure || !strings.Contains(out, want) {
			t.Errorf("root's key, check as nobody %v: exit %d, output:\n%s\nwant exit %d and %q", asNobody, code, out, exitFailure, want)
		}
	}
	// Nobody's own key, but mode 0000.
	if err := os.Chown(key, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0); err != nil {
		t.Fatal(err)
	}
	for _, asNobody := range []bool{false, true} {
		if code, out := check(asNobody); code != exitFailure {
			t.Errorf("key mode 0000, check as nobody %v: exit %d, output:\n%s", asNobody, code, out)
		}
	}
	// Nobody's key, 0600: the check passes either way.
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, asNobody := range []bool{false, true} {
		if code, out := check(asNobody); code != exitOK {
			t.Errorf("nobody's key, check as nobody %v: exit %d, output:\n%s", asNobody, code, out)
		}
	}
	// A users file outside state_dir, root's and 0600, which root reads
	// without complaint: nobody's gateway could not (retest: ok).
	outside := filepath.Join(base, "users.toml")
	if r := userCmd(t, "pw two 2\n", nil, append([]string{"add", "--users", outside, "--password-stdin"}, append(userCmdCheap, "bob")...)...); r.code != exitOK {
		t.Fatalf("user add: %+v", r)
	}
	cfg = ownerTestConfig(t, base, outside)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := check(false); code != exitFailure || !strings.Contains(out, "users file "+outside+" (owner uid 0, mode 0600) is not readable by nobody") {
		t.Errorf("root's 0600 users file outside state_dir, check as root: exit %d, output:\n%s", code, out)
	}
}

// TestServeAsRootOnServiceStateDir: gateway serve started as root by
// mistake on the state directory of the gateway's user is refused with
// the advice to run it as that user, not with the refusal's "chown root"
// (operator trial: following it locks the real service out).
func TestServeAsRootOnServiceStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir = %q\n[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:0\"\nbackend = \"demo\"\n[[backend]]\nname = \"demo\"\ntype = \"demo\"\n", state)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gatewayBinary(t), "serve", "--config", cfg)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started as root on nobody's state directory:\n%s", out)
	}
	want := "run the gateway as the state directory's owner, not as root (runuser -u nobody -- gateway serve --config " + cfg
	if !strings.Contains(string(out), want) || strings.Contains(string(out), "chown root") {
		t.Errorf("serve said:\n%s\nwant %q and no chown to root", out, want)
	}
}

// binaryForNobody copies the gateway binary into a new directory that
// every user may reach and read (mode 0755, root's; t.TempDir is not
// reachable by other users), for commands run as uid 65534, and returns
// the directory and the binary's path.
func binaryForNobody(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "dialgate-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "gateway")
	data, err := os.ReadFile(gatewayBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// TestCheckStateDirNotCreatable: the check run as the gateway's user
// (not root) on a state_dir that user may not create fails, with the
// install -d that makes it for that user. Operator trial: a warning
// with a literal USER in it, exit 0, and serve then could not start.
func TestCheckStateDirNotCreatable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the check as uid 65534")
	}
	const nobody = 65534
	base, bin := binaryForNobody(t) // base is root's: nobody may not create in it
	cfg := ownerTestConfig(t, base, filepath.Join(base, "users.toml"))
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("check as nobody: %v, want exit %d:\n%s", err, exitFailure, out)
	}
	want := "install -d -m 0700 -o nobody " + filepath.Join(base, "state")
	if !strings.Contains(string(out), want) || strings.Contains(string(out), "USER") {
		t.Errorf("check said:\n%s\nwant %q", out, want)
	}
	// Another user's state directory (the gateway's, most likely): not
	// a chown to the checking user, which would lock that gateway out
	// (review), but the check run as its owner.
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "check", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err = cmd.CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("check as nobody on uid 4242's state_dir: %v, want exit %d:\n%s", err, exitFailure, out)
	}
	line := ""
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "gateway serve run as nobody could not start") {
			line = l
		}
	}
	if !strings.Contains(line, "it is uid 4242's: run the check as that user)") || strings.Contains(line, "chown") || strings.Contains(line, "USER") {
		t.Errorf("check on another user's state_dir said:\n%s", out)
	}
}

// TestUsersFileWhereTheGatewayMayNotWrite: a users_file outside the
// state directory, in a directory only root may write in: the check run
// as the gateway's user warns that no user can be added there, and
// `gateway user add` run as that user says where the file belongs.
// New-user trial: the check only said to add a user; the add failed with
// a bare "permission denied", and the same add as root made a file the
// gateway could not read.
func TestUsersFileWhereTheGatewayMayNotWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the commands as uid 65534")
	}
	const nobody = 65534
	base, bin := binaryForNobody(t) // base is root's
	cfg := ownerTestConfig(t, base, filepath.Join(base, "users.toml"))
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := "user nobody may not write in " + base + ", so gateway user add run as this user cannot create it; keep users_file in state_dir"
	if out := asNobody(bin, "", "check", cfg); !strings.Contains(out, want) {
		t.Errorf("check said:\n%s\nwant %q", out, want)
	}
	want = "user nobody may not write in " + base + ", where the users file and its lock are; run the command as the gateway's user, and keep users_file in the state directory"
	if out := asNobody(bin, "password1\n", "user", "add", "--config", cfg, "--password-stdin", "zed"); !strings.Contains(out, want) {
		t.Errorf("user add said:\n%s\nwant %q", out, want)
	}
}

// TestPermissionHints: run as a user who may not, `gateway check` on a
// configuration it may not read and `gateway keygen` on a state
// directory it may not write in say what to do (new-user trial: bare
// "permission denied").
func TestPermissionHints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the commands as uid 65534")
	}
	base, bin := binaryForNobody(t)                                    // base is root's
	cfg := ownerTestConfig(t, base, filepath.Join(base, "users.toml")) // mode 0600, root's
	if out, want := asNobody(bin, "", "check", cfg), "user nobody may not read it, nor would a gateway running as that user: give the file to the gateway's group, chgrp GROUP "+cfg; !strings.Contains(out, want) {
		t.Errorf("check said:\n%s\nwant %q", out, want)
	}
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, want := asNobody(bin, "", "keygen", "--state-dir", state), "user nobody may not write in the state directory "+state; !strings.Contains(out, want) {
		t.Errorf("keygen said:\n%s\nwant %q", out, want)
	}
}

// asNobody runs the gateway binary bin as uid and gid 65534 with stdin,
// and returns its output (the caller judges the exit by the words).
func asNobody(bin, stdin string, args ...string) string {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stdin = strings.NewReader(stdin)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// TestServeStateDirNotWritable: gateway serve run as a user who may not
// write in its state_dir, or use the host key or calls.jsonl there,
// stops naming the chown that makes them that user's, as check and
// keygen do. New-user trial: serve stopped with a bare "open
// …/.host_key.tmpN: permission denied", then "open …/host_key:
// permission denied", then "store: open …/calls.jsonl: permission
// denied".
func TestServeStateDirNotWritable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the gateway as uid 65534")
	}
	const nobody = 65534
	base, bin := binaryForNobody(t)
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o755); err != nil { // root's
		t.Fatal(err)
	}
	cfg := ownerTestConfig(t, base, filepath.Join(state, "users.toml"))
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func() string {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--config", cfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Fatalf("serve as nobody: %v, want exit %d:\n%s", err, exitFailure, out)
		}
		return string(out)
	}
	if out, want := serve(), "may not write in it: gateway serve run as nobody could not start (as root: chown nobody "+state; !strings.Contains(out, want) {
		t.Errorf("serve on root's state_dir said:\n%s\nwant %q", out, want)
	}
	if _, err := auth.CreateHostKey(state, false); err != nil { // root's, 0600
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := "permission denied (the gateway runs as nobody and may not use it: make the state directory's files that user's, chown -R nobody " + state + ","
	if out := serve(); !strings.Contains(out, want) {
		t.Errorf("serve with root's host key said:\n%s\nwant %q", out, want)
	}
	// The key the gateway's user's, calls.jsonl still root's (a gateway
	// run as root before the directory was given to that user).
	if err := os.Chown(filepath.Join(state, auth.HostKeyFile), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "calls.jsonl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := serve(); !strings.Contains(out, "calls.jsonl: "+want) {
		t.Errorf("serve with root's calls.jsonl said:\n%s\nwant %q", out, "calls.jsonl: "+want)
	}
	// gateway check, as the gateway's user, fails on it too.
	cmd := exec.Command(bin, "check", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if want := "user nobody may not write calls.jsonl: gateway serve run as nobody could not start (as root: chown -R nobody " + state + ")"; !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(string(out), want) {
		t.Errorf("check as nobody: %v:\n%s\nwant exit %d and %q", err, out, exitFailure, want)
	}
}

// TestServeConfigNotReadable: gateway serve run as a user who may not
// read its configuration says how to let it, as gateway check does.
// New-user trial: "config: open FILE: permission denied" and no more.
func TestServeConfigNotReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the gateway as uid 65534")
	}
	base, bin := binaryForNobody(t)
	cfg := ownerTestConfig(t, base, filepath.Join(base, "state", "users.toml")) // root's, 0600
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("serve as nobody: %v, want exit %d:\n%s", err, exitFailure, out)
	}
	if want := "permission denied (the gateway runs as nobody and may not read it: give the file to the gateway's group, chgrp GROUP " + cfg + "; chmod 0640 " + cfg + ")"; !strings.Contains(string(out), want) {
		t.Errorf("serve said:\n%s\nwant %q", out, want)
	}
}

// TestUsersFileDirNotCreatable: a users_file whose directory does not
// exist and may not be made by the gateway's user (the example's
// users_file kept after state_dir was changed) is warned about by
// gateway check, and gateway user add says why it fails. New-user
// trial: check said to run gateway user add, which failed with "mkdir
// /var/lib/dialgate: permission denied" and no more.
func TestUsersFileDirNotCreatable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the gateway as uid 65534")
	}
	const nobody = 65534
	base, bin := binaryForNobody(t) // root's: nobody may not create in it
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(base, "lib", "dialgate", "users.toml")
	cfg := ownerTestConfig(t, base, users)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		cmd.Stdin = strings.NewReader(stdin)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out, want := run("", "check", cfg), "users_file "+users+": its directory "+filepath.Dir(users)+" does not exist, and user nobody may not create it in "+base; !strings.Contains(out, want) {
		t.Errorf("check said:\n%s\nwant %q", out, want)
	}
	if out, want := run("pw one 12\n", append([]string{"user", "add", "--config", cfg, "--password-stdin"}, append(userCmdCheap, "alice")...)...), "user nobody may not create its directory; run the command as the gateway's user, and keep users_file in the state directory"; !strings.Contains(out, want) {
		t.Errorf("user add said:\n%s\nwant %q", out, want)
	}
}

// TestControlPermissionNamesUser: gateway calls run as a user who may
// not use the control socket names the gateway's user (the state
// directory's owner) in its runuser advice. New-user trial: it said
// "runuser -u USER -- gateway ...".
func TestControlPermissionNamesUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the state directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := controlError(filepath.Join(dir, controlSocketName), &os.PathError{Op: "dial", Path: dir, Err: syscall.EACCES})
	if want := "runuser -u nobody -- gateway"; !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want %q", err, want)
	}
}
