package bridge

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPreLoginFlood: a caller who sends garbage at network speed instead
// of logging in (the adversarial trial: about one processor decoding it
// until the login deadline) is hung up once it has sent maxPreLogin
// octets, whether the gateway is reading a text login, detecting V.42 or
// running LAPM, and the record says why.
func TestPreLoginFlood(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, mode := range []config.V42Mode{config.V42Off, config.V42Detect, config.V42LAPM} {
		t.Run(string(mode), func(t *testing.T) {
			c := testConfig(t)
			c.StateDir = t.TempDir()
			c.Listeners[0].Address = "telnet://127.0.0.1:0"
			c.Listeners[0].V42 = mode
			c.Listeners[0].Security = config.SecurityOptional
			c.Security.HandshakeDeadline.Duration = time.Minute
			key, err := auth.GenerateHostKey(crand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}, V42: &LAPMAnswerer{HostKey: key}})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Shutdown(context.Background())
			conn := dialGateway(t, g)
			defer conn.Close()
			go func() {
				r := rand.New(rand.NewPCG(1, 2))
				b := make([]byte, 64<<10)
				for range 3 * maxPreLogin / len(b) {
					// Letters: no line end, no Ctrl-C ends a text
					// login early, and no V.42 detection pattern.
					for i := range b {
						b[i] = 'a' + byte(r.IntN(26))
					}
					if _, err := conn.Write(b); err != nil {
						return
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Fatalf("the gateway did not hang up: %v", err)
			}
			conn.Close()
			// The record, before the gateway stops: a call still
			// logging in when it stops is recorded as shut down.
			r := waitRecords(t, g.Store, 1)
			g.Shutdown(context.Background())
			if len(r) != 1 || r[0].Result != store.ResultAbandoned || !strings.Contains(r[0].Reason, reasonFlood) {
				t.Fatalf("records %+v, want one abandoned with %q", r, reasonFlood)
			}
			t.Logf("reason: %s", r[0].Reason)
		})
	}
}

// TestPreLoginFloodTLSRecords: on a TLS listener the pre-login budget
// counts the records' octets, not only the data they carry. A TLS 1.3
// record may hold one data octet and 16 KiB of padding (security trial:
// 15 GB in 21 s, a core busy decrypting, until handshake_deadline, with
// under 1 MiB of data); here each record carries one octet, about 23 on
// the wire, so 100,000 of them are over the budget on the wire and far
// under it in data. Before, the caller closed its end unhung-up and the
// call was recorded as left during the login.
func TestPreLoginFloodTLSRecords(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Listeners[0].TLSCert, c.Listeners[0].TLSKey = certFile, keyFile
	c.Security.HandshakeDeadline.Duration = 10 * time.Minute
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expect(t, conn, "login: ")
	done := make(chan struct{})
	go func() {
		// One record per Write: letters, no line end.
		defer close(done)
		for i := range 100_000 {
			if _, err := conn.Write([]byte{'a' + byte(i%26)}); err != nil {
				return
			}
		}
		_ = conn.CloseWrite() // the caller leaves, if the gateway has not hung up
	}()
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
		t.Fatalf("the gateway did not hang up: %v", err)
	}
	<-done
	conn.Close()
	r := waitRecords(t, g.Store, 1)
	g.Shutdown(context.Background())
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || !strings.Contains(r[0].Reason, reasonFlood) {
		t.Fatalf("records %+v, want one abandoned with %q", r, reasonFlood)
	}
}

// TestPreLoginFloodPacedWS: on a listener with line_rate the WebSocket
// line's budget is set through the pacing wrapper. The line's own reader
// takes frames at network speed whatever the pacing (retest: text frames,
// pings and empty continuation frames kept a core busy until the login
// deadline on such a listener, which had no budget at all).
func TestPreLoginFloodPacedWS(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	c.Listeners[0].LineRate = 33600
	c.Security.HandshakeDeadline.Duration = time.Minute
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, g.Addr("test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		// Until the gateway hangs up (the budget counts from when the
		// call sets it, which may come after the first frames).
		junk := []byte(strings.Repeat("not a control message ", 40))
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
			if conn.WriteMessage(websocket.TextMessage, junk) != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) && !isReset(err) {
				t.Fatalf("the gateway did not hang up: %v", err)
			}
			break
		}
	}
	conn.Close()
	r := waitRecords(t, g.Store, 1) // before the stop, which records a login as shut down
	g.Shutdown(context.Background())
	if len(r) != 1 || !strings.Contains(r[0].Reason, reasonFlood) {
		t.Fatalf("records %+v, want one with %q", r, reasonFlood)
	}
}
