//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestServeLogFileLogrotate: with [log] file the log goes to that file
// (named relative to the configuration), not to stderr; rotated by the
// real logrotate as docs/operators.md shows (`create`, then SIGHUP in
// postrotate), the lines before the signal are in the rotated file and
// every later one in the new file, which the gateway opened by its name.
func TestServeLogFileLogrotate(t *testing.T) {
	lr := testutil.NeedBinary(t, "logrotate")
	g := newGateway(t, gwOpts{logFile: "gateway.log"})
	if strings.Contains(g.log.String(), `"msg":"answering"`) {
		t.Fatalf("the log went to stderr too:\n%s", g.log.String())
	}
	st, err := os.Stat(g.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m&^0o640 != 0 {
		t.Errorf("log file mode %04o, want at most 0640", m)
	}
	conf := filepath.Join(g.dir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`%s {
    rotate 4
    create 0640
    postrotate
        kill -HUP %d
    endscript
}
`, g.logFile, g.cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	g.aliceCall(1)
	g.waitRecords(1)
	if out, err := exec.Command(lr, "-f", "-s", filepath.Join(g.dir, "logrotate.status"), conf).CombinedOutput(); err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
	const reopened = `"msg":"log file reopened (it was rotated or removed)"`
	g.waitLog(reopened)
	g.aliceCall(2)
	g.waitRecords(2)
	g.waitLog(`"session":2`)
	rotated, err := os.ReadFile(g.logFile + ".1")
	if err != nil {
		t.Fatal(err)
	}
	current, err := os.ReadFile(g.logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, text, in, notIn string
	}{
		{"rotated file", string(rotated), `"session":1`, `"session":2`},
		{"rotated file", string(rotated), `"msg":"answering"`, reopened},
		{"new file", string(current), reopened, `"session":1`},
		{"new file", string(current), `"session":2`, `"msg":"answering"`},
	} {
		if !strings.Contains(c.text, c.in) || strings.Contains(c.text, c.notIn) {
			t.Errorf("%s: want %s and not %s in:\n%s", c.what, c.in, c.notIn, c.text)
		}
	}
	// A second reload with nothing rotated opens nothing.
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLogCount(`"msg":"reloaded (SIGHUP)"`, 2)
	g.stop()
	current, _ = os.ReadFile(g.logFile)
	if n := strings.Count(string(current), reopened); n != 1 {
		t.Errorf("%d %s in the new file after a reload with nothing rotated, want 1:\n%s", n, reopened, current)
	}
	if !strings.Contains(string(current), `"msg":"stopped"`) {
		t.Errorf("the log file does not end with the stop:\n%s", current)
	}
}

// TestServeLogFileCannotOpen: a [log] file in a directory that does not
// exist stops `gateway serve` at start with one line on stderr that says
// how to make it, and `gateway check` fails the same way.
func TestServeLogFileCannotOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "log", "gateway.log")
	cfg := writeTestConfig(t, dir, fmt.Sprintf("state_dir = %q\n[log]\nfile = %q\n[[listener]]\nname = \"modem\"\naddress = \"telnet://%s\"\n", filepath.Join(dir, "state"), missing, freePort(t)))
	for _, args := range [][]string{{"serve", "--config", cfg}, {"check", cfg}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, gatewayBinary(t), args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Fatalf("%s ended with %v, want exit %d; stderr:\n%s", args[0], err, exitFailure, stderr.String())
		}
		want := "install -d -m 0750 -o " + currentLogin() + " " + filepath.Dir(missing)
		if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), missing) {
			t.Errorf("gateway %s: stderr:\n%s\nwant the file and %q", args[0], stderr.String(), want)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("the log directory was created")
	}
	// A FIFO is refused, not opened (which would block until a reader
	// came).
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := openLogFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("openLogFile(FIFO) = %v, want not a regular file", err)
	}
	if why := logFileProblem(fifo, dir); why != "not a regular file" {
		t.Errorf("logFileProblem(FIFO) = %q", why)
	}
}

// TestLogFileTakesDirOwner: a log file root creates (or finds its own) in
// a directory of the gateway's user becomes that user's, so that a start
// as root by mistake does not keep the gateway's later starts out
// (review).
func TestLogFileTakesDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	if err := os.Chown(dir, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gateway.log")
	lf, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lf.Close()
	if uid, gid, _ := fileOwner(path); uid != 4242 || gid != 4343 {
		t.Errorf("log file owner %d:%d, want the directory's 4242:4343", uid, gid)
	}
}
