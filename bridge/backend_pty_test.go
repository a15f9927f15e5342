//go:build unix

package bridge

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
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

// TestPTYSpeedIsLineRate: a pty program on a paced line finds the
// line's rate as its terminal's speed (the fastest a termios can name
// up to it), and one on an unpaced line the system's default. BBS
// trial: it was 38,400 whatever the line_rate, and curses programs
// padded for that (360 NULs in a 640-octet screen at 2,400 bit/s).
func TestPTYSpeedIsLineRate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the terminal's speed is set on Linux only")
	}
	testutil.CheckGoroutines(t)
	stty := testutil.NeedBinary(t, "stty")
	b, err := newPTYBackend(config.Backend{Name: "door", Type: config.BackendPTY, Command: []string{stty, "speed"}, Term: "vt100"})
	if err != nil {
		t.Fatal(err)
	}
	for rate, want := range map[int]string{2400: "2400", 9600: "9600", 33600: "19200", 300: "300", 0: "38400"} {
		c, err := b.Connect(context.Background(), Session{LineRate: rate})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(c)
		c.Close()
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("line_rate %d: stty speed %q, want %s", rate, got, want)
		}
	}
}

// TestReadPastEIO: a read of the master that answers EIO is tried again
// before the terminal counts as closed, so output that comes after a first
// EIO is not lost; EIO repeated ptyEIOReads times ends the reads.
func TestReadPastEIO(t *testing.T) {
	answers := func(script ...string) func([]byte) (int, error) {
		return func(p []byte) (int, error) {
			if len(script) == 0 {
				t.Fatal("read again after the end")
			}
			a := script[0]
			script = script[1:]
			if a == "EIO" {
				return 0, &os.PathError{Op: "read", Path: "/dev/ptmx", Err: syscall.EIO}
			}
			return copy(p, a), nil
		}
	}
	buf := make([]byte, 64)
	n, err := readPastEIO(answers("EIO", "GOODBYE\r\n"), buf)
	if err != nil || string(buf[:n]) != "GOODBYE\r\n" {
		t.Errorf("EIO, then data: read %q, %v; want the data", buf[:n], err)
	}
	n, err = readPastEIO(answers("EIO", "EIO", "bye"), buf)
	if err != nil || string(buf[:n]) != "bye" {
		t.Errorf("EIO twice, then data: read %q, %v; want the data", buf[:n], err)
	}
	if _, err := readPastEIO(answers("EIO", "EIO", "EIO"), buf); !errors.Is(err, syscall.EIO) {
		t.Errorf("EIO %d times: %v; want EIO", ptyEIOReads, err)
	}
}
