package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// TestDrainNoticesWebSocketCallers: when the gateway starts to drain, a
// WebSocket caller in session gets a notice control message saying when
// its call ends at the latest, which the browser page shows (browser
// trial: the page said "connected" until the hang-up, and vim's unsaved
// text was lost without a word). Its session goes on meanwhile.
func TestDrainNoticesWebSocketCallers(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"n": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := websocket.Dialer{Subprotocols: []string{"binary"}}
	conn, _, err := d.DialContext(ctx, g.Addr("test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var heard strings.Builder
	until := func(want string) {
		t.Helper()
		for !strings.Contains(heard.String(), want) {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %q: %v (heard %q)", want, err, heard.String())
			}
			if typ == websocket.BinaryMessage {
				heard.Write(msg)
			}
		}
	}
	send := func(s string) {
		if err := conn.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	until("login: ")
	send("n\r\n")
	until("password: ")
	send("pw\r\n")
	send("hello")
	until("hello")

	drained := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		drained <- g.Shutdown(sctx)
	}()
	var notice ws.Control
	for notice.Type != ws.ControlNotice {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no notice before %v (heard %q)", err, heard.String())
		}
		if typ == websocket.TextMessage {
			if notice, err = ws.ParseControl(msg); err != nil {
				t.Fatalf("control message %q: %v", msg, err)
			}
		}
	}
	// Within the drain's 5 s (4 s if this test's machine is slow).
	if !strings.HasPrefix(notice.Text, "the gateway is shutting down: this call ends within ") {
		t.Errorf("notice %q", notice.Text)
	}
	send("still here")
	until("still here")
	conn.Close()
	if err := <-drained; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
