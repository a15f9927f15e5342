package bridge

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/tcp"
)

// TestCallerEchoAfterLogin: the text login leaves the gateway echoing
// for a telnet caller (WILL ECHO, RFC 857, to hide the password); once
// the session is bridged, who echoes depends on the backend. A pty's tty
// echoes: the gateway's WILL ECHO stays. A raw TCP service echoes too
// unless its backend says echo = "caller" (a line-based service): then
// the caller gets WONT ECHO and echoes locally. A telnet backend
// decides: the caller follows its WILL and WONT ECHO. Regression: the
// caller kept WILL ECHO whatever the backend, and typed blind to a
// line-based TCP service or a telnet backend that does not echo.
func TestCallerEchoAfterLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	users := &fakeVerifier{users: map[string]string{"e": "pw"}}

	t.Run("pty", func(t *testing.T) {
		sh := testutil.NeedBinary(t, "sh")
		c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c", `echo ready.; read x`}})
		g, _ := startTelnetGateway(t, c, users)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		caller := telnetCall(t, ctx, g, tcp.Options{}, "e", "pw")
		expect(t, caller, "ready.")
		if !caller.PeerEchoes() {
			t.Error("pty backend: the gateway gave echo back to the caller; the tty echoes")
		}
		io.WriteString(caller, "\r")
	})

	for _, echo := range []string{"", config.EchoService, config.EchoCaller} {
		t.Run("tcp-echo-"+echo, func(t *testing.T) {
			svc, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				conn, err := svc.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				io.WriteString(conn, "ready.")
				io.Copy(io.Discard, conn)
			}()
			c := testConfig(t, config.Backend{Name: "raw", Type: config.BackendTCP, Address: config.HostPort(svc.Addr().String()), Echo: echo})
			g, _ := startTelnetGateway(t, c, users)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			caller := telnetCall(t, ctx, g, tcp.Options{}, "e", "pw")
			expect(t, caller, "ready.")
			if want := echo != config.EchoCaller; caller.PeerEchoes() != want {
				t.Errorf("tcp backend, echo %q: the gateway echoes %v after the login, want %v", echo, caller.PeerEchoes(), want)
			}
			caller.Close()
			svc.Close()
			<-served
		})
	}

	t.Run("telnet", func(t *testing.T) {
		bbs := telnetBBS(t)
		c := testConfig(t, bbsBackend(bbs))
		g, _ := startTelnetGateway(t, c, users)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		caller := telnetCall(t, ctx, g, tcp.Options{}, "e", "pw")
		back := acceptBackendLine(t, ctx, bbs)
		io.WriteString(back, "no echo negotiated.")
		expect(t, caller, "no echo negotiated.")
		if caller.PeerEchoes() {
			t.Error("a telnet backend that does not echo: the gateway kept echo")
		}
		for _, on := range []bool{true, false} {
			if err := back.SetServerEcho(on); err != nil {
				t.Fatal(err)
			}
			word := map[bool]string{true: "echo on.", false: "echo off."}[on]
			io.WriteString(back, word)
			expect(t, caller, word)
			// The change is sent before the data that follows it, but a
			// change made while the caller has not yet answered the
			// last one waits for that answer (RFC 1143's queue).
			for deadline := time.Now().Add(5 * time.Second); caller.PeerEchoes() != on; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("backend's ECHO %v: the caller was told %v", on, caller.PeerEchoes())
				}
				io.WriteString(back, ".") // Read passes a change on with data
				expect(t, caller, ".")
			}
		}
	})
}
