package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// TestDialWebSocketAnnouncesTerm: on a ws:// line dial announces the
// terminal type with a "term" control message, as the browser page does
// and as telnet:// lines do with TTYPE, so that a pty program behind the
// gateway gets the caller's TERM. Power-user trial: over ws:// bash saw
// TERM=vt100 (the backend's default) where telnet:// gave tmux-256color.
func TestDialWebSocketAnnouncesTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	l, err := ws.Listen("ws://127.0.0.1:0/line", ws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan *ws.Line, 1)
	go func() {
		line, err := l.AcceptWS(t.Context())
		if err == nil {
			lines <- line
		}
	}()
	cmd := exec.Command(gatewayBinary(t), "dial", "--text", "--quiet", "--term", "xterm-256color", l.Addr())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var line *ws.Line
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("no call arrived")
	}
	defer line.Close()
	// Control messages are taken as the line is read.
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := line.Read(buf); err != nil {
				return
			}
		}
	}()
	waitFor(t, func() bool { return line.Info().TermType == "xterm-256color" })
}
