package callbackd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// TestNewDialsWithDialLine: a Service from New with no Options.Dial places
// its callbacks with DialLine, so that a callback to a telnet:// address
// opens the telnet negotiation (IAC DO BINARY, IAC DO SGA) before the
// proof's first octet, as a modem emulator that answers (tcpser) needs.
func TestNewDialsWithDialLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	place := PlacerFunc(func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
		if _, err := line.Write([]byte("x")); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("test placer: %w", ErrNoRetry) // the Service hangs up
	})
	svc, err := New(Options{
		Config:  Config{Attempts: 1, DialTimeout: 30 * time.Second, HandshakeTimeout: 30 * time.Second},
		Place:   place,
		Handoff: newHandoffs().fn,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	job := Job{Session: 1, User: "alice", Address: "telnet://" + ln.Addr().String(), Mode: ModeText, Listener: "telnet", Remote: "192.0.2.1:1"}
	if err := svc.Schedule(job); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(30 * time.Second))
	want := []byte{255, 253, 0, 255, 253, 3, 'x'} // IAC DO BINARY, IAC DO SGA, the proof
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the callee read % x, %v; want % x (the default dialler is not DialLine)", got, err, want)
	}
}
