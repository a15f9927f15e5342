//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestMinicomDialsThroughModem has a terminal program none of us wrote,
// Debian's minicom, drive `gateway modem`: its runscript types AT, dials
// the telnet BBS stand-in and waits for the banner, then types a line the
// BBS must receive. (runscript only sees complete lines, so the script does
// not wait for the BBS's echo of a line that ends in CR.)
func TestMinicomDialsThroughModem(t *testing.T) {
	minicom := testutil.NeedBinary(t, "minicom")
	testutil.NeedBinary(t, "runscript")
	testutil.CheckGoroutines(t)
	bbs := startBBS(t)
	m := startModemCmd(t, modemFlags{})

	dir := t.TempDir()
	script := filepath.Join(dir, "dial.runscript")
	if err := os.WriteFile(script, []byte(`send "ATE1V1"
expect {
  "OK"
  timeout 10 goto failed
}
send "ATDT`+bbs.addr()+`"
expect {
  "CONNECT"
  timeout 10 goto failed
}
expect {
  "Welcome to the test BBS"
  timeout 10 goto failed
}
send "typed by minicom"
exit 0
failed:
send "SCRIPT FAILED"
exit 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "capture.txt")
	cmd := exec.Command(minicom, "-D", m.link, "-b", "115200", "-o", "-S", script, "-C", capture)
	cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=vt100", "LANG=C")
	cmd.Dir = dir
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	_ = newPtyExpect(ptmx) // drain the screen
	defer func() {
		_ = cmd.Process.Kill() // no-op once it exited
		ptmx.Close()
	}()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(capture)
			t.Logf("capture: %q", b)
			bbsEndedAfterHangup(t, bbs, cmd)
			select {
			case got := <-bbs.ended:
				t.Logf("BBS got %q", got)
			case <-time.After(3 * time.Second):
			}
		}
	}()
	// The script types the line only after it saw CONNECT and the banner
	// (a failed script types "SCRIPT FAILED" instead), so the BBS receiving
	// it proves the dial. The screen is not parsed: minicom redraws lazily.
	bbs.waitFor(t, "typed by minicom\r")
	got := <-bbsEndedAfterHangup(t, bbs, cmd)
	if !bytes.Contains(got, []byte("typed by minicom\r")) {
		t.Fatalf("BBS received %q", got)
	}
	if b, err := os.ReadFile(capture); err != nil || !bytes.Contains(b, []byte("Welcome to the test BBS")) {
		t.Fatalf("minicom capture %q %v", b, err)
	}
}

// bbsEndedAfterHangup ends minicom (closing the pty drops DTR, so the
// modem hangs up) and returns what the BBS received on that call.
func bbsEndedAfterHangup(t *testing.T, bbs *testBBS, cmd *exec.Cmd) <-chan []byte {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM) // minicom flushes its capture file
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return bbs.ended
}
