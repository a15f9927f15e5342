package bridge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestBusyMessage: a caller turned away hears why, under the gateway's
// name, before the BUSY result line, which stays last; the hold-off is
// told in whole seconds rounded up, on telnet-modem and WebSocket lines;
// other lines (in-memory) hear the bare BUSY.
func TestBusyMessage(t *testing.T) {
	for _, c := range []struct {
		transport string
		why       busyReason
		left      time.Duration
		want      string
	}{
		{"tcp", busyHoldoff, 2 * time.Second, "\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n"},
		{"telnet", busyHoldoff, 1200 * time.Millisecond, "\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n"},
		{"tcp", busyHoldoff, 0, "\r\ngw: redialled too soon; try again in 1 s\r\nBUSY\r\n"},
		{"tcp", busyHoldoff, time.Millisecond, "\r\ngw: redialled too soon; try again in 1 s\r\nBUSY\r\n"},
		{"tcp", busyFull, 0, "\r\ngw: all lines busy; try again later\r\nBUSY\r\n"},
		{"tcp", busyPerSource, 0, "\r\ngw: too many calls from your address; hang up one first\r\nBUSY\r\n"},
		{"tcp", busyMaintenance, 0, "\r\ngw: down for maintenance; try again later\r\nBUSY\r\n"},
		{"tcp", busyDraining, 0, "\r\ngw: shutting down; try again later\r\nBUSY\r\n"},
		{"ws", busyHoldoff, 2 * time.Second, "\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n"},
		{"ws", busyFull, 0, "\r\ngw: all lines busy; try again later\r\nBUSY\r\n"},
		{"wss", busyFull, 0, "\r\ngw: all lines busy; try again later\r\nBUSY\r\n"},
		{"sim", busyFull, 0, "BUSY\r\n"},
		{"tcp", busyReason("something new"), 0, "BUSY\r\n"},
	} {
		if got := busyMessage("gw", c.transport, c.why, c.left); got != c.want {
			t.Errorf("busyMessage(%q, %q, %v) = %q, want %q", c.transport, c.why, c.left, got, c.want)
		}
	}
}

// TestBusyHoldoffSaysWhenToRedial: a caller who calls again within the
// hold-off hears how long is left (rounded up) before BUSY; the record's
// reason is unchanged.
func TestBusyHoldoffSaysWhenToRedial(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.Holdoff.Duration = 3 * time.Second
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The hold-off runs on the injected clock (the write deadlines for
	// the gateway's last words are wall-clock time since 89c2540).
	clock := &fakeClock{now: time.Now()}
	s, err := New(Options{Config: c, Store: st, Verifier: &fakeVerifier{users: map[string]string{"a": "b"}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, done1 := tcpSimCall(t, s)
	expect(t, first, "login: ")
	first.Close()
	<-done1
	clock.advance(1500 * time.Millisecond)
	second, done2 := tcpSimCall(t, s)
	if out, want := readAll(second), "\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n"; out != want {
		t.Errorf("caller within the hold-off heard %q, want %q", out, want)
	}
	<-done2
	recs := records(t, st)
	if len(recs) != 2 || recs[1].Result != store.ResultBusy || recs[1].Reason != string(busyHoldoff) {
		t.Fatalf("records: %+v", recs)
	}
}

// TestBusyDrainingSaysShuttingDown: a call that arrives after Shutdown
// began hears that the gateway is shutting down, then BUSY.
func TestBusyDrainingSaysShuttingDown(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	s, _ := newTestServer(t, c, &fakeVerifier{users: map[string]string{"a": "b"}})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "sim"})
	heard := make(chan string, 1)
	go func() { heard <- readAll(a) }()
	if err := s.HandleLine("test", asTCP{b}); !errors.Is(err, ErrShutdown) {
		t.Errorf("HandleLine while draining: %v, want ErrShutdown", err)
	}
	if out, want := <-heard, "\r\ndialgate: shutting down; try again later\r\nBUSY\r\n"; out != want {
		t.Errorf("caller heard %q, want %q", out, want)
	}
}

// asTCP is a simulated line that the gateway takes for a telnet-modem
// (tcp) line, where callers hear why they are busy.
type asTCP struct{ *linesim.Line }

func (l asTCP) Info() transport.LineInfo {
	info := l.Line.Info()
	info.Transport = "tcp"
	return info
}

// tcpSimCall is simCall on an asTCP line.
func tcpSimCall(t testing.TB, s *Server) (transport.Line, <-chan struct{}) {
	t.Helper()
	a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "sim"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.HandleLine("test", asTCP{b}); err != nil {
			t.Error(err)
		}
	}()
	return a, done
}

// TestBusyFullAndMaintenanceSayWhy: with every line in use, and in
// maintenance, a telnet-modem caller hears why before BUSY; a simulated
// (non-telnet) line hears the bare BUSY.
func TestBusyFullAndMaintenanceSayWhy(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent = 1
	s, _ := newTestServer(t, c, &fakeVerifier{users: map[string]string{"a": "b"}})
	first, done1 := simCall(t, s)
	expect(t, first, "login: ")
	second, done2 := tcpSimCall(t, s)
	if out, want := readAll(second), "\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n"; out != want {
		t.Errorf("all lines busy: heard %q, want %q", out, want)
	}
	<-done2
	third, done3 := simCall(t, s)
	if out := readAll(third); out != "BUSY\r\n" {
		t.Errorf("all lines busy, sim line: heard %q, want the bare BUSY", out)
	}
	<-done3
	first.Close()
	<-done1

	c2 := *c
	c2.Lines.Maintenance = true
	if err := s.Reload(&c2, nil); err != nil {
		t.Fatal(err)
	}
	line, done := tcpSimCall(t, s)
	if out, want := readAll(line), "\r\ndialgate: down for maintenance; try again later\r\nBUSY\r\n"; out != want {
		t.Errorf("maintenance: heard %q, want %q", out, want)
	}
	<-done
}

// TestBusyMessageNameNotASCII: a gateway_name that is not printable ASCII
// ("Café BBS") would make the callers take the BUSY for a hang-up: the
// reason goes alone.
func TestBusyMessageNameNotASCII(t *testing.T) {
	for _, name := range []string{"Café BBS", "gw\tx", "Ω"} {
		want := "\r\nall lines busy; try again later\r\nBUSY\r\n"
		if got := busyMessage(name, "telnet", busyFull, 0); got != want {
			t.Errorf("busyMessage(%q) = %q, want %q", name, got, want)
		}
	}
}

// budgetLine is a simulated line that notes the read budget it had when
// it was closed (-1: none).
type budgetLine struct {
	*linesim.Line
	mu              sync.Mutex
	budget, atClose int64
}

func (l *budgetLine) SetReadBudget(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.budget = n
}

func (l *budgetLine) Close() error {
	l.mu.Lock()
	l.atClose = l.budget
	l.mu.Unlock()
	return l.Line.Close()
}

// TestBusyCallerHasReadBudget: a BUSY caller's line has a read budget
// (busyReadBudget) when it is hung up, so that what the caller sends
// while the close waits for it is bounded (hostile-peer trial: a caller that
// flooded each of its BUSY calls had every octet discarded until the
// linger ended, 70 % of a core for one such caller).
func TestBusyCallerHasReadBudget(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.Maintenance = true
	s, _ := newTestServer(t, c, &fakeVerifier{users: map[string]string{"a": "b"}})
	a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "sim"})
	l := &budgetLine{Line: b, budget: -1}
	heard := make(chan string, 1)
	go func() { heard <- readAll(a) }()
	if err := s.HandleLine("test", l); err != nil {
		t.Fatal(err)
	}
	if out := <-heard; out != "BUSY\r\n" {
		t.Errorf("heard %q, want BUSY", out)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.atClose != busyReadBudget {
		t.Errorf("read budget at hang-up %d, want %d", l.atClose, busyReadBudget)
	}
}
