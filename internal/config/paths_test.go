//go:build unix

package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPathsCleaned: state_dir and users_file are absolute and clean
// after Load, so that the state directory auth judges is the one the
// gateway creates and opens. Trial: with l a link to ww/sub,
// "B/good/l/../state" was judged as B/good/state (".." by text) while
// MkdirAll, through the kernel, made B/ww/state.
func TestPathsCleaned(t *testing.T) {
	top := t.TempDir()
	for _, d := range []string{"B/good", "B/ww/sub"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(top, "B/ww/sub"), filepath.Join(top, "B/good/l")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ stateDir, usersFile string }{
		{top + "/B/good/l/../state", top + "/B/good/l/../state/./users.toml"},
		{"B/good/l/../state", "B//good/l/../state/users.toml"}, // relative to the file
	} {
		path := filepath.Join(top, "c.toml")
		data := "state_dir = \"" + tc.stateDir + "\"\nusers_file = \"" + tc.usersFile + "\"\n[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(top, "B/good/state")
		if c.StateDir != want || c.UsersFile != filepath.Join(want, "users.toml") {
			t.Errorf("state_dir %q, users_file %q: got %q and %q, want %q and %q/users.toml", tc.stateDir, tc.usersFile, c.StateDir, c.UsersFile, want, want)
		}
		// What the gateway creates is what was judged.
		if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(top, "B/ww/state")); err == nil {
			t.Errorf("state_dir %q: MkdirAll(%q) made B/ww/state", tc.stateDir, c.StateDir)
		}
	}
}

// TestRelativeConfigPathsAbsolute: a configuration file named by a
// relative path gives absolute state_dir and users_file.
func TestRelativeConfigPathsAbsolute(t *testing.T) {
	c, err := Parse("x.toml", []byte("state_dir = \"s/../state\"\n[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "state"); c.StateDir != want || c.UsersFile != filepath.Join(want, "users.toml") {
		t.Errorf("state_dir, users_file = %q, %q, want %q and %q/users.toml", c.StateDir, c.UsersFile, want, want)
	}
}

// TestBackendDirRelativeToFile: a pty backend's relative dir is taken
// relative to the configuration file, as config.toml.example says of
// every relative path (option trial: "dir = \"sub\"" was taken relative
// to the gateway's working directory, so gateway check, run beside the
// file, passed it, and every call from a gateway started elsewhere
// failed).
func TestBackendDirRelativeToFile(t *testing.T) {
	c, err := Parse("/etc/dialgate/config.toml", []byte(`
[[listener]]
name = "m"
address = "telnet://127.0.0.1:2323"
backend = "door"
[[backend]]
name = "door"
type = "pty"
command = ["/usr/local/bin/door"]
dir = "door/../doors"
[[backend]]
name = "abs"
type = "pty"
command = ["/usr/local/bin/door"]
dir = "/var/lib/door"
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"/etc/dialgate/doors", "/var/lib/door"} {
		if got := c.Backends[i].Dir; got != want {
			t.Errorf("backend %q: dir = %q, want %q", c.Backends[i].Name, got, want)
		}
	}
}
