package callbackd

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestDialLineOpensTelnet: a callback to a telnet:// address opens the
// telnet negotiation, so that a modem emulator that answers (tcpser)
// takes the call for telnet; a tcp:// callback sends nothing but data.
func TestDialLineOpensTelnet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		scheme string
		want   []byte
	}{
		{"telnet", []byte{255, 253, 0, 255, 253, 3, 'x'}}, // IAC DO BINARY, IAC DO SGA
		{"tcp", []byte{'x'}},
	} {
		line, err := DialLine(ctx, c.scheme+"://"+ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		peer.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := line.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(c.want))
		if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: the peer read % x, %v; want % x", c.scheme, got, err, c.want)
		}
		peer.Close() // first: the line's Close waits for the peer's FIN
		line.Close()
	}
}
