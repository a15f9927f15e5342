package sockstate

import (
	"net"
	"testing"
	"time"
)

// TestPeerClosed: false while the peer is connected, also with unread
// octets; true once it has closed, although what it sent before is
// still unread.
func TestPeerClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if PeerClosed(c) {
		t.Fatal("closed while connected")
	}
	peer.Write(make([]byte, 4096)) // left unread
	time.Sleep(20 * time.Millisecond)
	if PeerClosed(c) {
		t.Fatal("closed with unread octets")
	}
	peer.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !PeerClosed(c) {
		if time.Now().After(deadline) {
			t.Fatal("peer's close not seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if PeerClosed(a) {
		t.Error("a pipe is not TCP")
	}
}
