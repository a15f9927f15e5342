package bridge

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/tcp"
)

// nvtClient is a telnet client that refuses every option, BINARY among
// them (busybox telnet does), so it sends the NVT newline CR LF for
// Enter. Read returns the data octets; option requests are answered
// as they are read.
type nvtClient struct {
	net.Conn
	state byte // 0 data, 1 after IAC, 2 after a verb, 3 in SB, 4 IAC in SB
	verb  byte
}

func (c *nvtClient) Read(p []byte) (int, error) {
	buf := make([]byte, len(p))
	for {
		n, err := c.Conn.Read(buf)
		out := p[:0]
		var reply []byte
		for _, b := range buf[:n] {
			switch c.state {
			case 0:
				if b == 0xFF {
					c.state = 1
				} else {
					out = append(out, b)
				}
			case 1:
				switch {
				case b == 0xFF:
					out = append(out, b)
					c.state = 0
				case b >= 251: // WILL, WONT, DO, DONT
					c.verb, c.state = b, 2
				case b == 250: // SB
					c.state = 3
				default:
					c.state = 0
				}
			case 2:
				switch c.verb {
				case 251: // WILL: DONT
					reply = append(reply, 0xFF, 254, b)
				case 253: // DO: WONT
					reply = append(reply, 0xFF, 252, b)
				}
				c.state = 0
			case 3:
				if b == 0xFF {
					c.state = 4
				}
			case 4:
				c.state = 3
				if b == 240 { // SE
					c.state = 0
				}
			}
		}
		if len(reply) > 0 {
			if _, werr := c.Conn.Write(reply); werr != nil && err == nil {
				err = werr
			}
		}
		if len(out) > 0 || err != nil {
			return len(out), err
		}
	}
}

// TestNVTNewlineToTerminal: a telnet caller that does not send BINARY
// ends lines with CR LF (RFC 854's newline). A pty program, and a
// telnet service the gateway sends BINARY to (telnetd passes it to its
// pty as it is), get one Enter for it, CR, as telnetd makes it; a tcp
// service gets the octets as they are. Telnet trial: busybox telnet's
// every Enter reached a pty program and telnetd as two, skipping
// "press Enter" prompts.
func TestNVTNewlineToTerminal(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	dial := func(t *testing.T, g *Gateway) *nvtClient {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		caller := &nvtClient{Conn: c}
		expect(t, caller, "login: ")
		io.WriteString(caller, "n\r\n")
		expect(t, caller, "password: ")
		io.WriteString(caller, "pw\r\n")
		return caller
	}
	users := map[string]string{"n": "pw"}

	t.Run("pty", func(t *testing.T) {
		c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
			`stty -echo; echo ready; read a; read b; echo "a=[$a] b=[$b]"`}})
		g, _ := startTelnetGateway(t, c, &fakeVerifier{users: users})
		caller := dial(t, g)
		expect(t, caller, "ready")
		io.WriteString(caller, "one\r\n")
		time.Sleep(50 * time.Millisecond) // a CR LF split across reads too
		io.WriteString(caller, "two\r")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(caller, "\n")
		expect(t, caller, "a=[one] b=[two]")
	})

	// backendGot reads what the service accepted gets, has the caller
	// type (typing), and checks that the service got want before "end".
	// A raw tcp:// caller's octets are its own: CR LF reaches the pty
	// as it is (retest: the first fix took raw lines for NVT ones and
	// dropped every LF after a CR, corrupting uploads).
	t.Run("raw", func(t *testing.T) {
		c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
			`stty -echo -icrnl; echo ready; read a; read b; printf '%s|%s.\n' "$a" "$b" | tr '\r' R`}})
		c.StateDir = t.TempDir()
		c.Listeners[0].Address = "tcp://127.0.0.1:0"
		g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: users}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown(context.Background()) })
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "tcp://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		expect(t, conn, "login: ")
		io.WriteString(conn, "n\r")
		expect(t, conn, "password: ")
		io.WriteString(conn, "pw\r")
		expect(t, conn, "ready")
		io.WriteString(conn, "one\r\ntwo\r\n")
		expect(t, conn, "oneR|twoR.")
	})

	backendGot := func(t *testing.T, ctx context.Context, accept func() (io.Reader, error), typing func(), want string) {
		t.Helper()
		r, err := accept()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []byte
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 256)
			for {
				n, err := r.Read(buf)
				mu.Lock()
				got = append(got, buf[:n]...)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		typing()
		for {
			mu.Lock()
			ok := bytes.Contains(got, []byte("end"))
			g := string(got)
			mu.Unlock()
			if ok {
				if !strings.Contains(g, want) {
					t.Errorf("the service got %q, want %q", g, want)
				}
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the service got %q, never the end", g)
			case <-done:
				t.Fatalf("the service got %q and closed", g)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	t.Run("telnet", func(t *testing.T) {
		bbs := telnetBBS(t)
		c := testConfig(t, bbsBackend(bbs))
		g, _ := startTelnetGateway(t, c, &fakeVerifier{users: users})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		caller := dial(t, g)
		var back *tcp.Line
		backendGot(t, ctx, func() (io.Reader, error) {
			var err error
			back, err = bbs.AcceptLine(ctx)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { back.Close() })
			return back, nil
		}, func() {
			// The service asked for BINARY (tcp.Listen's lines do):
			// wait until the gateway sends it, then type.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if in, _ := back.Binary(); in {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the gateway never sent BINARY to the service")
				}
			}
			io.WriteString(caller, "one\r\ntwo\r\nend\r\n")
		}, "one\rtwo\rend")
	})

	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c := testConfig(t, config.Backend{Name: "svc", Type: config.BackendTCP, Address: config.HostPort(ln.Addr().String())})
		g, _ := startTelnetGateway(t, c, &fakeVerifier{users: users})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		caller := dial(t, g)
		backendGot(t, ctx, func() (io.Reader, error) {
			s, err := ln.Accept()
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return s, nil
		}, func() { io.WriteString(caller, "one\r\ntwo\r\nend\r\n") }, "one\r\ntwo\r\nend")
	})
}

// TestLoginEchoRefused: a telnet caller that answers the login's WILL
// ECHO with DONT ECHO echoes what it types itself (RFC 857), so the
// login does not echo it again. Telnet trial: the name showed twice
// ("rraaww").
func TestLoginEchoRefused(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t, config.Backend{Name: "demo", Type: config.BackendDemo})
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	caller := &nvtClient{Conn: conn}
	expect(t, caller, "login: ")
	io.WriteString(caller, "raw\r\n")
	if got := expect(t, caller, "password: "); strings.Contains(got, "raw") || got != "\r\npassword: " {
		t.Errorf("after the name: %q, want only a new line and the prompt (no echo of the name the caller echoes itself)", got)
	}
}
