package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/transport/tcp"
)

// TestDialInterruptOnTerminal: Ctrl-C on the terminal abandons a call
// that is not connected yet (exit 13): at the user and password prompts,
// which come once the daemon has answered with V.42 (the call is hung
// up: the daemon records it within seconds, not at its handshake
// deadline), and during the V.42 handshake with a gateway that never
// answers; the terminal gets its echo back. (In raw mode, once
// connected, Ctrl-C goes to the call.)
func TestDialInterruptOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	silent := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		io.Copy(io.Discard, line) // never answers; ends when dial hangs up
	})
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	v42 := "telnet://" + g.addr
	calls := 0
	for _, c := range []struct {
		name   string
		env    []string
		args   []string
		prompt string // on the screen before Ctrl-C
	}{
		{"user prompt", []string{"DIALGATE_USER=", "DIALGATE_PASSWORD="}, []string{"--tofu", v42}, "User: "},
		{"password prompt", []string{"DIALGATE_PASSWORD="}, []string{"--user", "alice", "--tofu", v42}, "Password for alice: "},
		{"handshake", []string{"DIALGATE_PASSWORD=pw"}, []string{"--user", "alice", "--v42", "lapm", silent}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"dial", "--known-hosts", filepath.Join(t.TempDir(), "kh")}, c.args...)
			cmd := exec.Command(gatewayBinary(t), args...)
			cmd.Env = append(os.Environ(), c.env...)
			ptmx, screen, done := startOnPty(t, cmd, 80, 24)
			if c.prompt != "" {
				waitFor(t, func() bool { return strings.HasSuffix(screen.String(), c.prompt) })
			} else {
				time.Sleep(300 * time.Millisecond) // well into the handshake
			}
			io.WriteString(ptmx, "\x03")
			interrupted(t, ptmx, screen, done, exitNoCarrier, "call abandoned", unix.ECHO|unix.ICANON)
			if c.prompt != "" {
				calls++
				if r := g.waitRecords(calls)[calls-1]; r.Result == "completed" || r.User != "" {
					t.Errorf("record of the abandoned call: %+v", r)
				}
			}
		})
	}
}

// interrupted checks what Ctrl-C (already typed on ptmx) did to a command
// started with startOnPty: it ended with exit code want, the screen shows
// msg, and the terminal has the lflag bits back (echo, line mode).
func interrupted(t *testing.T, ptmx *os.File, screen *dialBuffer, done <-chan error, want int, msg string, lflag uint32) {
	t.Helper()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != want {
			t.Fatalf("ended with %v, want exit %d; screen:\n%s", err, want, screen)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Ctrl-C did not end the command; screen:\n%s", screen)
	}
	waitFor(t, func() bool { return strings.Contains(screen.String(), msg) })
	tio, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&lflag != lflag {
		t.Errorf("the terminal was left without echo or line mode (lflag %#x, want %#x set)", tio.Lflag, lflag)
	}
}
