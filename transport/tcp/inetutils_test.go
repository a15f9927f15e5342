//go:build unix

package tcp

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// ptyScreen collects what a program writes to its terminal.
type ptyScreen struct {
	mu   sync.Mutex
	data []byte
	done chan struct{}
}

func (s *ptyScreen) has(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.data, []byte(p))
}

func (s *ptyScreen) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Count(s.data, []byte(p))
}

func (s *ptyScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.Quote(string(s.data))
}

// TestInetutilsTelnet drives the real telnet client (Debian inetutils)
// through a pty against a telnet-mode listener: terminal type from TERM,
// window size from the pty and a resize, server echo on (password) and off,
// AYT answered, IAC (0xFF) transparent both ways in binary mode, and a
// clean hang-up.
func TestInetutilsTelnet(t *testing.T) {
	testutil.CheckGoroutines(t)
	bin := testutil.NeedBinary(t, "telnet")
	var log testLog
	ln, err := Listen("127.0.0.1:0", Options{Telnet: true, Logger: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, port, _ := strings.Cut(hostPort(ln), ":")

	cmd := exec.Command(bin, host, port)
	cmd.Env = append(os.Environ(), "TERM=vt220")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatalf("start telnet on a pty: %v", err)
	}
	screen := &ptyScreen{done: make(chan struct{})}
	go func() {
		defer close(screen.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			screen.mu.Lock()
			screen.data = append(screen.data, buf[:n]...)
			screen.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		ptmx.Close()
		<-screen.done
		if t.Failed() {
			t.Logf("telnet's screen: %s", screen)
		}
	}()

	srv, err := ln.AcceptLine(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rd := startReader(srv)
	var events []transport.Event
	var evMu sync.Mutex
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for e := range srv.Events() {
			evMu.Lock()
			events = append(events, e)
			evMu.Unlock()
		}
	}()
	hasEvent := func(want transport.Event) func() bool {
		return func() bool {
			evMu.Lock()
			defer evMu.Unlock()
			for _, e := range events {
				if e == want {
					return true
				}
			}
			return false
		}
	}
	latestWindow := func(want transport.WindowSize) func() bool {
		return func() bool {
			select {
			case ws := <-srv.WindowChanges():
				_ = ws
			default:
			}
			return srv.Info().Window == want
		}
	}

	// Negotiation: TTYPE from TERM, NAWS from the pty size, BINARY.
	waitFor(t, "terminal type", func() bool { return strings.EqualFold(srv.Info().TermType, "vt220") })
	waitFor(t, "window size from the pty", latestWindow(transport.WindowSize{Cols: 100, Rows: 30}))
	waitFor(t, "BINARY both ways", func() bool { in, out := srv.Binary(); return in && out })

	// Resize the terminal: the client sends a new NAWS.
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 120, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGWINCH)
	waitFor(t, "window size after resize", latestWindow(transport.WindowSize{Cols: 120, Rows: 40}))

	// Password prompt: server echo on, the client stops echoing locally.
	serverEchoes := func() bool {
		srv.tmu.Lock()
		defer srv.tmu.Unlock()
		return srv.tn.us.enabled(optEcho)
	}
	if err := srv.SetServerEcho(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client to agree to server echo", serverEchoes)
	if _, err := ptmx.Write([]byte("hunter2\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "password at the server", func() bool { return rd.has([]byte("hunter2")) })
	if screen.has("hunter2") {
		t.Errorf("password echoed locally with server echo on")
	}

	// IAC transparency in binary mode, both ways.
	if _, err := srv.Write([]byte("<X\xffY>")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "0xFF on the client's screen", func() bool { return screen.has("<X\xffY>") })
	if _, err := ptmx.Write([]byte("[A\xffB]")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "0xFF from the client", func() bool { return rd.has([]byte("[A\xffB]")) })

	// AYT from the client's command mode: an event, and a visible answer.
	if _, err := ptmx.Write([]byte("\x1d")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "telnet command prompt", func() bool { return screen.has("telnet>") })
	if _, err := ptmx.Write([]byte("send ayt\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "AYT event", hasEvent(transport.EventAreYouThere))
	waitFor(t, "AYT answer on screen", func() bool { return screen.has(strings.TrimSpace(aytReply)) })
	for _, c := range []struct {
		send string
		want transport.Event
	}{{"brk", transport.EventBreak}, {"ip", transport.EventInterrupt}} {
		prompts := screen.count("telnet>")
		if _, err := ptmx.Write([]byte("\x1d")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "telnet command prompt", func() bool { return screen.count("telnet>") > prompts })
		if _, err := ptmx.Write([]byte("send " + c.send + "\r")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c.want.String()+" event", hasEvent(c.want))
	}

	// Echo back to the client: what the user types shows again.
	if err := srv.SetServerEcho(false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client to take echo back", func() bool {
		srv.tmu.Lock()
		defer srv.tmu.Unlock()
		return srv.tn.us.side(optEcho).state == qNo // answered, not just asked
	})
	if _, err := ptmx.Write([]byte("visible\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "typed text at the server", func() bool { return rd.has([]byte("visible")) })
	waitFor(t, "local echo on the client's screen", func() bool { return screen.has("visible") })

	// Hang up: the client sees the connection close and exits.
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Errorf("telnet did not exit after hang-up")
	}
	if _, err := rd.result(); err == nil {
		t.Errorf("server Read ended without error")
	}
	<-evDone
	select {
	case <-screen.done: // the client's last output has been read
	case <-time.After(20 * time.Second):
	}
	if !screen.has("Connection closed by foreign host") {
		t.Errorf("client did not report the hang-up")
	}
	log.mu.Lock()
	if len(log.lines) > 0 {
		t.Logf("server log: %q", log.lines)
	}
	log.mu.Unlock()
}
