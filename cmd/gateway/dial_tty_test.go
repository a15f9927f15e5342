package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// TestDialOnTerminal runs the binary on a pty: raw mode (keys reach the
// gateway without a newline), the window size announced by telnet NAWS at
// the start and again after a resize (SIGWINCH), and ~. hanging up.
func TestDialOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	lines := make(chan *tcp.Line, 1)
	release := make(chan struct{})
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		lines <- line
		<-release // the test reads the line
	})
	defer close(release)
	cmd := exec.Command(gatewayBinary(t), "dial", "--text", "--quiet", addr)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		testutil.Missing(t, "no pty: "+err.Error())
	}
	defer ptmx.Close()
	go io.Copy(io.Discard, ptmx)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()

	var line *tcp.Line
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("no call arrived")
	}
	// The telnet negotiation (NAWS) is processed as the line is read.
	got := &dialBuffer{}
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(got, line)
		readDone <- err
	}()
	waitWindow := func(want transport.WindowSize) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); line.Info().Window != want; {
			if time.Now().After(deadline) {
				t.Fatalf("window %+v, want %+v", line.Info().Window, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitWindow(transport.WindowSize{Cols: 100, Rows: 30})
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 132, Rows: 43}); err != nil {
		t.Fatal(err)
	}
	waitWindow(transport.WindowSize{Cols: 132, Rows: 43})

	// Raw mode: a key without a newline arrives at once.
	line.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(ptmx, "x")
	waitFor(t, func() bool { return got.String() == "x" })
	io.WriteString(ptmx, "\r~.")
	if err := <-readDone; err != nil || got.String() != "x\r" {
		t.Errorf("the gateway received %q (%v), want x CR", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dial exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("~. did not hang up")
	}
}

// TestDialPromptsOnTerminal: without credentials in flags or the
// environment, dial asks on the terminal (the password without echo),
// then runs the full V.42 path against the daemon; ~. hangs up.
func TestDialPromptsOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	cmd := exec.Command(gatewayBinary(t), "dial", "--tofu", "--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
	cmd.Env = append(os.Environ(), "DIALGATE_USER=", "DIALGATE_PASSWORD=")
	ptmx, screen, done := startOnPty(t, cmd, 80, 24)
	waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "User: ") })
	io.WriteString(ptmx, "bob\n")
	waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "Password for bob: ") })
	io.WriteString(ptmx, "pw-bob\n")
	waitFor(t, func() bool { return strings.Contains(screen.String(), "V.42 with Access Security") })
	io.WriteString(ptmx, "typed\r")
	waitFor(t, func() bool { return strings.Count(screen.String(), "typed") >= 1 })
	io.WriteString(ptmx, "~.")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dial exited with %v; screen:\n%s", err, screen)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("~. did not hang up; screen:\n%s", screen)
	}
	if strings.Contains(screen.String(), "pw-bob") {
		t.Errorf("the password was echoed:\n%s", screen)
	}
}

// startOnPty starts cmd on a new pty of cols x rows and returns the pty's
// controlling side, what it shows (collected as it comes), and the
// command's end; the test's cleanup kills a command still running. On a
// machine without ptys the test is marked missing (skipped locally,
// failed under CI=true).
func startOnPty(t *testing.T, cmd *exec.Cmd, cols, rows uint16) (ptmx *os.File, screen *dialBuffer, done <-chan error) {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: rows})
	if err != nil {
		testutil.Missing(t, "no pty: "+err.Error())
	}
	screen = &dialBuffer{}
	go io.Copy(screen, ptmx)
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-ended
		}
		ptmx.Close()
	})
	return ptmx, screen, ended
}
