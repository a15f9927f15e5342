package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
)

// userCmdCheap are argon2id costs low enough for tests.
var userCmdCheap = []string{"--argon2-time", "1", "--argon2-memory", "64", "--argon2-threads", "1"}

type userCmdResult struct {
	code           int
	stdout, stderr string
}

func userCmd(t *testing.T, stdin string, secrets []string, args ...string) userCmdResult {
	t.Helper()
	var out, errb bytes.Buffer
	env := userEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }}
	if secrets != nil {
		env.readSecret = func(prompt string) ([]byte, error) {
			errb.WriteString(prompt + "\n")
			if len(secrets) == 0 {
				t.Fatal("asked for more passwords than given")
			}
			s := secrets[0]
			secrets = secrets[1:]
			return []byte(s), nil
		}
	}
	code := userMain(args, env)
	return userCmdResult{code, out.String(), errb.String()}
}

func userCmdVerify(t *testing.T, path, id, pw string) error {
	t.Helper()
	users, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(users, auth.VerifierConfig{MaxConcurrent: 1, MinFailureTime: time.Nanosecond}, nil)
	_, err = v.Verify(context.Background(), id, pw, "test")
	return err
}

func TestUserCommandLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "users.toml")
	const pw1, pw2 = "first secret 1", "second secret 2"
	add := append([]string{"add", "--users", path, "--password-stdin", "--backend", "bbs",
		"--callback", "telnet://192.0.2.7:2323", "--expires", "2027-01-01"}, userCmdCheap...)
	r := userCmd(t, pw1+"\n", nil, append(add, "alice")...)
	if r.code != exitOK {
		t.Fatalf("add: %+v", r)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v %v", err, fi)
	}
	if err := userCmdVerify(t, path, "alice", pw1); err != nil {
		t.Errorf("alice's password: %v", err)
	}
	// Flags after USER work too; a password without a final newline too.
	r = userCmd(t, "bobpw", nil, append([]string{"add", "bob", "--users", path, "--password-stdin"}, userCmdCheap...)...)
	if r.code != exitOK {
		t.Fatalf("add bob: %+v", r)
	}
	r = userCmd(t, "", nil, "list", "--users", path)
	want := []string{"USER", "alice", "active", "2027-01-01T00:00:00Z", "bbs", "telnet://192.0.2.7:2323", "bob", "never"}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("list lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "argon2id") {
		t.Error("list shows hashes")
	}

	// passwd on a "terminal": asked twice.
	r = userCmd(t, "", []string{pw2, pw2}, append([]string{"passwd", "--users", path, "alice"}, userCmdCheap...)...)
	if r.code != exitOK || strings.Count(r.stderr, "password") != 2 {
		t.Fatalf("passwd: %+v", r)
	}
	if userCmdVerify(t, path, "alice", pw1) == nil || userCmdVerify(t, path, "alice", pw2) != nil {
		t.Error("passwd did not replace the password")
	}

	r = userCmd(t, "", nil, "set", "--users", path, "--disabled", "--backend", "", "alice")
	if r.code != exitOK {
		t.Fatalf("set: %+v", r)
	}
	if userCmdVerify(t, path, "alice", pw2) == nil {
		t.Error("disabled account still logs in")
	}
	r = userCmd(t, "", nil, "list", "--users", path)
	if !strings.Contains(r.stdout, "disabled") {
		t.Errorf("list after set:\n%s", r.stdout)
	}
	users, _ := auth.LoadUsers(path)
	if u, _ := users.Lookup("alice"); u.Backend != "" || u.Callback != "telnet://192.0.2.7:2323" {
		t.Errorf("set changed the wrong fields: %+v", u)
	}
	r = userCmd(t, "", nil, "set", "--users", path, "--disabled=false", "--expires", "never", "alice")
	if r.code != exitOK || userCmdVerify(t, path, "alice", pw2) != nil {
		t.Fatalf("re-enable: %+v", r)
	}
	r = userCmd(t, "", nil, "set", "--users", path, "--expires", "2026-01-01T00:00:00Z", "alice")
	if r.code != exitOK {
		t.Fatal(r)
	}
	// An expiry already past (the test's clock: 2026-06-01) is said to
	// lock the account out now (new-user trial: only "updated").
	if !strings.Contains(r.stderr, "warning: alice expired at 2026-01-01T00:00:00Z, which has passed") {
		t.Errorf("no warning for a past expiry: %q", r.stderr)
	}
	if r = userCmd(t, "", nil, "list", "--users", path); !strings.Contains(r.stdout, "expired") {
		t.Errorf("list after expiry:\n%s", r.stdout)
	}
	// --callback none clears the callback, as --expires never the
	// expiry (new-user trial).
	r = userCmd(t, "", nil, "set", "--users", path, "--callback", "none", "alice")
	if r.code != exitOK {
		t.Fatal(r)
	}
	if r = userCmd(t, "", nil, "list", "--users", path); strings.Contains(r.stdout, "telnet://192.0.2.7:2323") {
		t.Errorf("list after --callback none:\n%s", r.stdout)
	}

	r = userCmd(t, "", nil, "del", "--users", path, "alice")
	if r.code != exitOK {
		t.Fatalf("del: %+v", r)
	}
	if r = userCmd(t, "", nil, "list", "--users", path); strings.Contains(r.stdout, "alice") {
		t.Errorf("alice listed after del:\n%s", r.stdout)
	}

	// Nothing the command printed contains a password.
	for _, pw := range []string{pw1, pw2, "bobpw"} {
		if strings.Contains(r.stdout+r.stderr, pw) {
			t.Errorf("output shows a password")
		}
	}
}

func TestUserCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.toml")
	if r := userCmd(t, "pw\n", nil, append([]string{"add", "--users", path, "--password-stdin", "alice"}, userCmdCheap...)...); r.code != exitOK {
		t.Fatal(r)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[user.x]\nhash = \"h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Two problems, one the trial's: a callback address as host:port.
	bad2 := filepath.Join(dir, "bad2.toml")
	if err := os.WriteFile(bad2, []byte("[user.x]\nhash = \"h\"\n[user.y]\ncallback = \"127.0.0.1:30500\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gateway.toml")
	cfgText := "users_file = \"users.toml\"\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:2323\"\n" +
		"[[backend]]\nname = \"bbs\"\ntype = \"tcp\"\naddress = \"127.0.0.1:6400\"\n"
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, c := range []struct {
		name   string
		stdin  string
		tty    []string
		args   []string
		code   int
		stderr string
	}{
		{"no action", "", nil, []string{"--users", path}, exitUsage, "missing action"},
		{"unknown action", "", nil, []string{"frob", "alice"}, exitUsage, "unknown action"},
		{"add without USER", "", nil, []string{"add", "--users", path}, exitUsage, "exactly one USER"},
		{"two users", "", nil, []string{"del", "a", "b"}, exitUsage, "exactly one USER"},
		{"list with USER", "", nil, []string{"list", "alice"}, exitUsage, "no arguments"},
		{"bad flag", "", nil, []string{"add", "--nope", "alice"}, exitUsage, ""},
		{"add existing", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "alice"}, exitFailure, "already exists"},
		{"passwd unknown", "pw\n", nil, []string{"passwd", "--users", path, "--password-stdin", "bob"}, exitFailure, "no user"},
		{"del unknown", "", nil, []string{"del", "--users", path, "bob"}, exitFailure, "no user"},
		{"set unknown", "", nil, []string{"set", "--users", path, "--disabled", "bob"}, exitFailure, "no user"},
		{"set nothing", "", nil, []string{"set", "--users", path, "alice"}, exitUsage, "at least one"},
		{"bad ID", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "a@b"}, exitUsage, "user ID"},
		{"bad callback", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "h:23", "bob"}, exitUsage, "callback"},
		// A bare host:port: one "gateway user:" prefix, no sentinel's words, a hint.
		{"callback host:port", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "127.0.0.1:30500", "dave"}, exitUsage,
			"gateway user: callback address \"127.0.0.1:30500\" is not a URL: did you mean telnet://127.0.0.1:30500?\n"},
		// Addresses auth takes but the callback service cannot call (callback trial).
		{"callback http", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "http://127.0.0.1:30500", "dave"}, exitUsage,
			"gateway user: callback address \"http://127.0.0.1:30500\": the callback service calls telnet:// and tcp:// addresses, not http://\n"},
		{"callback to listen address", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "telnet://0.0.0.0:2424", "dave"}, exitUsage,
			"0.0.0.0 is an address to listen on, not one to call"},
		// IPv6 trial: these passed.
		{"callback to mapped listen address", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "telnet://[::ffff:0.0.0.0]:2424", "dave"}, exitUsage,
			"::ffff:0.0.0.0 is an address to listen on"},
		{"callback to multicast", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "telnet://[ff02::1]:2424", "dave"}, exitUsage,
			"ff02::1 is a multicast address"},
		{"callback to link-local without zone", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--callback", "telnet://[fe80::1]:2424", "dave"}, exitUsage,
			"fe80::1 is a link-local address: name the interface"},
		{"bad expiry", "pw\n", nil, []string{"add", "--users", path, "--password-stdin", "--expires", "soon", "bob"}, exitUsage, "--expires"},
		{"attr with passwd", "pw\n", nil, []string{"passwd", "--users", path, "--backend", "x", "alice"}, exitUsage, "does not apply"},
		{"stdin flag with del", "", nil, []string{"del", "--users", path, "--password-stdin", "alice"}, exitUsage, "does not apply"},
		{"no terminal", "pw\n", nil, []string{"add", "--users", path, "bob"}, exitFailure, "--password-stdin"},
		{"empty stdin", "", nil, []string{"add", "--users", path, "--password-stdin", "bob"}, exitFailure, "no password"},
		{"empty password", "\n", nil, []string{"add", "--users", path, "--password-stdin", "bob"}, exitFailure, "empty password"},
		{"long password", strings.Repeat("x", auth.MaxPasswordLen+1) + "\n", nil, []string{"add", "--users", path, "--password-stdin", "bob"}, exitFailure, "longer than"},
		{"tty mismatch", "", []string{"one", "two"}, []string{"add", "--users", path, "bob"}, exitFailure, "do not match"},
		{"bad users file", "", nil, []string{"list", "--users", bad}, exitFailure, "gateway user: " + bad + ":2:"},
		// Each problem on its line, none with "auth: " (the trial:
		// "gateway user: auth: u2.toml:11: callback address ...").
		{"bad users file, two problems", "", nil, []string{"list", "--users", bad2}, exitFailure, "\n" + bad2 + ":4: "},
		{"missing users file", "", nil, []string{"list", "--users", filepath.Join(dir, "none")}, exitFailure, "no such file"},
		{"missing config", "", nil, []string{"list", "--config", filepath.Join(dir, "none.toml")}, exitFailure, "none.toml"},
		// A backend the configuration does not define: the user could
		// log in, then hear "service not available".
		{"unknown backend", "", nil, []string{"set", "--config", cfg, "--backend", "bsb", "alice"}, exitUsage, `--backend "bsb": ` + cfg + " defines no such backend (it has bbs, demo)"},
		{"add unknown backend", "pw\n", nil, []string{"add", "--config", cfg, "--password-stdin", "--backend", "bsb", "bob"}, exitUsage, "defines no such backend"},
		// The gateway's own listener as a callback address: check
		// warned only afterwards (callback trial).
		{"callback to the gateway itself", "", nil, []string{"set", "--config", cfg, "--callback", "telnet://localhost:2323", "alice"}, exitUsage,
			`--callback "telnet://localhost:2323" is ` + cfg + `'s listener "modem": the callback would call the gateway itself`},
		// However written (security trial).
		{"callback to the gateway itself, spelt otherwise", "", nil, []string{"set", "--config", cfg, "--callback", "telnet://LOCALHOST.:02323", "alice"}, exitUsage,
			`--callback "telnet://LOCALHOST.:02323" is ` + cfg + `'s listener "modem": the callback would call the gateway itself`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] == "add" || args[0] == "passwd" {
				args = append(args, userCmdCheap...)
			}
			r := userCmd(t, c.stdin, c.tty, args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("got %+v, want exit %d and %q on stderr", r, c.code, c.stderr)
			}
			if strings.Contains(r.stderr, "auth: ") {
				t.Errorf("stderr %q repeats the auth package's prefix", r.stderr)
			}
			if strings.TrimSpace(c.stdin) != "" && strings.Contains(r.stdout+r.stderr, strings.TrimSpace(c.stdin)) {
				t.Error("output shows the password")
			}
		})
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused command changed the users file")
	}
}

func TestUserCommandConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.toml")
	users := filepath.Join(dir, "elsewhere", "people.toml")
	text := "state_dir = \"" + filepath.Join(dir, "state") + "\"\n" +
		"users_file = \"" + users + "\"\n" +
		"[security]\nargon2_time = 1\nargon2_memory_kib = 128\nargon2_threads = 2\n" +
		"[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := userCmd(t, "pw\n", nil, "add", "--config", cfg, "--password-stdin", "alice")
	if r.code != exitOK {
		t.Fatalf("add with --config: %+v", r)
	}
	data, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "$argon2id$v=19$m=128,t=1,p=2$") {
		t.Errorf("hash does not use the configured costs:\n%s", data)
	}
	// --backend names one of the configuration's backends (or the demo).
	if r := userCmd(t, "", nil, "set", "--config", cfg, "--backend", "demo", "alice"); r.code != exitOK {
		t.Fatalf("set --backend demo: %+v", r)
	}
	// Without --config and --users: the state directory's users.toml.
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "xdg"))
	r = userCmd(t, "pw\n", nil, append([]string{"add", "--password-stdin", "bob"}, userCmdCheap...)...)
	if r.code != exitOK {
		t.Fatalf("add with defaults: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "xdg", "dialgate", "users.toml")); err != nil {
		t.Errorf("default users file: %v", err)
	}
}

// TestUserWeakPasswordWarned: a password shorter than 8 characters is
// taken with a warning (operator trial: "a" went in without a word); a
// longer one without.
func TestUserWeakPasswordWarned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	r := userCmd(t, "abc\n", nil, append([]string{"add", "--users", path, "--password-stdin"}, append(userCmdCheap, "zoe")...)...)
	if r.code != exitOK || !strings.Contains(r.stderr, "warning: a password of 3 characters is easy to guess") {
		t.Errorf("short password: %+v", r)
	}
	if err := userCmdVerify(t, path, "zoe", "abc"); err != nil {
		t.Errorf("the short password was not taken: %v", err)
	}
	r = userCmd(t, "correct horse\n", nil, append([]string{"passwd", "--users", path, "--password-stdin"}, append(userCmdCheap, "zoe")...)...)
	if r.code != exitOK || strings.Contains(r.stderr, "warning") {
		t.Errorf("long password: %+v", r)
	}
}

// TestUserPasswordUntypableAtTextLogin: a password the text login can
// never receive (it drops control characters: a tab, an escape sequence,
// DEL is a backspace) is refused, naming the octet, and the account is
// left as it was. Security review: "pass\tword123" went in, and then
// neither it nor "password123" logged in at the login: prompt.
func TestUserPasswordUntypableAtTextLogin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	for _, pw := range []string{"pass\tword123", "p\x1b[Aassword123", "password123\x7f", "pass\x00word123", "\x91password123"} {
		r := userCmd(t, pw+"\n", nil, append([]string{"add", "--users", path, "--password-stdin"}, append(userCmdCheap, "zoe")...)...)
		if r.code != exitFailure || !strings.Contains(r.stderr, "the text login") {
			t.Errorf("password %q: %+v, want refused", pw, r)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("users file after refusals: %v, want none", err)
	}
	// What the text login keeps is taken: spaces, UTF-8, a C1 octet
	// after the first character.
	r := userCmd(t, " pass word \u00e9\x91\n", nil, append([]string{"add", "--users", path, "--password-stdin"}, append(userCmdCheap, "zoe")...)...)
	if r.code != exitOK {
		t.Fatalf("typable password: %+v", r)
	}
}

// TestUserReloadNotice: a change to the users file of a gateway that is
// running says that it takes effect with a reload; with no gateway
// running, nothing is said. New-user trial: a user added while the
// gateway ran was denied as unknown, and nothing had said why.
func TestUserReloadNotice(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gateway.toml")
	text := fmt.Sprintf("state_dir = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://127.0.0.1:0\"\n", state)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	const notice = "reload it to apply this"
	add := func(id string) userCmdResult {
		t.Helper()
		r := userCmd(t, "pw for "+id+"\n", nil, append([]string{"add", "--config", cfg, "--password-stdin"}, append(userCmdCheap, id)...)...)
		if r.code != exitOK {
			t.Fatalf("user add %s: %+v", id, r)
		}
		return r
	}
	if r := add("alice"); strings.Contains(r.stderr, notice) {
		t.Errorf("no gateway running, but user add said: %q", r.stderr)
	}
	// A gateway running with that state_dir answers on its control socket.
	l, err := net.Listen("unix", filepath.Join(state, controlSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if r := add("bob"); !strings.Contains(r.stderr, notice) || !strings.Contains(r.stderr, state) {
		t.Errorf("gateway running: user add said %q, want %q", r.stderr, notice)
	}
	if r := userCmd(t, "", nil, "list", "--config", cfg); r.code != exitOK || strings.Contains(r.stderr, notice) {
		t.Errorf("user list: %+v, want no notice", r)
	}
}
