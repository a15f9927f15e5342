package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
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

	code, out, errs = keygenCmd("--state-dir", dir)
	if code != exitOK || !strings.Contains(errs, "--force") || !strings.Contains(out, "kept host key ") || !strings.Contains(out, "fingerprint: "+key.Fingerprint()+"\n") {
		t.Errorf("second keygen: %d %q %q", code, out, errs)
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

	if strings.Contains(errs, "still serves the old key") {
		t.Errorf("--force with no gateway running warned: %q", errs)
	}
	// With a gateway running on the directory (its control socket
	// answers), --force says the new key is not served yet.
	if ln, err := net.Listen("unix", filepath.Join(dir, controlSocketName)); err != nil {
		t.Logf("no unix socket here: %v", err)
	} else {
		code, _, errs = keygenCmd("--state-dir", dir, "--force")
		ln.Close()
		if code != exitOK || !strings.Contains(errs, "a gateway is running with this state directory and still serves the old key") {
			t.Errorf("keygen --force beside a running gateway: %d %q", code, errs)
		}
	}

	if code, _, _ := keygenCmd("--state-dir", dir, "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}

	// A kept key that the gateway would refuse is a failure, not "kept".
	if unixFileModes {
		if err := os.Chmod(filepath.Join(dir, auth.HostKeyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := keygenCmd("--state-dir", dir); code != exitFailure || out != "" || !strings.Contains(errs, "cannot be used") {
			t.Errorf("keygen over a key others can read: %d %q %q", code, out, errs)
		}
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

// TestKeygenStateDirDotDot: --state-dir is cleaned as the configuration's
// state_dir is, so ".." after a symbolic link means the same directory
// to every step. Before, MkdirAll went where the kernel resolves it (the
// link's side) and the key file was opened where the text leads, and
// keygen failed after making a stray directory.
func TestKeygenStateDirDotDot(t *testing.T) {
	top := t.TempDir()
	for _, d := range []string{"good", "other/sub"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(top, "other", "sub"), filepath.Join(top, "good", "l")); err != nil {
		t.Fatal(err)
	}
	// Written out: filepath.Join would clean it already.
	code, _, errs := keygenCmd("--state-dir", top+"/good/l/../ks")
	if code != exitOK {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	if _, err := auth.LoadHostKey(filepath.Join(top, "good", "ks")); err != nil {
		t.Errorf("the key is not where the cleaned path leads: %v", err)
	}
	if _, err := os.Stat(filepath.Join(top, "other", "ks")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a directory was made where the kernel resolves the path: %v", err)
	}
}

// TestKeygenAsRootForServiceUser: root making the key in a state
// directory that belongs to the gateway's service user is told to run
// keygen as that user, not to chown the directory to root (which would
// lock the service out). Needs root.
func TestKeygenAsRootForServiceUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	code, _, errs := keygenCmd("--state-dir", dir)
	if code != exitFailure || !strings.Contains(errs, "create the key as that user, not as root: runuser -u ") || !strings.Contains(errs, " -- gateway keygen --state-dir "+dir) || strings.Contains(errs, "chown root") {
		t.Errorf("keygen as root in a service user's directory: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, auth.HostKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key was made: %v", err)
	}
}
