package bridge

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/gorilla/websocket"
)

// TestWSProtocolViolationAtLogin: a WebSocket caller that breaks the
// protocol at the login prompt (a frame with an opcode RFC 6455 reserves)
// is recorded with what failed, not as a caller who left (hostile-peer
// trial: every such call read "caller left during login").
func TestWSProtocolViolationAtLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var raw net.Conn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		conn, err := nd.DialContext(ctx, network, addr)
		raw = conn
		return conn, err
	}}
	conn, _, err := d.DialContext(ctx, g.Addr("test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var heard string
	for !strings.Contains(heard, "login: ") {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %q: %v", heard, err)
		}
		heard += string(msg)
	}
	// FIN, opcode 3 (reserved), masked, no payload.
	if _, err := raw.Write([]byte{0x83, 0x80, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	r := waitRecords(t, g.Store, 1)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || !strings.HasPrefix(r[0].Reason, "caller line failed during login: ") || !strings.Contains(r[0].Reason, "opcode") {
		t.Fatalf("records %+v, want one abandoned, the line's failure named", r)
	}
}
