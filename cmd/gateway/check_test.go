package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/auth"
)

// TestCheckCommand runs `gateway check` as a new operator does: the
// example configuration as shipped passes (warnings allowed), a file with
// mistakes fails with one line per problem and a hint, and without a
// FILE argument and no config.toml here it says how to name one.
func TestCheckCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	_, self, _, _ := runtime.Caller(0)
	example := filepath.Join(filepath.Dir(self), "..", "..", "config.toml.example")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[lines]\nmax_concurent = 4\n[[listener]]\nname = \"modem\"\nadress = \"telnet://0.0.0.0:2323\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   []string
		noStderr string
	}{
		{"example", []string{example}, exitOK, ": ok (2 listener(s), 3 backend(s)", nil, "problem"},
		{"mistakes", []string{bad}, exitFailure, "", []string{
			"bad.toml:2:1: lines.max_concurent: unknown key (did you mean max_concurrent?)",
			"bad.toml:3:1: listener[0].address: missing address",
			"bad.toml:5:1: listener[0].adress: unknown key (did you mean address?)",
			"gateway check: " + bad + ": 3 problem(s)",
		}, "goroutine "},
		{"no file", nil, exitFailure, "", []string{"(name the file: gateway check FILE)"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := checkBinary(t, dir, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), c.stdout) {
				t.Errorf("stdout %q, want %q", stdout.String(), c.stdout)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr:\n%s\nlacks %q", stderr.String(), w)
				}
			}
			if c.noStderr != "" && strings.Contains(stderr.String(), c.noStderr) {
				t.Errorf("stderr has %q:\n%s", c.noStderr, stderr.String())
			}
		})
	}
}

// TestCheckUsersFileMode: `gateway check` reads the users file as
// `gateway serve` does: one other users can read passes with a warning
// like the configuration's own; one they can write fails the check with
// the chmod that fixes it, since serve would not start with it.
func TestCheckUsersFileMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users.toml")
	cfg := filepath.Join(dir, "gateway.toml")
	text := "state_dir = \"state\"\nusers_file = \"users.toml\"\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := auth.NewUsers().Save(users); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode   os.FileMode
		code   int
		stderr string // "": nothing about the users file
	}{
		{0o600, exitOK, ""},
		{0o640, exitOK, cfg + ": warning: users file " + users + " has mode 0640: other users can read the password hashes; run chmod 600 " + users},
		{0o660, exitFailure, "gateway check: auth: users file " + users + " has mode 0660: other users can change the accounts and password hashes, so it is not loaded; run chmod 600 " + users},
	} {
		if err := os.Chmod(users, c.mode); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := checkBinary(t, "", cfg)
		if code != c.code {
			t.Errorf("mode %04o: exit %d, want %d; stderr:\n%s", c.mode, code, c.code, stderr.String())
		}
		if c.stderr == "" && strings.Contains(stderr.String(), users) {
			t.Errorf("mode %04o: stderr:\n%s", c.mode, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("mode %04o: stderr:\n%s\nlacks %q", c.mode, stderr.String(), c.stderr)
		}
		if c.code == exitFailure && !strings.Contains(stderr.String(), "run chmod 600 "+users) {
			t.Errorf("mode %04o: stderr does not say chmod 600 %s:\n%s", c.mode, users, stderr.String())
		}
		if c.code == exitOK && !strings.Contains(stdout.String(), ": ok") {
			t.Errorf("mode %04o: stdout %q", c.mode, stdout.String())
		}
	}
}

// TestCheckUserBackend: an account whose backend the configuration does
// not define (its login would succeed, then the call would fail) is
// warned about by name, without failing the check.
func TestCheckUserBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.toml")
	text := "users_file = \"users.toml\"\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:2323\"\n" +
		"[[backend]]\nname = \"bbs\"\ntype = \"tcp\"\naddress = \"127.0.0.1:6400\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	u := auth.NewUsers()
	for id, backend := range map[string]string{"alice": "bss", "bob": "bbs", "carol": "", "dave": "demo"} {
		if err := u.Add(auth.User{ID: id, Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Backend: backend}); err != nil {
			t.Fatal(err)
		}
	}
	// A callback address written into the file by hand that the
	// callback service cannot call.
	if err := u.Add(auth.User{ID: "erin", Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Callback: "http://192.0.2.7:80"}); err != nil {
		t.Fatal(err)
	}
	// One that calls the gateway's own listener; one on another machine
	// on the same port is fine.
	if err := u.Add(auth.User{ID: "eve", Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Callback: "telnet://localhost:2323"}); err != nil {
		t.Fatal(err)
	}
	if err := u.Add(auth.User{ID: "finn", Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Callback: "telnet://192.0.2.8:2323"}); err != nil {
		t.Fatal(err)
	}
	// A hash from before argon2_memory_kib was lowered: more than
	// max_hashing (2) x 64 MiB (operator trial: locked out unseen).
	if err := u.Add(auth.User{ID: "gail", Hash: "$argon2id$v=19$m=262144,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"}); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(filepath.Join(dir, "users.toml")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := checkBinary(t, "", cfg)
	if code != exitOK || !strings.Contains(stdout.String(), ": ok") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		cfg + `: warning: user alice has backend "bss", which the configuration does not define (it has bbs, demo)`,
		cfg + `: warning: user erin has callback "http://192.0.2.7:80": the callback service calls telnet:// and tcp:// addresses, not http://`,
		cfg + `: warning: user eve has callback "telnet://localhost:2323", which is this gateway's listener "modem"`,
		cfg + `: warning: 1 user(s) have a password hash that needs more argon2id memory than [security] max_hashing (2) x argon2_memory_kib (65536 KiB) allows at once: every login of theirs is denied, whatever the password (gail)`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr:\n%s\nlacks %q", stderr.String(), want)
		}
	}
	for _, id := range []string{"bob", "carol", "dave", "finn"} {
		if strings.Contains(stderr.String(), "user "+id) {
			t.Errorf("stderr warns about %s:\n%s", id, stderr.String())
		}
	}
	// The fix the warning suggests names this configuration, and works
	// as written (without --config it changed the demo's users file).
	fix := "fix it with gateway user set --config " + cfg + " --backend NAME alice"
	if !strings.Contains(stderr.String(), fix) {
		t.Fatalf("stderr:\n%s\nlacks %q", stderr.String(), fix)
	}
	args := strings.Fields(strings.TrimPrefix(fix, "fix it with gateway "))
	args[slices.Index(args, "NAME")] = "bbs"
	cmd := exec.Command(gatewayBinary(t), args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg"), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gateway %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if _, _, stderr = checkBinary(t, "", cfg); strings.Contains(stderr.String(), "user alice") {
		t.Errorf("after the fix, stderr:\n%s", stderr.String())
	}
}

// TestUsersFileUnreadable: a users file the gateway's user may not read
// stops gateway serve with the name of that user and what to do.
func TestUsersFileUnreadable(t *testing.T) {
	err := usersFileError(fmt.Errorf("auth: users file: %w", &os.PathError{Op: "open", Path: "users.toml", Err: syscall.EACCES}), "dialgate")
	want := "auth: users file: open users.toml: permission denied (the gateway runs as dialgate and may not read it"
	if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("got %q, want %q...", err, want)
	}
	other := errors.New("auth: users.toml:3: unknown key")
	if got := usersFileError(other, "dialgate"); got != other {
		t.Errorf("other errors pass unchanged: %v", got)
	}
}

// TestStateDir: a state directory gateway serve could not create or
// write in is warned about by check and named by serve's error, with the
// command that makes it.
func TestStateDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{dir, ""},
		{filepath.Join(dir, "new", "state"), ""}, // serve creates it
		{file, file + " is not a directory"},
		{filepath.Join(file, "state"), file + " is not a directory"},
	} {
		if got, _ := stateDirProblem(c.path); got != c.want {
			t.Errorf("stateDirProblem(%s) = %q, want %q", c.path, got, c.want)
		}
	}
	if os.Geteuid() != 0 {
		// root may write anywhere; anyone else not in a 0500 directory.
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if got, anyone := stateDirProblem(filepath.Join(ro, "state")); anyone || !strings.HasPrefix(got, "it does not exist, and user ") || !strings.HasSuffix(got, " may not create it in "+ro) {
			t.Errorf("in a read-only directory: %q", got)
		}
		if got, anyone := stateDirProblem(ro); anyone || !strings.HasSuffix(got, " may not write in it") {
			t.Errorf("a read-only directory: %q", got)
		}
	}
	// A read-only file system stops every user, root too (ops trial:
	// check said ok and serve could not start).
	defer func(f func(string) bool) { readOnlyFS = f }(readOnlyFS)
	readOnlyFS = func(d string) bool { return d == dir }
	if got, anyone := stateDirProblem(dir); !anyone || got != "it is on a read-only file system" {
		t.Errorf("on a read-only file system: %q, %v", got, anyone)
	}
	if got, anyone := stateDirProblem(filepath.Join(dir, "new")); !anyone || got != "it does not exist, and "+dir+", where it would be made, is on a read-only file system" {
		t.Errorf("to be made on a read-only file system: %q, %v", got, anyone)
	}
	err := stateDirError("/var/lib/dialgate", &os.PathError{Op: "mkdir", Path: "/var/lib/dialgate", Err: syscall.EACCES}, "dialgate")
	want := "state_dir /var/lib/dialgate: mkdir /var/lib/dialgate: permission denied (the gateway runs as dialgate: create the directory for it, install -d -m 0700 -o dialgate /var/lib/dialgate)"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// checkBinary runs the built binary's `gateway check args...` in dir ("": the
// test's own) and returns its exit code and what it printed.
func checkBinary(t *testing.T, dir string, args ...string) (code int, stdout, stderr *strings.Builder) {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), append([]string{"check"}, args...)...)
	cmd.Dir = dir
	stdout, stderr = &strings.Builder{}, &strings.Builder{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	var ee *exec.ExitError
	if err := cmd.Run(); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout, stderr
}

// TestListenerTakes: which listener hosts a callback to a host of this
// machine reaches, as the listeners listen (0.0.0.0 is IPv4 only).
func TestListenerTakes(t *testing.T) {
	for _, c := range []struct {
		listener, callback string
		want               bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "localhost", true},
		{"127.0.0.1", "::1", false},
		{"127.0.0.1", "127.0.0.2", false},
		{"0.0.0.0", "127.0.0.1", true},
		{"0.0.0.0", "127.0.0.2", true},
		{"0.0.0.0", "::1", false},
		{"0.0.0.0", "::ffff:127.0.0.1", true},
		{"0.0.0.0", "localhost", true},
		{"::", "::1", true},
		{"::", "127.0.0.1", true},
		{"", "::1", true},
		{"::1", "::1", true},
		{"::1", "127.0.0.1", false},
		{"::1", "localhost", true},
		{"localhost", "127.0.0.1", true},
		{"localhost", "::1", true},
		{"LOCALHOST", "localhost", true},
		{"192.0.2.1", "127.0.0.1", false},
		{"0.0.0.0", "192.0.2.8", false},
		{"gw.example", "gw.example", true},
		{"gw.example", "127.0.0.1", false},
	} {
		if got := listenerTakes(c.listener, c.callback); got != c.want {
			t.Errorf("listener %q, callback %q: %v, want %v", c.listener, c.callback, got, c.want)
		}
	}
}
