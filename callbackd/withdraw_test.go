package callbackd

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestCancelWithdrawsJob: Cancel removes a job as if it had never been
// scheduled (a V.42 CONFIRM that could not be sent): it dials no more,
// ends with one Withdrawn record, frees the user and the address, and a
// second Cancel finds nothing. The job it superseded stays superseded.
func TestCancelWithdrawsJob(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, _ := f.net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		if err := f.svc.Schedule(textJob(1, "bob")); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Schedule(textJob(2, "bob")); err != nil {
			t.Fatal(err)
		}
		if !f.svc.Cancel(2) {
			t.Fatal("Cancel(2) found no job")
		}
		if f.svc.Cancel(2) || f.svc.Cancel(1) {
			t.Error("Cancel found a job already ended")
		}
		if n := f.svc.Pending(); n != 0 {
			t.Errorf("%d pending after Cancel", n)
		}
		time.Sleep(time.Hour)
		if calls, _ := party.counts(); calls != 0 {
			t.Errorf("bob was called %d times", calls)
		}
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Superseded)
		checkAttempts(t, m[2], Withdrawn)
		if a := m[2][0]; a.Number != 0 || a.Dials != 0 || !errors.Is(a.Err, ErrWithdrawn) {
			t.Errorf("withdrawn job: %+v", a)
		}
		// The address is free for another user again.
		if err := f.svc.Schedule(Job{Session: 3, User: "bea", Address: "sim://bob", Mode: ModeText}); err != nil {
			t.Errorf("after Cancel: %v", err)
		}
	})
}

// TestCancelHangsUpAttempt: a job withdrawn during its proof is hung up
// and not retried.
func TestCancelHangsUpAttempt(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, _ := f.net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		f.svc.Schedule(textJob(1, "bob"))
		time.Sleep(testPolicy.Delay + 5*time.Second) // in the proof
		f.svc.Cancel(1)
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, Withdrawn)
		if a := got[0]; a.Number != 1 || !errors.Is(a.Err, ErrWithdrawn) {
			t.Errorf("withdrawn attempt: %+v", a)
		}
		if calls, _ := party.counts(); calls != 1 {
			t.Errorf("bob was called %d times, want the one hung up", calls)
		}
	})
}

// TestSpentTicketNotDialled: a V.42 job whose ticket was wiped after it
// was scheduled (its CONFIRM could not be sent) does not ring the user's
// line: it ends Withdrawn without a dial.
func TestSpentTicketNotDialled(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, _ := ticketPair(t, a, b, "alice", "sim://alice", 42)
		l, _ := f.net.Listen("alice")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		if err := f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket}); err != nil {
			t.Fatal(err)
		}
		gwTicket.Wipe()
		time.Sleep(time.Hour)
		if calls, _ := party.counts(); calls != 0 {
			t.Errorf("alice was called %d times", calls)
		}
		got := f.rec.all()
		checkAttempts(t, got, Withdrawn)
		if a := got[0]; a.Number != 0 || a.Dials != 0 || !errors.Is(a.Err, ErrWithdrawn) {
			t.Errorf("record: %+v", a)
		}
	})
}

// TestV42PlaceRefusesSpentTicket: V42.Place does not bring up LAPM (the
// user's line through detection) with a ticket that cannot be placed.
func TestV42PlaceRefusesSpentTicket(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := linesim.NewPair(linesim.Config{Seed: 1})
	gwTicket, _ := ticketPair(t, a, b, "alice", "sim://alice", 42)
	gwTicket.Wipe()
	opened := false
	v := testV42()
	v.Open = func(ctx context.Context, line transport.Line, _ Job) (V42Link, error) {
		opened = true
		return nil, errors.New("test: Open called")
	}
	c, d := linesim.NewPair(linesim.Config{Seed: 2})
	defer c.Close()
	defer d.Close()
	_, err := v.Place(t.Context(), c, Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})
	if !errors.Is(err, ErrNoRetry) || !errors.Is(err, auth.ErrTicketUsed) || opened {
		t.Errorf("Place: %v (Open called: %v)", err, opened)
	}
}

// TestTicketWipedWhenJobEnds: a V.42 job that ends without a handoff
// (superseded, failed, expired) leaves no key material behind; a
// handed-off ticket is used up.
func TestTicketWipedWhenJobEnds(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 1
		f := newFixture(t, cfg, nil)
		tickets := make([]*auth.Ticket, 3)
		callers := make([]*auth.CallerTicket, 3)
		for i := range tickets {
			a, b := linesim.NewPair(linesim.Config{Seed: int64(i + 1)})
			tickets[i], callers[i] = ticketPair(t, a, b, "alice", "sim://alice", uint64(i+1))
		}
		job := func(i int) Job {
			return Job{Session: uint64(i + 1), User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: tickets[i]}
		}
		// 1 is superseded by 2, which fails (no one answers).
		f.svc.Schedule(job(0))
		f.svc.Schedule(job(1))
		time.Sleep(10 * time.Minute) // the tickets live an hour
		for i, tk := range tickets[:2] {
			if !tk.Spent() {
				t.Errorf("ticket %d not wiped after its job ended", i+1)
			}
		}
		// 3 is proved and handed off.
		l, _ := f.net.Listen("alice")
		defer l.Close()
		f.svc.Schedule(job(2))
		x, _, err := answerV42(t, l, callers[2])
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		h := <-f.hand.ch
		h.s.Line.Close()
		if !tickets[2].Spent() {
			t.Error("handed-off ticket still placeable")
		}
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Superseded)
		checkAttempts(t, m[2], DialFailed)
		checkAttempts(t, m[3], Connected)
	})
}

// slowPlacer fails every proof, taking its time to notice the end of ctx
// (as a modem does to drop carrier), and counts the proofs running at
// once.
type slowPlacer struct {
	mu          sync.Mutex
	calls, open int
	peak        int
}

func (p *slowPlacer) Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
	p.mu.Lock()
	p.calls++
	p.open++
	p.peak = max(p.peak, p.open)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		time.Sleep(2 * time.Second)
		return nil, context.Cause(ctx)
	case <-time.After(10 * time.Second):
		return nil, errors.New("test: no proof")
	}
}

// TestSupersedeWithoutDelayWaits: with no [callback] delay, the new job
// of a user still waits for the superseded one to let go of its line: a
// slow proof being hung up never overlaps the new one.
func TestSupersedeWithoutDelayWaits(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Delay, cfg.Attempts = 0, 1
		p := &slowPlacer{}
		f := newFixture(t, cfg, p)
		l, _ := f.net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		f.svc.Schedule(textJob(1, "bob"))
		time.Sleep(time.Second) // in the proof
		f.svc.Schedule(textJob(2, "bob"))
		time.Sleep(time.Hour)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.calls != 2 || p.peak != 1 {
			t.Errorf("%d proofs, %d at once; want 2, 1", p.calls, p.peak)
		}
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Superseded)
		checkAttempts(t, m[2], HandshakeFailed)
	})
}

// hookClock is the system clock (fake inside synctest) that runs hook,
// once, at the first Now after arm.
type hookClock struct {
	SystemClock
	mu    sync.Mutex
	armed bool
	hook  func()
}

func (c *hookClock) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

func (c *hookClock) Now() time.Time {
	c.mu.Lock()
	run := c.armed
	c.armed = false
	c.mu.Unlock()
	if run {
		c.hook()
	}
	return c.SystemClock.Now()
}

// TestSupersededAfterProof: a request that arrives after the older job's
// proof succeeded but before it was handed off hangs that proved line up
// (Superseded, "proved callback hung up"); only the newer job is handed
// off, so one user never gets two sessions.
func TestSupersededAfterProof(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 1
		var svc *Service
		clock := &hookClock{}
		clock.hook = func() {
			if err := svc.Schedule(textJob(2, "bob")); err != nil {
				t.Errorf("second request: %v", err)
			}
		}
		// Proofs succeed at once; the first arms the clock, whose next
		// Now is the job's, between the proof and the handoff.
		var first sync.Once
		place := PlacerFunc(func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
			first.Do(clock.arm)
			return line, nil
		})
		rec, hand := &records{}, newHandoffs()
		net := linesim.NewNetwork()
		svc, err := New(Options{Config: cfg, Dial: net.Dial, Place: place, Handoff: hand.fn, Recorder: rec, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		l, _ := net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		svc.Schedule(textJob(1, "bob"))
		time.Sleep(time.Hour)
		var handed []uint64
		for len(hand.ch) > 0 {
			h := <-hand.ch
			handed = append(handed, h.job.Session)
			h.s.Line.Close()
		}
		if len(handed) != 1 || handed[0] != 2 {
			t.Errorf("sessions handed off: %v, want [2]", handed)
		}
		m := bySession(rec.all())
		checkAttempts(t, m[1], Superseded)
		if a := m[1][0]; !errors.Is(a.Err, ErrSuperseded) || !strings.Contains(a.Err.Error(), "proved callback hung up") {
			t.Errorf("superseded after the proof: %+v", a)
		}
		checkAttempts(t, m[2], Connected)
		if calls, peak := party.counts(); calls != 2 || peak != 1 {
			t.Errorf("bob answered %d calls, %d at once; want 2, 1", calls, peak)
		}
	})
}

// TestWithdrawIf: the jobs an operator's change made stale (an account
// disabled, deleted, or given another callback address while its
// callback waited) are withdrawn with the reason in their record and
// dial no more; the others go on.
func TestWithdrawIf(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, _ := f.net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		if err := f.svc.Schedule(textJob(1, "bob")); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Schedule(Job{Session: 2, User: "cai", Address: "sim://cai", Mode: ModeText}); err != nil {
			t.Fatal(err)
		}
		got := f.svc.WithdrawIf(func(j Job) string {
			if j.User == "bob" {
				return "the account is disabled"
			}
			return ""
		})
		if len(got) != 1 || got[0] != 1 {
			t.Fatalf("withdrew %v, want [1]", got)
		}
		if n := f.svc.Pending(); n != 1 {
			t.Errorf("%d pending, want cai's", n)
		}
		time.Sleep(time.Hour)
		if calls, _ := party.counts(); calls != 0 {
			t.Errorf("bob was called %d times", calls)
		}
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Withdrawn)
		if a := m[1][0]; !errors.Is(a.Err, ErrWithdrawn) || !strings.Contains(a.Err.Error(), "the account is disabled") {
			t.Errorf("withdrawn job: %+v", a)
		}
		if len(m[2]) == 0 || m[2][len(m[2])-1].Result == Withdrawn {
			t.Errorf("cai's job: %+v", m[2])
		}
	})
}
