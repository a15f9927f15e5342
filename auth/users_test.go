package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// policyArgon2 is a cheap argon2id cost for tests (never for production).
var policyArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func policyHash(t testing.TB, password string) string {
	t.Helper()
	h, err := HashPassword(password, policyArgon2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func policyUsers(t testing.TB) *Users {
	t.Helper()
	u := NewUsers()
	for _, usr := range []User{
		{ID: "alice", Hash: policyHash(t, "correct horse"), Backend: "bbs"},
		{ID: "j.doe", Hash: policyHash(t, "s3cret"), Callback: "telnet://192.0.2.7:2323",
			Expires: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "mallory", Hash: policyHash(t, "x"), Disabled: true,
			Expires: time.Date(2026, 12, 24, 18, 30, 0, 5000, time.UTC)},
	} {
		if err := u.Add(usr); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func sameUsers(t *testing.T, got, want []User) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d users, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Expires.Equal(w.Expires) {
			t.Errorf("user %s: expires %v, want %v", w.ID, g.Expires, w.Expires)
		}
		g.Expires, w.Expires = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("user %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestUsersFileRoundTrip(t *testing.T) {
	u := policyUsers(t)
	path := filepath.Join(t.TempDir(), "users.toml")
	if err := u.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %04o, want 0600", fi.Mode().Perm())
	}
	got, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	sameUsers(t, got.List(), u.List())
	if a, b := string(u.Marshal()), string(got.Marshal()); a != b {
		t.Errorf("Marshal not stable:\n%s\n---\n%s", a, b)
	}
	text := string(u.Marshal())
	for _, want := range []string{`[user."j.doe"]`, "[user.alice]", "expires = 2027-01-01\n",
		"expires = 2026-12-24T18:30:00.000005Z", "disabled = true", `callback = "telnet://192.0.2.7:2323"`} {
		if !strings.Contains(text, want) {
			t.Errorf("users file lacks %q:\n%s", want, text)
		}
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after Save, want 1", len(ents))
	}
}

func TestUsersFileExpiryForms(t *testing.T) {
	h := policyHash(t, "pw")
	for _, tc := range []struct{ expr, want string }{
		{"2027-01-01", "2027-01-01T00:00:00Z"},
		{"2027-01-01T12:00:00+02:00", "2027-01-01T10:00:00Z"},
		{"2027-01-01 12:00:00Z", "2027-01-01T12:00:00Z"},
	} {
		u, err := ParseUsers([]byte("[user.a]\nhash = \"" + h + "\"\nexpires = " + tc.expr + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		usr, _ := u.Lookup("a")
		if got := usr.Expires.UTC().Format(time.RFC3339); got != tc.want {
			t.Errorf("expires = %s: got %s, want %s", tc.expr, got, tc.want)
		}
	}
}

func TestUsersFileStrictErrors(t *testing.T) {
	h := policyHash(t, "pw")
	hl := `hash = "` + h + `"`
	for _, tc := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"unknown key", "[user.alice]\n" + hl + "\ncolour = \"red\"\n", 3, `unknown key "colour"`},
		{"wrong type", "[user.alice]\n" + hl + "\n\ndisabled = \"yes\"\n", 4, "want true or false"},
		{"string wanted", "[user.alice]\n" + hl + "\nbackend = 7\n", 3, "want a string"},
		{"unknown top-level key", "# users\nversion = 1\n[user.alice]\n" + hl + "\n", 2, `unknown top-level key "version"`},
		{"missing hash", "[user.a]\n" + hl + "\n\n[user.bob]\nbackend = \"x\"\n", 4, "has no hash"},
		{"bad ID", "[user.\"a b\"]\n" + hl + "\n", 1, "may hold only"},
		{"ID leading dash", "[user.-x]\n" + hl + "\n", 1, "must start with"},
		{"local date-time", "[user.a]\n" + hl + "\nexpires = 2027-01-01T00:00:00\n", 3, "time-zone offset"},
		{"bad hash", "[user.a]\nhash = \"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n", 2, "not argon2id"},
		{"bad callback", "[user.a]\n" + hl + "\ncallback = \"telnet://user:pw@h:23\"\n", 3, "credentials"},
		{"callback without port", "[user.a]\n" + hl + "\ncallback = \"telnet://h\"\n", 3, "host:port"},
		{"bad backend", "[user.a]\n" + hl + "\nbackend = \"a b\"\n", 3, "backend name"},
		{"subtable", "[user.a]\n" + hl + "\n[user.a.extra]\nx = 1\n", 3, `unknown key "extra"`},
		{"user not a table", "user = 3\n", 1, "must be a table"},
		{"array of tables", "[[user]]\nid = \"a\"\n", 1, "must be a table"},
		{"account not a table", "[user]\nalice = 3\n", 2, "must be a table"},
		{"duplicate table", "[user.a]\n" + hl + "\n[user.a]\n" + hl + "\n", 3, "already been defined"},
		{"syntax", "[user.a]\n" + hl + "\nbackend = \"x\n", 3, ""},
		// The decoder puts an error at a line end on the next line.
		{"unclosed header", "# users\n[user.a\n" + hl + "\n", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUsers([]byte(tc.text))
			var fe *UsersFileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrUsersFile) {
				t.Fatalf("got %v, want a *UsersFileError", err)
			}
			if fe.Problems[0].Line != tc.line {
				t.Errorf("line %d, want %d: %v", fe.Problems[0].Line, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "auth: ") {
				t.Errorf("error %q does not start with auth: or lacks %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf(":%d: ", tc.line)) {
				t.Errorf("error %q does not name line %d", err, tc.line)
			}
		})
	}
}

func TestUsersFileReportsEveryProblem(t *testing.T) {
	text := "[user.a]\nhash = \"x\"\nfoo = 1\n[user.b]\nbar = 2\n"
	_, err := ParseUsers([]byte(text))
	var fe *UsersFileError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v", err)
	}
	var lines []int
	for _, p := range fe.Problems {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[2 3 4 5]" {
		t.Errorf("problem lines %v, want [2 3 4 5]:\n%v", lines, err)
	}
}

func TestLoadUsersErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadUsers(filepath.Join(dir, "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	p := filepath.Join(dir, "u.toml")
	if err := os.WriteFile(p, []byte("[user.a]\nnope = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadUsers(p)
	if err == nil || !strings.Contains(err.Error(), p+":2: ") {
		t.Errorf("got %v, want the path and line 2", err)
	}
	if u, err := ParseUsers(nil); err != nil || u.Len() != 0 {
		t.Errorf("empty file: %v users, %v", u, err)
	}
}

func TestUsersEdit(t *testing.T) {
	u := policyUsers(t)
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "p")}); !errors.Is(err, ErrUserExists) {
		t.Errorf("Add existing: %v", err)
	}
	if err := u.Add(User{ID: "bob", Hash: "plain"}); !errors.Is(err, ErrBadUser) {
		t.Errorf("Add with bad hash: %v", err)
	}
	if err := u.Add(User{ID: strings.Repeat("x", MaxUserIDLen+1), Hash: policyHash(t, "p")}); !errors.Is(err, ErrBadUser) {
		t.Errorf("Add with long ID: %v", err)
	}
	if err := u.Delete("nobody"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("Delete absent: %v", err)
	}
	if err := u.Update(User{ID: "nobody", Hash: policyHash(t, "p")}); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("Update absent: %v", err)
	}
	if err := u.SetPassword("nobody", "p", policyArgon2); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("SetPassword absent: %v", err)
	}
	old, _ := u.Lookup("alice")
	if err := u.SetPassword("alice", "new one", policyArgon2); err != nil {
		t.Fatal(err)
	}
	now, _ := u.Lookup("alice")
	if now.Hash == old.Hash || now.Backend != "bbs" {
		t.Errorf("SetPassword: hash unchanged or other fields lost: %+v", now)
	}
	if err := u.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Lookup("alice"); ok || u.Len() != 2 {
		t.Errorf("alice still present after Delete")
	}
}

func TestUsersConcurrentUse(t *testing.T) {
	u := policyUsers(t)
	h := policyHash(t, "p")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				id := fmt.Sprintf("u%d-%d", i, j)
				if err := u.Add(User{ID: id, Hash: h}); err != nil {
					t.Error(err)
					return
				}
				if _, ok := u.Lookup(id); !ok {
					t.Errorf("%s missing after Add", id)
				}
				_ = u.List()
				_ = u.Marshal()
			}
		}()
	}
	wg.Wait()
	if u.Len() != 3+8*50 {
		t.Errorf("Len %d", u.Len())
	}
}

func TestUsersReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	first := NewUsers()
	if err := first.Add(User{ID: "alice", Hash: policyHash(t, "one")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(loaded, VerifierConfig{Argon2: policyArgon2, MinFailureTime: time.Nanosecond}, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, "alice", "one", "192.0.2.1:1"); err != nil {
		t.Fatalf("before reload: %v", err)
	}

	// The operator edits the file: alice gets a new password, bob appears.
	if err := loaded.SetPassword("alice", "two", policyArgon2); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Add(User{ID: "bob", Hash: policyHash(t, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Save(path); err != nil {
		t.Fatal(err)
	}
	// Mutating the loaded store is visible at once (same object) ...
	reloaded, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	// ... but a reload swaps in a fresh store atomically.
	v.SetUsers(reloaded)
	if v.Users() != reloaded {
		t.Fatal("SetUsers did not swap the store")
	}
	if _, err := v.Verify(ctx, "alice", "one", "192.0.2.1:1"); err != ErrDenied {
		t.Errorf("old password after reload: %v", err)
	}
	for _, c := range [][2]string{{"alice", "two"}, {"bob", "b"}} {
		if _, err := v.Verify(ctx, c[0], c[1], "192.0.2.1:1"); err != nil {
			t.Errorf("%s after reload: %v", c[0], err)
		}
	}
}

func TestValidCallback(t *testing.T) {
	for _, ok := range []string{"", "telnet://192.0.2.7:2323", "tcp://[2001:db8::1]:23", "ws://host.example:80", "wss://h:443/"} {
		if err := ValidCallback(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"192.0.2.7:23", "telnet://h", "telnet://:23", "telnet://h:0", "telnet://h:70000",
		"telnet://u@h:23", "telnet://h:23/x", "telnet://h:23?q", "telnet://h:23#f", "telnet://h :23", "mailto:x@y"} {
		if err := ValidCallback(bad); !errors.Is(err, ErrBadUser) {
			t.Errorf("%q: got %v, want ErrBadUser", bad, err)
		}
	}
}

// FuzzParseUsers checks that the users-file parser never panics and that
// whatever it accepts survives Marshal and a second parse unchanged.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("[user.alice]\nhash = \"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA\"\n"))
	f.Add([]byte("[user.\"a.b\"]\nhash = \"x\"\nexpires = 2027-01-01\ndisabled = true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUsers(data)
		if err != nil {
			if !errors.Is(err, ErrUsersFile) {
				t.Fatalf("error %v is not ErrUsersFile", err)
			}
			return
		}
		out := u.Marshal()
		u2, err := ParseUsers(out)
		if err != nil {
			t.Fatalf("reparse of\n%s\nfailed: %v", out, err)
		}
		if again := u2.Marshal(); string(again) != string(out) {
			t.Fatalf("Marshal not stable:\n%s\n---\n%s", out, again)
		}
	})
}

// TestLoadUsersFileMode: a users file its group or others may write is
// refused (ErrUsersFilePerm, naming the mode and the fix); one they may
// read loads with one warning; mode 0600 loads without. Save over a
// readable file leaves it 0600. Regression: any mode loaded silently
// (tested with chmod 644 and a reload), though the file holds the
// password hashes.
func TestLoadUsersFileMode(t *testing.T) {
	u := policyUsers(t)
	path := filepath.Join(t.TempDir(), "users.toml")
	if err := u.Save(path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode     os.FileMode
		refused  bool
		warnings int
	}{
		{0o600, false, 0},
		{0o400, false, 0},
		{0o640, false, 1},
		{0o644, false, 1},
		{0o604, false, 1},
		{0o620, true, 0},
		{0o664, true, 0},
		{0o602, true, 0},
		{0o666, true, 0},
	} {
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		got, err := LoadUsers(path)
		if c.refused {
			if !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(err.Error(), fmt.Sprintf("mode %04o", c.mode)) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("mode %04o: %v, want an error wrapping ErrUsersFilePerm naming the mode and chmod 600", c.mode, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("mode %04o: %v", c.mode, err)
			continue
		}
		if w := got.Warnings(); len(w) != c.warnings || (c.warnings > 0 && !strings.Contains(w[0], "chmod 600")) {
			t.Errorf("mode %04o: warnings %q, want %d saying chmod 600", c.mode, w, c.warnings)
		}
		if got.Len() != u.Len() {
			t.Errorf("mode %04o: %d users loaded, want %d", c.mode, got.Len(), u.Len())
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after Save over a 0644 file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if NewUsers().Warnings() != nil {
		t.Error("users not loaded from a file have warnings")
	}
}
