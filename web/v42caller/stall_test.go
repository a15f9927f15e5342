package v42caller

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// TestStallWatchSample: two T401 expiries with no frame heard make a
// stall, reported once, with how long the link has waited and how long
// it waits more; a frame heard ends it.
func TestStallWatchSample(t *testing.T) {
	var w StallWatch
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	st := lapm.Stats{FramesReceived: 5, T401Expiries: 3, T401: time.Second}
	sample := func(now time.Time, wantChanged bool, want Stall) {
		t.Helper()
		got, changed := w.Sample(now, st)
		if changed != wantChanged || got != want {
			t.Fatalf("at %v with %+v: %+v changed %v, want %+v changed %v", now.Sub(t0), st, got, changed, want, wantChanged)
		}
	}
	sample(at(0), false, Stall{})
	// Idle: nothing heard, nothing expired (the link waits for T403).
	sample(at(9*time.Second), false, Stall{})
	// The idle poll's T401 expires: one poll unanswered, not a stall yet.
	st.T401Expiries++
	sample(at(11*time.Second), false, Stall{})
	// The second expiry: stalled, waiting since about 10 s.
	st.T401Expiries++
	want := Stall{Stalled: true, Silent: 2 * time.Second, Left: 9 * time.Second}
	sample(at(12*time.Second), true, want)
	// Still stalled: no change reported.
	st.T401Expiries++
	sample(at(13*time.Second), false, Stall{Stalled: true, Silent: 3 * time.Second, Left: 8 * time.Second})
	// A frame heard: connected again.
	st.FramesReceived++
	sample(at(13500*time.Millisecond), true, Stall{})
	sample(at(14*time.Second), false, Stall{})

	// Input sent a moment after a frame was heard: the wait starts no
	// earlier than that frame.
	st.T401Expiries++
	sample(at(14200*time.Millisecond), false, Stall{})
	st.T401Expiries++
	sample(at(15500*time.Millisecond), true, Stall{Stalled: true, Silent: 2 * time.Second, Left: 9 * time.Second})
	// Past the last poll the time left is none, not negative.
	st.T401Expiries += 20
	sample(at(30*time.Second), false, Stall{Stalled: true, Silent: 16500 * time.Millisecond})
}

// TestWatchStallLink: a real session whose gateway stops being heard
// (its frames to the caller are lost) is reported stalled well before
// the link gives up, and connected again once the gateway is heard; the
// session then works as before.
func TestWatchStallLink(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key, err := auth.GenerateHostKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Bool // the gateway's frames to the caller are lost
	var c, g *Line
	c = NewLine(func(p []byte) error { return g.Feed(p) }, func() { g.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
	g = NewLine(func(p []byte) error {
		if lost.Load() {
			return nil
		}
		return c.Feed(p)
	}, func() { c.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
	tg := &testGateway{key: key, done: make(chan error, 1)}
	go tg.answer(ctx, g)
	const t401 = 200 * time.Millisecond // the link gives up after 11 × T401
	s, err := Call(ctx, c, Config{UserID: "alice", Password: []byte("pw"), Host: "test:1", T401: t401,
		CheckHostKey: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	reports := make(chan Stall, 8)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		WatchStall(s.Link, done, func(st Stall) { reports <- st })
	}()
	defer func() {
		close(done)
		<-watched
		s.Link.Close()
		<-tg.done
	}()

	lost.Store(true)
	began := time.Now()
	if _, err := s.Link.Write([]byte("typed while the gateway is not heard\r\n")); err != nil {
		t.Fatal(err)
	}
	var st Stall
	select {
	case st = <-reports:
	case <-time.After(5 * time.Second):
		t.Fatal("no stall reported")
	}
	took := time.Since(began)
	if !st.Stalled || st.Silent < t401 || st.Left <= 0 || st.Left > (lapm.DefaultN400+1)*t401 {
		t.Fatalf("report %+v", st)
	}
	if took >= (lapm.DefaultN400+1)*t401 {
		t.Fatalf("stall reported after %v, when the link gives up after %v", took, (lapm.DefaultN400+1)*t401)
	}
	lost.Store(false)
	select {
	case st = <-reports:
	case <-time.After(5 * time.Second):
		t.Fatal("no end of the stall reported")
	}
	if st.Stalled {
		t.Fatalf("report %+v, want connected again", st)
	}
	// The echo of what was typed during the stall arrives (the gateway
	// retransmits what was lost), and the session goes on.
	msg := []byte("typed while the gateway is not heard\r\n")
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(s.Link, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
	if _, err := s.Link.Write([]byte("after\r\n")); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len("after\r\n"))
	if _, err := io.ReadFull(s.Link, got); err != nil || string(got) != "after\r\n" {
		t.Fatalf("echo %q, %v", got, err)
	}
	select {
	case st = <-reports:
		t.Fatalf("unexpected report %+v", st)
	default:
	}
}
