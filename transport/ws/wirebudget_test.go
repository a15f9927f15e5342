package ws

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// wireFloods are what a caller can send that never reaches Line.Read: a
// flood of any of them must spend the read budget as binary payloads do.
var wireFloods = map[string]func(c *websocket.Conn) error{
	"text frames": func(c *websocket.Conn) error {
		return c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("garbage "), 128))
	},
	"pings": func(c *websocket.Conn) error {
		return c.WriteControl(websocket.PingMessage, bytes.Repeat([]byte("p"), 125), time.Now().Add(5*time.Second))
	},
	"empty binary messages": func(c *websocket.Conn) error {
		return c.WriteMessage(websocket.BinaryMessage, nil)
	},
	// A binary message that never ends: empty continuation frames,
	// which gorilla/websocket reads inside one Read of the message
	// without returning (masked, as a client's must be).
	"empty continuation frames": func(c *websocket.Conn) error {
		frames := []byte{0x02, 0x80, 1, 2, 3, 4}
		for range 256 {
			frames = append(frames, 0x00, 0x80, 1, 2, 3, 4)
		}
		_, err := c.NetConn().Write(frames)
		for err == nil {
			_, err = c.NetConn().Write(frames[6:])
		}
		return err
	},
}

// TestWireBudget: on a line a Listener accepted, the read budget counts
// every octet from the peer, so a caller that has not logged in cannot
// keep the reader busy with frames that carry no payload (adversarial
// trial: 5 GB of text frames in 12 s, or endless empty continuation
// frames, at a core's cost until handshake_deadline). Over ws and wss.
func TestWireBudget(t *testing.T) {
	testutil.CheckGoroutines(t)
	cert, key, pool := selfSigned(t)
	for _, scheme := range []string{"ws", "wss"} {
		ln, err := Listen(scheme+"://127.0.0.1:0/line", Options{Logger: newLogSink(t), CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := websocket.Dialer{Subprotocols: []string{ProtoBinary}, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		for name, flood := range wireFloods {
			t.Run(scheme+" "+name, func(t *testing.T) {
				accepted := make(chan transport.Line, 1)
				go func() {
					l, err := ln.Accept(testCtx(t, 10*time.Second))
					if err != nil {
						t.Error(err)
						close(accepted)
						return
					}
					l.(transport.ReadBudgeter).SetReadBudget(64 << 10)
					accepted <- l
				}()
				c, _, err := d.Dial(ln.Addr(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				srv := <-accepted
				if srv == nil {
					return
				}
				defer srv.Close()
				flooded := make(chan error, 1)
				go func() {
					var err error
					for end := time.Now().Add(30 * time.Second); err == nil && time.Now().Before(end); {
						err = flood(c)
					}
					flooded <- err
				}()
				read := make(chan error, 1)
				go func() {
					_, err := srv.Read(make([]byte, 4096))
					read <- err
				}()
				// The flood ends when the gateway stops reading and hangs
				// up (or after 30 s: then Read never returns).
				ferr := <-flooded
				select {
				case err := <-read:
					if !errors.Is(err, transport.ErrReadBudget) {
						t.Errorf("Read: %v, want ErrReadBudget", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the flood ended (%v) and Read returned nothing", ferr)
				}
			})
		}
	}
}
