package sockstate

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// wrapped is a connection wrapper that offers NetConn (as the WebSocket
// listener's connection limiter does).
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func waitState(t *testing.T, c net.Conn, want State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for Peer(c) != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %v, want %v", Peer(c), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeer: Open while the peer is connected, also with unread octets;
// HalfClosed after its FIN, although what it sent before is unread; Gone
// after a reset; seen through wrappers with NetConn and through TLS.
func TestPeer(t *testing.T) {
	s, c := pair(t)
	if Peer(s) != Open {
		t.Fatalf("connected: %v", Peer(s))
	}
	c.Write(make([]byte, 4096)) // left unread
	time.Sleep(20 * time.Millisecond)
	if Peer(wrapped{s}) != Open {
		t.Fatalf("with unread octets: %v", Peer(s))
	}
	c.(*net.TCPConn).CloseWrite()
	waitState(t, wrapped{wrapped{s}}, HalfClosed)
	tc := tls.Server(wrapped{s}, &tls.Config{})
	if Peer(tc) != HalfClosed {
		t.Errorf("through TLS and a wrapper: %v", Peer(tc))
	}

	s, c = pair(t)
	s.Write([]byte("unread by the peer")) // closing with it unread resets
	time.Sleep(20 * time.Millisecond)
	c.Close()
	waitState(t, s, Gone)

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Peer(a) != Unknown {
		t.Error("a pipe is not TCP")
	}
}
