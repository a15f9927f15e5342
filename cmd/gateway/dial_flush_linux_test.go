package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/term"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestDialPromptEndFlushesTyping: when the gateway hangs up while a
// password is half typed (no Enter yet), dial ends and leaves nothing of
// it in the terminal's input: the shell that reads the terminal next
// would have had it on its command line (review).
func TestDialPromptEndFlushesTyping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect", handshakeDeadline: "2s"})
	ptmx, tty, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pty: "+err.Error())
	}
	defer ptmx.Close()
	defer tty.Close() // held open, as the user's shell holds its terminal
	cmd := exec.Command(gatewayBinary(t), "dial", "--user", "bob", "--tofu", "--known-hosts", filepath.Join(g.dir, "kh"), "telnet://"+g.addr)
	cmd.Env = append(os.Environ(), "DIALGATE_PASSWORD=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	screen := &dialBuffer{}
	go io.Copy(screen, ptmx)
	shown := screen.String
	waitFor(t, func() bool { return strings.HasSuffix(shown(), "Password for bob: ") })
	io.WriteString(ptmx, "pw-b") // no Enter
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	select {
	case err := <-ended:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitProtocol {
			t.Fatalf("dial ended with %v, want exit %d; screen:\n%s", err, exitProtocol, shown())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("dial did not end; screen:\n%s", shown())
	}
	// Read the terminal as the next program would, without waiting for
	// a newline.
	restore, err := term.MakeRaw(tty)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	// (The slave of pty.Open is not pollable by the runtime: poll(2).)
	fds := []unix.PollFd{{Fd: int32(tty.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 300); err != nil {
		t.Fatal(err)
	} else if n > 0 {
		b := make([]byte, 64)
		n, _ := tty.Read(b)
		t.Errorf("the terminal still holds %q typed at the prompt", b[:n])
	}
}
