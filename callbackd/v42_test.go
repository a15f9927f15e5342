package callbackd

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// sealedLink is the test link after Start: it remembers the transform.
type sealedLink struct {
	*xidLine
	tr auth.Transform
}

func testV42() V42 {
	return V42{
		Open: func(ctx context.Context, line transport.Line, _ Job) (V42Link, error) {
			return &sealedLink{xidLine: newXIDLine(line)}, nil
		},
		Start: func(ctx context.Context, link V42Link, tr auth.Transform) error {
			link.(*sealedLink).tr = tr
			return nil
		},
	}
}

// answerV42 answers one call on l as the original caller holding tickets.
func answerV42(t *testing.T, l transport.Listener, tickets ...*auth.CallerTicket) (*xidLine, auth.Transform, error) {
	line, err := l.Accept(t.Context())
	if err != nil {
		return nil, nil, err
	}
	x := newXIDLine(line)
	first, err := x.AcceptXID(t.Context())
	if err != nil {
		line.Close()
		return nil, nil, err
	}
	tr, err := auth.AcceptCallback(t.Context(), x, first, tickets...)
	if err != nil {
		io.Copy(io.Discard, line) // wait for the gateway to hang up
		line.Close()
		return nil, nil, err
	}
	return x, tr, nil
}

func TestV42CallbackConnected(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, callerTicket := ticketPair(t, a, b, "alice", "sim://alice", 42)
		l, _ := f.net.Listen("alice")
		defer l.Close()
		if err := f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket}); err != nil {
			t.Fatal(err)
		}
		x, callerTr, err := answerV42(t, l, callerTicket)
		if err != nil {
			t.Fatalf("AcceptCallback: %v", err)
		}
		defer x.Close()
		h := <-f.hand.ch
		defer h.s.Line.Close()
		gwTr := h.s.Conn.(*sealedLink).tr
		if gwTr == nil {
			t.Fatal("Start did not receive a transform")
		}
		// Both ends hold the fresh session keys of phase vi.
		sealed := gwTr.Seal(nil, []byte("data phase"))
		plain, err := callerTr.Open(nil, sealed)
		if err != nil || string(plain) != "data phase" {
			t.Fatalf("caller opened %q, %v", plain, err)
		}
		checkAttempts(t, f.rec.all(), Connected)
	})
}

func TestV42WrongTicketIsWrongParty(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, _ := ticketPair(t, a, b, "alice", "sim://alice", 42)
		c, d := linesim.NewPair(linesim.Config{Seed: 2})
		_, otherTicket := ticketPair(t, c, d, "alice", "sim://alice", 43)
		l, _ := f.net.Listen("alice")
		defer l.Close()
		f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})
		// Whoever answers holds another session's ticket: it refuses the
		// CALLBACK (REJECT denied) and the gateway hangs up for good.
		_, _, err := answerV42(t, l, otherTicket)
		if !errors.Is(err, auth.ErrTicketUnknown) {
			t.Errorf("answering side: %v, want ErrTicketUnknown", err)
		}
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, WrongParty)
		if _, ok := auth.RejectReason(got[0].Err); !ok {
			t.Errorf("error %v, want a REJECT", got[0].Err)
		}
	})
}

func TestV42ImpostorIsWrongParty(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, _ := ticketPair(t, a, b, "alice", "sim://alice", 42)
		l, _ := f.net.Listen("alice")
		defer l.Close()
		f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})
		// An impostor without the ticket answers with made-up octets.
		line, err := l.Accept(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		x := newXIDLine(line)
		if _, err := x.AcceptXID(t.Context()); err != nil {
			t.Fatal(err)
		}
		x.RespondXID([]byte{1, 6, 0xde, 0xad, 0xbe, 0xef})
		io.Copy(io.Discard, line)
		line.Close()
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, WrongParty)
		if !errors.Is(got[0].Err, ErrWrongParty) {
			t.Errorf("error %v", got[0].Err)
		}
	})
}

func TestV42TicketSpentNoRetry(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		f := newFixture(t, cfg, nil)
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, _ := ticketPair(t, a, b, "alice", "sim://alice", 42)
		l, _ := f.net.Listen("alice")
		defer l.Close()
		f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})
		// The line drops right after CALLBACK: the ticket is spent.
		line, err := l.Accept(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newXIDLine(line).AcceptXID(t.Context()); err != nil {
			t.Fatal(err)
		}
		line.Close()
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, HandshakeFailed)
		if !errors.Is(got[0].Err, ErrNoRetry) {
			t.Errorf("error %v", got[0].Err)
		}
	})
}

func TestV42OpenFailureRetried(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		opens := 0
		v := testV42()
		open := v.Open
		v.Open = func(ctx context.Context, line transport.Line, job Job) (V42Link, error) {
			opens++
			if opens == 1 {
				return nil, errors.New("no V.42 answer")
			}
			return open(ctx, line, job)
		}
		f := newFixture(t, testPolicy, Modes{V42: v})
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, callerTicket := ticketPair(t, a, b, "alice", "sim://alice", 42)
		l, _ := f.net.Listen("alice")
		defer l.Close()
		go func() { // the first call: the placer fails before CALLBACK
			if line, err := l.Accept(t.Context()); err == nil {
				io.Copy(io.Discard, line)
				line.Close()
			}
		}()
		f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})
		synctest.Wait()
		x, _, err := answerV42(t, l, callerTicket)
		if err != nil {
			t.Fatalf("second call: %v", err)
		}
		defer x.Close()
		h := <-f.hand.ch
		h.s.Line.Close()
		checkAttempts(t, f.rec.all(), HandshakeFailed, Connected)
	})
}

func TestModesWithoutPlacer(t *testing.T) {
	_, err := Modes{}.Place(t.Context(), nil, Job{Mode: ModeV42})
	if !errors.Is(err, ErrNoRetry) {
		t.Fatalf("Modes{} placed a V.42 callback: %v", err)
	}
}
