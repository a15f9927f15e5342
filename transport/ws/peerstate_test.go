package ws

import (
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPeerStateThroughListener: a line from Listen (its connection
// wrapped by the connection limits) tells its state without being read
// (the bridge asks while its upload to a backend is blocked): open while
// connected, read through the wrapper (before, the wrapper hid the TCP
// connection and the answer was always "unknown"), gone once the caller
// closed.
func TestPeerStateThroughListener(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t, 10*time.Second)
	accepted := make(chan *Line, 1)
	go func() {
		l, err := ln.Accept(ctx)
		if err != nil {
			t.Error(err)
			accepted <- nil
			return
		}
		accepted <- l.(*Line)
	}()
	c, err := Dial(ctx, ln.Addr(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.FailNow()
	}
	defer srv.Close()
	// Open, not Unknown: the TCP state is read through the limiter's
	// wrapper (NetConn).
	if st := srv.PeerState(); st != sockstate.Open {
		t.Fatalf("connected: %v", st)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for st := srv.PeerState(); st != sockstate.Gone; st = srv.PeerState() {
		if time.Now().After(deadline) {
			t.Fatalf("the caller's close not seen: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
