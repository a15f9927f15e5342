package ws

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// fakeClock replaces timeNow for a test: it stands still until advanced.
type fakeClock struct{ ns atomic.Int64 }

func freezeClock(t *testing.T) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	old := timeNow
	timeNow = func() time.Time { return time.Unix(0, c.ns.Load()) }
	t.Cleanup(func() { timeNow = old }) // registered first: runs after the server's cleanup
	return c
}

func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// rawPair accepts a call from a raw gorilla client (to send what our Line
// never would) on the binary subprotocol and returns both ends.
func rawPair(t *testing.T, s *server) (*websocket.Conn, *Line) {
	t.Helper()
	return rawPairProto(t, s, ProtoBinary)
}

// rawPairProto is rawPair on subprotocol proto.
func rawPairProto(t *testing.T, s *server, proto string) (*websocket.Conn, *Line) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	accepted := make(chan *Line, 1)
	go func() {
		l, err := s.l.AcceptWS(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- l
	}()
	d := websocket.Dialer{Subprotocols: []string{proto}}
	conn, _, err := d.DialContext(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := <-accepted
	if l == nil {
		conn.Close()
		t.FailNow()
	}
	t.Cleanup(func() { l.Close() })
	t.Cleanup(func() { conn.Close() }) // first: l.Close need not wait for a client that stopped reading
	watchdog(t, 20*time.Second, func() { conn.Close(); l.Close() })
	return conn, l
}

// syncReader sends a binary message through conn and reads it from l:
// every message conn sent before it has been handled by l's reader.
func syncReader(t *testing.T, conn *websocket.Conn, l *Line, mark string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte(mark)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(mark))
	if _, err := io.ReadFull(l, got); err != nil || string(got) != mark {
		t.Fatalf("Read %q, %v; want %q", got, err, mark)
	}
}

// TestBreakMessage: a "break" control message reaches Events as
// transport.EventBreak (what bridge/pump.go turns into the backend's
// interrupt, as for a telnet BREAK); a flood of them is passed on once per
// breakEvery, and nothing is logged for them.
func TestBreakMessage(t *testing.T) {
	testutil.CheckGoroutines(t)
	clock := freezeClock(t)
	s := startServer(t, Options{})
	conn, l := rawPair(t, s)

	var mu sync.Mutex
	var got []transport.Event
	consumed := make(chan struct{})
	go func() { // a consumer as bridge.forwardControl is, draining as breaks come
		defer close(consumed)
		for e := range l.Events() {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}
	}()
	count := func() []transport.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]transport.Event(nil), got...)
	}
	waitCount := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(count()) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}

	for range 300 {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"break"}`)); err != nil {
			t.Fatal(err)
		}
	}
	syncReader(t, conn, l, "a")
	waitCount(1)
	if ev := count(); len(ev) != 1 || ev[0] != transport.EventBreak {
		t.Fatalf("300 breaks at one instant gave events %v, want one break", ev)
	}

	// breakEvery later the next one is passed on (with members the
	// type does not know: ignored).
	clock.advance(breakEvery)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"break","length":300}`)); err != nil {
		t.Fatal(err)
	}
	syncReader(t, conn, l, "b")
	waitCount(2)
	if ev := count(); len(ev) != 2 || ev[1] != transport.EventBreak {
		t.Fatalf("events %v, want two breaks", ev)
	}
	for _, line := range s.log.snapshot() {
		t.Errorf("logged %q", line)
	}

	// Our own line sends breaks the listener understands.
	s2 := startServer(t, Options{})
	c2, l2 := pair(t, s2, DialOptions{})
	if err := c2.SendBreak(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-l2.Events():
		if e != transport.EventBreak {
			t.Errorf("event %v, want break", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("SendBreak: no event")
	}
	c3, _ := pair(t, s2, DialOptions{Subprotocol: ProtoPlain})
	if err := c3.SendBreak(); err != ErrNotBinary {
		t.Errorf("SendBreak on plain: %v, want ErrNotBinary", err)
	}

	l.Close()
	<-consumed // Events is closed when the line's reader stops
}

// TestPingPong: a "ping" control message is answered with a "pong" text
// message; a flood of pings gets one pong per pongEvery; no log lines.
func TestPingPong(t *testing.T) {
	testutil.CheckGoroutines(t)
	clock := freezeClock(t)
	s := startServer(t, Options{})
	conn, l := rawPair(t, s)

	readPong := func() {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, msg, err := conn.ReadMessage()
		if err != nil || typ != websocket.TextMessage || string(msg) != msgPong {
			t.Fatalf("read %d %q, %v; want the text message %s", typ, msg, err, msgPong)
		}
		if c, err := ParseControl(msg); err != nil || c.Type != ControlPong {
			t.Fatalf("the pong parses as %+v, %v", c, err)
		}
	}
	send := func(msg string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}

	send(`{"type":"ping"}`)
	readPong()

	// A flood at the same instant: no pong at all (one was sent just
	// now), then one after pongEvery.
	for range 300 {
		send(`{ "type" : "ping", "seq": 1 }`)
	}
	syncReader(t, conn, l, "x")
	if n := l.pongs.Load(); n != 1 {
		t.Fatalf("%d pongs for 301 pings at one instant, want 1", n)
	}
	clock.advance(pongEvery)
	for range 300 {
		send(`{"type":"ping"}`)
	}
	syncReader(t, conn, l, "y")
	if n := l.pongs.Load(); n != 2 {
		t.Fatalf("%d pongs after pongEvery, want 2", n)
	}
	readPong()

	// A pong from the peer is known and ignored.
	send(`{"type":"pong"}`)
	syncReader(t, conn, l, "z")
	for _, line := range s.log.snapshot() {
		t.Errorf("logged %q", line)
	}
}

// TestPongWithoutPings: a line that sends no pings of its own
// (PingInterval negative) still answers "ping".
func TestPongWithoutPings(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{PingInterval: -1})
	conn, _ := rawPair(t, s)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if typ, msg, err := conn.ReadMessage(); err != nil || typ != websocket.TextMessage || string(msg) != msgPong {
		t.Fatalf("read %d %q, %v; want %s", typ, msg, err, msgPong)
	}
}
