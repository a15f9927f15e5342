package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStateDirOnKernelFS: a state_dir under /proc or /sys fails the
// check, as serve would fail to make it, whoever runs it (operator trial:
// as root the check said ok).
func TestCheckStateDirOnKernelFS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for _, c := range []struct{ dir, fs string }{{"/proc/dialgate", "proc"}, {"/sys/dialgate", "sysfs"}} {
		if _, err := os.Stat(filepath.Dir(c.dir)); err != nil {
			t.Skipf("no %s here", filepath.Dir(c.dir))
		}
		dir := t.TempDir()
		cfg := filepath.Join(dir, "gateway.toml")
		text := "state_dir = \"" + c.dir + "\"\nusers_file = \"" + filepath.Join(dir, "users.toml") + "\"\n[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:0\"\n"
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := checkBinary(t, "", cfg)
		if want := "is on " + c.fs + ", a kernel file system"; code != exitFailure || !strings.Contains(stderr.String(), want) {
			t.Errorf("state_dir %s: exit %d, stderr:\n%s\nwant exit %d and %q", c.dir, code, stderr, exitFailure, want)
		}
	}
}
