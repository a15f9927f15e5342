package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/auth"
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
	addr, nextLine := heldLineGateway(t)
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

	line := nextLine()
	// The telnet negotiation (NAWS) is processed as the line is read.
	got := &dialBuffer{}
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(got, line)
		readDone <- err
	}()
	waitWindow(t, line, transport.WindowSize{Cols: 100, Rows: 30})
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 132, Rows: 43}); err != nil {
		t.Fatal(err)
	}
	waitWindow(t, line, transport.WindowSize{Cols: 132, Rows: 43})

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
// environment, dial asks on the terminal (the password without echo) once
// the daemon has answered with V.42 and proved its host key (with --tofu
// on a new host, the notice that it was recorded comes before the
// prompt), saying how long the gateway waits for the login, then runs
// the full V.42 path against the daemon; ~. hangs up. A call that nobody
// answers asks nothing: no carrier (exit 13).
func TestDialPromptsOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	env := append(os.Environ(), "DIALGATE_USER=", "DIALGATE_PASSWORD=")
	cmd := exec.Command(gatewayBinary(t), "dial", "--tofu", "--known-hosts", filepath.Join(t.TempDir(), "kh"), freeAddr(t))
	cmd.Env = env
	_, screen, done := startOnPty(t, cmd, 80, 24)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitNoCarrier || !strings.Contains(screen.String(), "nobody answers") {
			t.Fatalf("nobody answering: %v, want exit %d; screen:\n%s", err, exitNoCarrier, screen)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("dial to a closed port did not end; screen:\n%s", screen)
	}
	if strings.Contains(screen.String(), "User") || strings.Contains(screen.String(), "assword") {
		t.Errorf("prompted for a call nobody answered:\n%s", screen)
	}

	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	cmd = exec.Command(gatewayBinary(t), "dial", "--tofu", "--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
	cmd.Env = env
	ptmx, screen, done := startOnPty(t, cmd, 80, 24)
	waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "User: ") })
	if !regexp.MustCompile(`answers with V.42 and waits about [1-6]?[0-9]s for the login`).MatchString(screen.String()) {
		t.Errorf("the prompt does not say how long the gateway waits:\n%s", screen)
	}
	if notice := strings.Index(screen.String(), "was not known"); notice < 0 || notice > strings.Index(screen.String(), "User: ") {
		t.Errorf("the new host's notice does not come before the prompt:\n%s", screen)
	}
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

// TestDialChangedHostKeyBeforePrompt: a gateway whose host key is not
// the one recorded for it is refused (exit 12) before any prompt, with
// --tofu too: the user is not asked for the password an impostor would
// get, and the daemon sees no login.
func TestDialChangedHostKeyBeforePrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	kh, err := auth.LoadKnownHosts(filepath.Join(t.TempDir(), "kh"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.GenerateHostKey(nil)
	if err := kh.Pin(g.addr, other.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"user and password prompts", []string{"DIALGATE_USER=", "DIALGATE_PASSWORD="}, nil},
		{"password prompt, --tofu", []string{"DIALGATE_PASSWORD="}, []string{"--user", "bob", "--tofu"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(gatewayBinary(t), append(append([]string{"dial"}, c.args...), "--known-hosts", kh.Path(), "telnet://"+g.addr)...)
			cmd.Env = append(os.Environ(), c.env...)
			_, screen, done := startOnPty(t, cmd, 80, 24)
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitHostKey || !strings.Contains(screen.String(), "HOST IDENTIFICATION HAS CHANGED") {
					t.Fatalf("ended with %v, want exit %d and the warning; screen:\n%s", err, exitHostKey, screen)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("dial did not end; screen:\n%s", screen)
			}
			if s := screen.String(); strings.Contains(s, "User:") || strings.Contains(s, "assword for") || strings.Contains(s, "waits about") {
				t.Errorf("prompted for a gateway whose key changed:\n%s", s)
			}
			if r := g.waitRecords(i + 1)[i]; r.Result == "completed" || r.User != "" {
				t.Errorf("record of the refused call: %+v", r)
			}
		})
	}
}

// startOnPty starts cmd on a new pty of cols x rows and returns the pty's
// controlling side, what it shows (collected as it comes), and the
// command's end. done is sent only once the command has exited and the
// pty has been drained (EIO on the controlling side once every copy of
// the terminal is closed), so a test that received from done reads the
// whole screen: a check that something is on it, or that a prompt is
// not, sees everything the command wrote. The test's cleanup kills a
// command still running. On a machine without ptys the test is marked
// missing (skipped locally, failed under CI=true).
func startOnPty(t *testing.T, cmd *exec.Cmd, cols, rows uint16) (ptmx *os.File, screen *dialBuffer, done <-chan error) {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: rows})
	if err != nil {
		testutil.Missing(t, "no pty: "+err.Error())
	}
	screen = &dialBuffer{}
	drained := make(chan struct{})
	go func() {
		io.Copy(screen, ptmx) // ends with EIO once the terminal is closed
		close(drained)
	}()
	ended := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		err := cmd.Wait()
		<-drained
		ended <- err
		close(finished)
	}()
	t.Cleanup(func() {
		select {
		case <-finished:
		default:
			cmd.Process.Kill()
		}
		// Closing unblocks the copy should something else still hold
		// the terminal open.
		ptmx.Close()
		<-finished
	})
	return ptmx, screen, ended
}

// TestDialPromptOutlastsGateway: when the gateway's handshake_deadline
// (2 s here) runs out while dial's password prompt waits, the prompt
// ends without a key typed: dial says that the gateway stopped waiting
// during the prompts (exit 14), and no password is sent.
func TestDialPromptOutlastsGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect", handshakeDeadline: "2s"})

	cmd := exec.Command(gatewayBinary(t), "dial", "--user", "bob", "--tofu", "--known-hosts", filepath.Join(g.dir, "kh"), "telnet://"+g.addr)
	cmd.Env = append(os.Environ(), "DIALGATE_PASSWORD=")
	_, screen, done := startOnPty(t, cmd, 80, 24)
	waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "Password for bob: ") })
	if r := g.waitRecords(1)[0]; r.Reason != "login timed out" {
		t.Fatalf("record %+v, want the login timed out", r)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitProtocol || !strings.Contains(screen.String(), "the gateway hung up during the login") {
			t.Fatalf("ended with %v, want exit %d; screen:\n%s", err, exitProtocol, screen)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("dial did not end; screen:\n%s", screen)
	}
	if strings.Contains(g.log.String(), `"user":"bob"`) {
		t.Errorf("the gateway saw a login of bob:\n%s", g.log)
	}
}

// TestDialWindowWithStdoutPiped: with stdin a terminal and stdout a pipe
// (gateway dial ... | tee log), the window size is the terminal's, at the
// start and after a resize, as ssh reads it from stdin. Power-user trial:
// the gateway's bash said "stty size" 24 80 on a 90x25 terminal, and a
// resize was never sent.
func TestDialWindowWithStdoutPiped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	addr, nextLine := heldLineGateway(t)
	cmd := exec.Command(gatewayBinary(t), "dial", "--text", "--quiet", addr)
	cmd.Stdout = io.Discard // a pipe
	ptmx, _, done := startOnPty(t, cmd, 90, 25)
	line := nextLine()
	go io.Copy(io.Discard, line) // the telnet negotiation (NAWS) is processed as the line is read
	waitWindow(t, line, transport.WindowSize{Cols: 90, Rows: 25})
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 110, Rows: 33}); err != nil {
		t.Fatal(err)
	}
	waitWindow(t, line, transport.WindowSize{Cols: 110, Rows: 33})
	io.WriteString(ptmx, "\r~.")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dial exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("~. did not hang up")
	}
}

// waitWindow waits up to 20 s for the window line's caller announced to
// be want.
func waitWindow(t *testing.T, line *tcp.Line, want transport.WindowSize) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); line.Info().Window != want; {
		if time.Now().After(deadline) {
			t.Fatalf("window %+v, want %+v", line.Info().Window, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldLineGateway is a fake telnet gateway that hands the test each
// call's line (nextLine, failing after 30 s without one) and holds it
// open until the test ends.
func heldLineGateway(t *testing.T) (addr string, nextLine func() *tcp.Line) {
	t.Helper()
	lines := make(chan *tcp.Line, 1)
	release := make(chan struct{})
	addr = fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		lines <- line
		<-release // the test reads the line
	})
	t.Cleanup(func() { close(release) }) // before fakeGateway's own
	return addr, func() *tcp.Line {
		t.Helper()
		select {
		case line := <-lines:
			return line
		case <-time.After(30 * time.Second):
			t.Fatal("no call arrived")
			return nil
		}
	}
}

// TestDialSuspend: ~^Z under an interactive shell stops dial, as ssh's
// does, with the terminal given back in its own modes (the shell reads
// and runs a line); fg continues the call in raw mode, and a resize made
// while dial was stopped (SIGWINCH went to the shell) reaches the call.
// Power-user trial: dial had no way to suspend.
func TestDialSuspend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		testutil.Missing(t, "no bash for job control")
	}
	addr, nextLine := heldLineGateway(t)
	cmd := exec.Command(bash, "--norc", "--noprofile", "-i")
	cmd.Env = append(os.Environ(), "PS1=$ ", "GW="+gatewayBinary(t), "ADDR="+addr)
	ptmx, screen, done := startOnPty(t, cmd, 80, 24)
	onScreen := func(what string, cond func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(screen.String()); {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; screen:\n%q", what, screen)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	onScreen("the prompt", func(s string) bool { return strings.HasSuffix(s, "$ ") })
	io.WriteString(ptmx, `"$GW" dial --text --quiet "$ADDR"`+"\r")
	line := nextLine()
	got := &dialBuffer{}
	go io.Copy(got, line) // the telnet negotiation (NAWS) is processed as the line is read
	waitWindow(t, line, transport.WindowSize{Cols: 80, Rows: 24})
	io.WriteString(ptmx, "x")
	waitFor(t, func() bool { return got.String() == "x" })

	io.WriteString(ptmx, "\r~\x1a")
	onScreen("the shell's notice", func(s string) bool { return strings.Contains(s, "Stopped") })
	io.WriteString(ptmx, "echo $((6*7))\r")
	onScreen("the shell's answer", func(s string) bool { return strings.Contains(s, "42\r\n") })
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 30}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(ptmx, "fg\r")
	waitWindow(t, line, transport.WindowSize{Cols: 100, Rows: 30})
	io.WriteString(ptmx, "y")
	waitFor(t, func() bool { return got.String() == "x\ry" })
	if !strings.Contains(screen.String(), "[suspending dial; fg to continue]") {
		t.Errorf("no notice on suspending; screen:\n%s", screen)
	}
	io.WriteString(ptmx, "\r~.")
	onScreen("the prompt after the call", func(s string) bool { return strings.HasSuffix(s, "$ ") })
	io.WriteString(ptmx, "exit\r")
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the shell did not end; screen:\n%s", screen)
	}
	if got.String() != "x\ry\r" {
		t.Errorf("the gateway received %q, want x CR y CR", got)
	}
}
