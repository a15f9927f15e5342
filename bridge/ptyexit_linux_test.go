package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// The pty master is on Go's poller on Linux only (backend_pty_linux.go):
// only there can a read of it be woken by a deadline.

// TestPTYEndsWhenProgramExitsLeavingJob: the program exits while a job
// it started in a process group of its own (a shell's `cmd &` with job
// control, as an interactive bash runs it) still holds the terminal
// open. The session ends with the program, as under telnetd or sshd.
// Regression (telnet-clients trial): `sleep 300 & exit` in a bash
// backend left the caller on a dead line, without a prompt, until they
// hung up themselves.
func TestPTYEndsWhenProgramExitsLeavingJob(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	testutil.NeedBinary(t, "sleep")
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`set -m; sleep 30 & echo $! > ` + pidFile + `; echo started; exit 0`}})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"d": "pw"}})
	line, done := simCall(t, s)
	defer func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	login(t, line, "d", "pw")
	expect(t, line, "started")
	if d, ok := line.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(time.Time{}) // expect's
	}
	ended := make(chan string, 1)
	go func() { ended <- readAll(line) }()
	select {
	case out := <-ended:
		if !strings.Contains(out, "NO CARRIER (the service ended the session)") {
			t.Errorf("caller saw %q", out)
		}
	case <-time.After(10 * time.Second):
		line.Close()
		<-ended
		<-done
		t.Fatal("the session outlived its program by 10 s (a job of it held the terminal)")
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultCompleted || r[0].Reason != "backend closed" {
		t.Errorf("records %+v", r)
	}
}
