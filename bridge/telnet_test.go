package bridge

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// TestTelnetBackendWindow: a telnet caller's terminal type and window
// size reach a telnet backend (RFC 1091, RFC 1073), and so does a resize.
func TestTelnetBackendWindow(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := telnetBBS(t)
	c := testConfig(t, bbsBackend(bbs))
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{TermType: "ANSI-BBS", Window: transport.WindowSize{Cols: 100, Rows: 40}}, "n", "pw")
	back := acceptBackendLine(t, ctx, bbs)
	waitLineInfo(t, back, "the window size", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 100, Rows: 40} })
	waitLineInfo(t, back, "the terminal type", func(i transport.LineInfo) bool { return strings.EqualFold(i.TermType, "ANSI-BBS") })
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 132, Rows: 60}); err != nil {
		t.Fatal(err)
	}
	waitLineInfo(t, back, "the resize", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 132, Rows: 60} })
	io.WriteString(back, "welcome to the bbs")
	expect(t, caller, "welcome to the bbs")
}

// TestCallerWithoutTermType: a caller that announces no terminal type
// (a telnet client without one answers "UNKNOWN", RFC 1091, in any case)
// or one the gateway refuses gets the backend's term, as one that
// announced nothing: a pty program's TERM, the terminal type announced
// to a telnet backend. Regression: "UNKNOWN" reached a pty program as
// TERM=unknown, and curses programs failed ("'unknown': unknown terminal
// type"); a telnet backend was announced "UNKNOWN".
func TestCallerWithoutTermType(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	for _, announced := range []string{"", "unknown", "Unknown", "../../tmp/x"} {
		c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Term: "ansi", Command: []string{sh, "-c",
			`stty -echo; echo "term=$TERM."; read x`}})
		g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		caller := telnetCall(t, ctx, g, tcp.Options{TermType: announced}, "n", "pw")
		t.Logf("caller announcing %q", announced)
		expect(t, caller, "term=ansi.")
		io.WriteString(caller, "\r")
		cancel()
	}

	bbs := telnetBBS(t)
	c := testConfig(t, config.Backend{Name: "bbs", Type: config.BackendTelnet, Term: "ansi", Address: config.HostPort(strings.TrimPrefix(bbs.Addr(), "telnet://"))})
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	telnetCall(t, ctx, g, tcp.Options{}, "n", "pw")
	back := acceptBackendLine(t, ctx, bbs)
	waitLineInfo(t, back, `the terminal type "ansi"`, func(i transport.LineInfo) bool { return i.TermType == "ansi" })
}

// TestAYTNamesGateway: telnet "Are You There" (RFC 854) is answered with
// the configured gateway_name. Regression: the answer said "dialgate"
// whatever the gateway was called.
func TestAYTNamesGateway(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.GatewayName = "Night Owl BBS"
	g, _ := startTelnetGateway(t, c, &fakeVerifier{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expect(t, conn, "login: ")
	conn.Write([]byte{255, 246}) // IAC AYT
	expect(t, conn, "[Night Owl BBS: yes]")
}

// TestTelnetBackendInterruptAndBreak: a telnet caller's Interrupt Process
// reaches a telnet backend as IP and its Break as BRK (RFC 854), in the
// order sent, and its Abort Output as AO. Telnet trial: IP was sent on as BRK, which telnetd makes
// its pty's quit character (SIGQUIT) instead of its interrupt character.
func TestTelnetBackendInterruptAndBreak(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := telnetBBS(t)
	c := testConfig(t, bbsBackend(bbs))
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{}, "n", "pw")
	back := acceptBackendLine(t, ctx, bbs)
	io.WriteString(back, "ready")
	expect(t, caller, "ready") // the session is bridged
	if err := caller.SendInterrupt(); err != nil {
		t.Fatal(err)
	}
	if err := caller.SendBreak(); err != nil {
		t.Fatal(err)
	}
	// Abort Output too (BBS trial: `send ao` did nothing).
	if err := caller.SendAbortOutput(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(caller, "x") // carries the commands to the gateway
	for _, want := range []transport.Event{transport.EventInterrupt, transport.EventBreak, transport.EventAbortOutput} {
		select {
		case e := <-back.Events():
			if e != want {
				t.Fatalf("the backend got event %v, want %v", e, want)
			}
		case <-ctx.Done():
			t.Fatalf("the backend never got %v", want)
		}
	}
}

// TestLoginInterruptNotReplayed: an Interrupt Process or Break sent at
// the login prompt does nothing there and does not reach the program the
// session starts. Telnet trial: both waited, and ended the pty program
// the moment it started ("NO CARRIER (the service ended the session)").
func TestLoginInterruptNotReplayed(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`stty -echo; echo ready; read x; echo "got:$x"`}})
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, err := tcp.Dial(ctx, strings.TrimPrefix(g.Addr("test"), "telnet://"), tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	expect(t, caller, "login: ")
	if err := caller.SendInterrupt(); err != nil {
		t.Fatal(err)
	}
	if err := caller.SendBreak(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(caller, "n\r")
	expect(t, caller, "password: ")
	io.WriteString(caller, "pw\r")
	expect(t, caller, "ready")
	io.WriteString(caller, "line\r")
	expect(t, caller, "got:line")
}

// TestTelnetBackendInterruptDropsQueuedOutput: after a caller's
// Interrupt Process the gateway asks the telnet backend for a
// TIMING-MARK (RFC 860) and drops what the backend sent before its
// answer, as a telnet client does, so the prompt after the interrupt
// reaches a paced caller at once. BBS trial: at 2,400 bit/s the output a
// telnetd had queued before a Ctrl-C (2.9 MB on loopback, in its socket
// buffers and the gateway's) was passed on in full, hours of it, before
// the shell's prompt.
func TestTelnetBackendInterruptDropsQueuedOutput(t *testing.T) {
	testutil.CheckGoroutines(t)
	stale := strings.Repeat("output the program made before the interrupt\r\n", 1<<15) // 1.5 MB: 27 min at 9,600 bit/s
	marked := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) {
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			io.WriteString(c, stale) // waits until the gateway has read (or dropped) it
		}()
		// A telnet server answers DO TM once it has processed
		// everything before it: here, after the stale output.
		var got []byte
		buf := make([]byte, 256)
		for !bytes.Contains(got, []byte{255, 253, 6}) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Contains(got, []byte{255, 244}) {
			t.Errorf("the backend got %q before DO TIMING-MARK, no IAC IP", got)
		}
		close(marked)
		<-wrote
		c.Write(append([]byte{255, 252, 6}, "PROMPT> "...)) // WONT TM, then the prompt
		io.Copy(io.Discard, c)
	})
	c := testConfig(t, config.Backend{Name: "bbs", Type: config.BackendTelnet, Address: config.HostPort(addr)})
	c.Listeners[0].LineRate = 9600
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{}, "n", "pw")
	expect(t, caller, "before the interrupt") // the session is bridged
	if err := caller.SendInterrupt(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(caller, "x") // carries the command to the gateway
	select {
	case <-marked:
	case <-ctx.Done():
		t.Fatal("the backend was never asked for a TIMING-MARK")
	}
	got := expect(t, caller, "PROMPT> ")
	if len(got) > 16<<10 {
		t.Errorf("the caller got %d octets before the prompt, want the queued output dropped", len(got))
	}
}

// TestTelnetBackendTermSpeed: a telnet backend of a paced line that asks
// for the terminal speed (TSPEED, RFC 1079, as telnetd does) hears the
// line's rate; one of an unpaced line is refused the option.
func TestTelnetBackendTermSpeed(t *testing.T) {
	testutil.CheckGoroutines(t)
	for rate, want := range map[int]string{2400: "\xff\xfb \xff\xfa \x002400,2400\xff\xf0", 0: "\xff\xfc "} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		heard := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			ln.Close()
			if err != nil {
				heard <- err.Error()
				return
			}
			defer c.Close()
			c.Write([]byte{255, 253, 32, 255, 250, 32, 1, 255, 240}) // DO TSPEED, SB TSPEED SEND SE
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var got []byte
			buf := make([]byte, 64)
			for !strings.HasSuffix(string(got), want) {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			heard <- string(got)
		}()
		b, err := newTelnetBackend(config.Backend{Name: "bbs", Type: config.BackendTelnet, Address: config.HostPort(ln.Addr().String()), Term: "ansi"})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := b.Connect(context.Background(), Session{LineRate: rate})
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, conn) // the line decodes what it reads
		if got := <-heard; !strings.HasSuffix(got, want) {
			t.Errorf("line_rate %d: backend heard %q, want it to end %q", rate, got, want)
		}
		conn.Close()
	}
}

// halfPipe is one end of a net.Pipe with the half-close a TCP connection
// has (tcp.Line's Close uses it, then waits for the peer's FIN): writes
// after CloseWrite fail, reads go on.
type halfPipe struct {
	net.Conn
	wclosed atomic.Bool
}

func (h *halfPipe) Write(p []byte) (int, error) {
	if h.wclosed.Load() {
		return 0, net.ErrClosed
	}
	return h.Conn.Write(p)
}

func (h *halfPipe) CloseWrite() error {
	h.wclosed.Store(true)
	return nil
}

// TestTelnetBackendCloseBounded: closing a telnet backend that reads
// but never closes its side (a hung BBS) waits telnetBackendLinger for
// its FIN, not tcp.DefaultLinger: the close holds up every ending of a
// session (the caller hears an operator's hang-up, the idle timeout, the
// drain only after it). Regression: 5 s, and a caller's hang-up ended
// the call backendLinger + 5 s later.
func TestTelnetBackendCloseBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ours, theirs := net.Pipe()
		read := make(chan struct{})
		go func() {
			defer close(read)
			_, _ = io.Copy(io.Discard, theirs) // reads everything, never closes
		}()
		be := newTelnetConn(&halfPipe{Conn: ours}, "vt100", Session{})
		start := time.Now()
		if err := be.Close(); err != nil {
			t.Logf("close: %v", err)
		}
		// The bubble's clock: exact.
		if d := time.Since(start); d != telnetBackendLinger {
			t.Errorf("close took %v, want %v", d, telnetBackendLinger)
		}
		theirs.Close()
		<-read
	})
}
