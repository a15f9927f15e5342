package callbackd

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// TestUnprovedLineReadBudget: the party that answers a callback may send
// at most unprovedReadBudget octets before it has proved the callback.
// Here it sends 2 MiB, twice that, in 8-bit octets, which the confirmation
// prompt ignores, then types the user name: the attempt fails on the
// budget instead (before, the flood was read to its end and the callback
// accepted; security trial: 3.73 GB in 11 s until handshake_timeout).
func TestUnprovedLineReadBudget(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec, hand := &records{}, newHandoffs()
	cfg := Config{
		Delay: time.Millisecond, Attempts: 1, Backoff: time.Second, Expiry: 10 * time.Minute,
		MaxConcurrent: 1, DialTimeout: time.Minute, HandshakeTimeout: 5 * time.Minute,
	}
	svc, err := New(Options{Config: cfg, Place: TextConfirm{Name: "testgw"}, Handoff: hand.fn, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	job := Job{Session: 9, User: "carol", Address: "tcp://" + ln.Addr().String(), Mode: ModeText, Listener: "telnet", Remote: "192.0.2.1:1"}
	if err := svc.Schedule(job); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.Copy(io.Discard, c)      // the prompt
	testutil.Flood(c, 0x80, 2<<20) // twice the budget, or until hung up
	_, _ = io.WriteString(c, "carol\r")
	var got []Attempt
	for deadline := time.Now().Add(time.Minute); len(got) == 0; got = rec.all() {
		if time.Now().After(deadline) {
			t.Fatal("no attempt recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case h := <-hand.ch:
		h.s.Conn.Close()
		h.s.Line.Close()
	default:
	}
	if a := got[0]; a.Result != HandshakeFailed || !errors.Is(a.Err, transport.ErrReadBudget) {
		t.Fatalf("attempt %v (%v), want %v for the read budget", a.Result, a.Err, HandshakeFailed)
	}
}
