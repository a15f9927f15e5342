//go:build unix

package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

// TestControlSocketModeWhateverUmask: the socket is 0600 from its
// creation even under a permissive umask (bind(2) applies the umask).
func TestControlSocketModeWhateverUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	cs, err := listenControl(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, controlSocketName))
	cs.close()
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v (%v)", fi.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(dir, controlSocketName)); !os.IsNotExist(err) {
		t.Errorf("socket after close: %v", err)
	}
	// Before the fix, plain net.Listen under this umask made it 0777.
	ln, err := net.Listen("unix", filepath.Join(dir, "plain.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Lstat(filepath.Join(dir, "plain.sock")); err != nil || fi.Mode().Perm() == 0o600 {
		t.Errorf("plain listen gave %v: the test does not test the umask", fi.Mode())
	}
}

// TestControlSocketCloseKeepsAnothers: a gateway whose socket was
// replaced (another gateway started at the same moment and won the
// state_dir's lock) leaves the other's socket when it stops.
func TestControlSocketCloseKeepsAnothers(t *testing.T) {
	dir := t.TempDir()
	cs, err := listenControl(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, controlSocketName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cs.close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the other gateway's socket: %v", err)
	}
	// And its own it removes.
	other.Close()
	cs, err = listenControl(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cs.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("own socket after close: %v", err)
	}
}
