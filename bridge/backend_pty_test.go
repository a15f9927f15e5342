//go:build unix

package bridge

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPTYMissingDirNamed: a pty backend whose dir is missing fails its
// calls with an error that names the directory. Option trial: the
// record said "fork/exec /path/to/program: no such file or directory",
// which sent the operator looking for a program that was there.
func TestPTYMissingDirNamed(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	dir := filepath.Join(t.TempDir(), "missing")
	b, err := newPTYBackend(config.Backend{Name: "door", Type: config.BackendPTY, Command: []string{sh, "-c", "exit 0"}, Dir: dir, Term: "vt100"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Connect(context.Background(), Session{})
	if err == nil {
		c.Close()
		t.Fatal("Connect succeeded in a missing dir")
	}
	if !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("error %v does not wrap ErrBackendUnavailable", err)
	}
	if !strings.Contains(err.Error(), "dir "+dir) {
		t.Errorf("error %q does not name the missing dir %s", err, dir)
	}
}
