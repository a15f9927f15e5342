//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestUserTerminalNoEcho runs "user add" against a real pseudo-terminal:
// the password is asked twice, typed like a user would, and never appears
// on the screen.
func TestUserTerminalNoEcho(t *testing.T) {
	testutil.CheckGoroutines(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer ptmx.Close()
	defer tty.Close()

	if f, err := os.CreateTemp(t.TempDir(), "x"); err == nil {
		if ttySecret(f, io.Discard) != nil {
			t.Error("a plain file was taken for a terminal")
		}
		f.Close()
	}
	secret := ttySecret(tty, tty)
	if secret == nil {
		t.Fatal("the pty is not taken for a terminal")
	}
	screen := &dialBuffer{}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(screen, ptmx); close(copied) }()

	path := filepath.Join(t.TempDir(), "users.toml")
	var stdout, stderr bytes.Buffer
	env := userEnv{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, readSecret: secret, now: time.Now}
	done := make(chan int, 1)
	go func() { done <- userMain(append([]string{"add", "--users", path, "alice"}, userCmdCheap...), env) }()

	const pw = "typed-secret-42"
	deadline := time.Now().Add(20 * time.Second)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; screen %q", what, screen.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	echoOff := func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO == 0
	}
	for i, prompt := range []string{"New password for alice: ", "Retype the password: "} {
		waitFor("prompt "+prompt, func() bool { return strings.Contains(screen.String(), prompt) })
		waitFor("echo off", echoOff)
		if _, err := ptmx.Write([]byte(pw + "\r")); err != nil {
			t.Fatalf("typing password %d: %v", i, err)
		}
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(time.Until(deadline)):
		t.Fatal("user add did not finish")
	}
	tty.Close()
	ptmx.Close()
	<-copied
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if s := screen.String() + stdout.String() + stderr.String(); strings.Contains(s, pw) {
		t.Errorf("the password was shown: %q", s)
	}
	if err := userCmdVerify(t, path, "alice", pw); err != nil {
		t.Errorf("stored password: %v", err)
	}
}

// TestUserInterruptAtPrompt: Ctrl-C at "user add"'s password prompt ends
// the command (exit 1, "interrupted"), gives the terminal its echo back
// and leaves no users file behind.
func TestUserInterruptAtPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	users := filepath.Join(t.TempDir(), "users.toml")
	cmd := exec.Command(gatewayBinary(t), "user", "add", "--users", users, "bob")
	ptmx, screen, done := startOnPty(t, cmd, 80, 24)
	waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "New password for bob: ") })
	// Typed once the prompt has turned echo off, as a person types: a
	// Ctrl-C before that finds no terminal state to give back yet (the
	// test failed so under load).
	waitFor(t, func() bool {
		tio, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO == 0
	})
	io.WriteString(ptmx, "sec\x03")
	interrupted(t, ptmx, screen, done, exitFailure, "interrupted", unix.ECHO)
	if _, err := os.Stat(users); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users file after an interrupted add: %v", err)
	}
}

// TestUserInterruptAtPromptAtOnce: Ctrl-C typed the instant the prompt
// appears, before anything else, gives the terminal its echo back. The
// code turns the echo off before the prompt and the reader start; the
// race it replaced (the reader turning the echo off after the signal's
// restore) was microseconds wide and this test did not catch it in four
// runs against the old code: it checks the behaviour, not the race.
func TestUserInterruptAtPromptAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	for range 5 {
		users := filepath.Join(t.TempDir(), "users.toml")
		cmd := exec.Command(gatewayBinary(t), "user", "add", "--users", users, "bob")
		ptmx, screen, done := startOnPty(t, cmd, 80, 24)
		waitFor(t, func() bool { return strings.HasSuffix(screen.String(), "New password for bob: ") })
		io.WriteString(ptmx, "\x03")
		interrupted(t, ptmx, screen, done, exitFailure, "interrupted", unix.ECHO)
	}
}
