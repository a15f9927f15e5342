package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/auth"
)

func keygenCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := keygenMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestKeygenCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	code, out, errs := keygenCmd("--state-dir", dir)
	if code != exitOK {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	key, err := auth.LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "fingerprint: "+key.Fingerprint()+"\n") {
		t.Errorf("output does not show the key's fingerprint %s:\n%s", key.Fingerprint(), out)
	}
	if fi, err := os.Stat(filepath.Join(dir, auth.HostKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", err, fi)
	}
	before, _ := os.ReadFile(filepath.Join(dir, auth.HostKeyFile))

	code, _, errs = keygenCmd("--state-dir", dir)
	if code != exitFailure || !strings.Contains(errs, "--force") || !strings.Contains(errs, key.Fingerprint()) {
		t.Errorf("second keygen: %d %q", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, auth.HostKeyFile)); !bytes.Equal(before, after) {
		t.Error("keygen without --force replaced the key")
	}

	code, out, errs = keygenCmd("--state-dir", dir, "--force")
	if code != exitOK {
		t.Fatalf("keygen --force: %d %s", code, errs)
	}
	key2, err := auth.LoadHostKey(dir)
	if err != nil || bytes.Equal(key2.Public, key.Public) || !strings.Contains(out, key2.Fingerprint()) {
		t.Errorf("--force did not replace the key: %v\n%s", err, out)
	}

	if code, _, _ := keygenCmd("--state-dir", dir, "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestKeygenDefaultStateDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	if code, _, errs := keygenCmd(); code != exitOK {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	if _, err := auth.LoadHostKey(filepath.Join(xdg, "dialgate")); err != nil {
		t.Errorf("key not in $XDG_STATE_HOME/dialgate: %v", err)
	}
}
