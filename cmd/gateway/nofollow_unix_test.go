//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// plantedTarget is a file standing for /etc/shadow, and the name of a
// symbolic link and a hard link to it in dir, as the gateway's user
// could plant them in a directory it owns.
func plantedTarget(t *testing.T, dir, name string) (target string, content []byte) {
	t.Helper()
	target = filepath.Join(t.TempDir(), "shadow")
	content = []byte("root:$6$secret:19000:0:99999:7:::\n")
	if err := os.WriteFile(target, content, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return target, content
}

// TestUsersLockRefusesSymlink: the users file's lock is never opened
// through a symbolic link. Run as root (gateway user as root, a
// supported way), following one truncated the link's target and gave it
// to the users file's owner, the gateway's user, who could plant the
// link in its state directory: a link to /etc/shadow made it theirs.
func TestUsersLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.toml")
	target, content := plantedTarget(t, dir, "users.toml.lock")
	unlock, err := lockUsersFile(users, 0)
	if err == nil {
		unlock()
		t.Error("the lock was taken through a symbolic link")
	}
	if got, _ := os.ReadFile(target); string(got) != string(content) {
		t.Errorf("the link's target was changed: %q", got)
	}
	// A hard link to another file is refused too.
	os.Remove(filepath.Join(dir, "users.toml.lock"))
	if err := os.Link(target, filepath.Join(dir, "users.toml.lock")); err != nil {
		t.Skipf("no hard link: %v", err)
	}
	if unlock, err := lockUsersFile(users, 0); err == nil {
		unlock()
		t.Error("the lock was taken on a file with two names")
	}
	if got, _ := os.ReadFile(target); string(got) != string(content) {
		t.Errorf("the hard link's target was changed: %q", got)
	}
}

// TestLogFileRefusesSymlink: [log] file is never opened through a
// symbolic link in its last name: a gateway started as root by mistake
// gave the root-owned file it opened to the log directory's owner, and
// that owner, the gateway's user, could plant a link there to
// /etc/shadow.
func TestLogFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target, content := plantedTarget(t, dir, "gateway.log")
	if lf, err := openLogFile(filepath.Join(dir, "gateway.log")); err == nil {
		lf.Close()
		t.Error("the log file was opened through a symbolic link")
	}
	if got, _ := os.ReadFile(target); string(got) != string(content) {
		t.Errorf("the link's target was changed: %q", got)
	}
	// A log file of its own still opens, and again after a rotation.
	lf, err := openLogFile(filepath.Join(dir, "own.log"))
	if err != nil {
		t.Fatal(err)
	}
	lf.Close()
}
