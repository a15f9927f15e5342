package callbackd

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// silentParty answers every call on l and says nothing until the gateway
// hangs up. It counts the calls, and the most it had open at once.
type silentParty struct {
	mu                sync.Mutex
	calls, open, peak int
	wg                sync.WaitGroup
}

func answerSilently(t *testing.T, l transport.Listener) *silentParty {
	p := &silentParty{}
	p.wg.Go(func() {
		for {
			line, err := l.Accept(t.Context())
			if err != nil {
				return
			}
			p.mu.Lock()
			p.calls++
			p.open++
			p.peak = max(p.peak, p.open)
			p.mu.Unlock()
			p.wg.Go(func() {
				io.Copy(io.Discard, line) // until the gateway hangs up
				line.Close()
				p.mu.Lock()
				p.open--
				p.mu.Unlock()
			})
		}
	})
	return p
}

// waitCalls waits until the party has answered n calls (the gateway's
// dial runs on its own timer), failing t after 30 s.
func (p *silentParty) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if calls, _ := p.counts(); calls >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the party at the address answered fewer than %d calls in 30 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *silentParty) counts() (calls, peak int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.peak
}

// bySession groups records by session.
func bySession(recs []Attempt) map[uint64][]Attempt {
	m := map[uint64][]Attempt{}
	for _, a := range recs {
		m[a.Session] = append(m[a.Session], a)
	}
	return m
}

// TestSecondRequestSupersedes: a user who asks again while a callback is
// waiting out its delay gets one callback, the newer one: the older job
// ends with a Superseded record and no dial, and one dial sequence (three
// silent answers) follows.
func TestSecondRequestSupersedes(t *testing.T) {
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
			t.Fatalf("second request: %v", err)
		}
		if n := f.svc.Pending(); n != 1 {
			t.Errorf("%d pending, want 1", n)
		}
		time.Sleep(time.Hour)
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Superseded)
		if a := m[1][0]; a.Number != 0 || a.Dials != 0 || !errors.Is(a.Err, ErrSuperseded) || !a.End.Equal(f.t0) {
			t.Errorf("superseded job: %+v", a)
		}
		checkAttempts(t, m[2], HandshakeFailed, HandshakeFailed, HandshakeFailed)
		if !m[2][0].Start.Equal(f.t0.Add(testPolicy.Delay)) {
			t.Errorf("new job dialled at %v", m[2][0].Start.Sub(f.t0))
		}
		if calls, _ := party.counts(); calls != 3 {
			t.Errorf("%d calls to bob, want one sequence of 3", calls)
		}
	})
}

// TestSupersedeHangsUpAttempt: a request that arrives while the user's
// older callback is being proved hangs that line up; the new job waits for
// it, then its own delay, so the user never has two calls at once.
func TestSupersedeHangsUpAttempt(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 1
		f := newFixture(t, cfg, nil)
		l, _ := f.net.Listen("bob")
		party := answerSilently(t, l)
		defer party.wg.Wait()
		defer l.Close()
		f.svc.Schedule(textJob(1, "bob"))
		time.Sleep(cfg.Delay + 5*time.Second) // in the proof since 3 s
		if err := f.svc.Schedule(textJob(2, "bob")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		m := bySession(f.rec.all())
		checkAttempts(t, m[1], Superseded)
		if a := m[1][0]; a.Number != 1 || !errors.Is(a.Err, ErrSuperseded) || !a.End.Equal(f.t0.Add(8*time.Second)) {
			t.Errorf("superseded attempt: %+v", a)
		}
		checkAttempts(t, m[2], HandshakeFailed)
		if got, want := m[2][0].Start.Sub(f.t0), 8*time.Second+cfg.Delay; got != want {
			t.Errorf("new job dialled at %v, want %v", got, want)
		}
		if calls, peak := party.counts(); calls != 2 || peak != 1 {
			t.Errorf("bob answered %d calls, %d at once; want 2, 1", calls, peak)
		}
	})
}

// TestSharedAddressRefused: two accounts with one callback address get
// one callback at a time; the second user's request is refused, not
// allowed to cancel the first user's.
func TestSharedAddressRefused(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		alice, bob := textJob(1, "alice"), textJob(2, "bob")
		bob.Address = alice.Address
		if err := f.svc.Schedule(alice); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Schedule(bob); !errors.Is(err, ErrAddressBusy) {
			t.Fatalf("second user on the same address: %v, want ErrAddressBusy", err)
		}
		// alice asking again replaces her own, on the same address.
		if err := f.svc.Schedule(textJob(3, "alice")); err != nil {
			t.Fatalf("alice again: %v", err)
		}
		time.Sleep(time.Hour)
		m := bySession(f.rec.all())
		if len(m[2]) != 0 {
			t.Errorf("refused job recorded: %+v", m[2])
		}
		checkAttempts(t, m[1], Superseded)
		checkAttempts(t, m[3], DialFailed, DialFailed, DialFailed)
		if f.svc.Pending() != 0 {
			t.Errorf("%d pending", f.svc.Pending())
		}
		// Once alice's callback is over, bob's can be scheduled.
		if err := f.svc.Schedule(bob); err != nil {
			t.Errorf("bob after alice's callback ended: %v", err)
		}
	})
}

// TestOneUserCannotStarveOthers is the trial's case: one user asks for a
// callback 8 times at once, with a silent party at the address, and the
// pending bound is small. The user's requests make one dial sequence on
// one slot; another user's callback, asked for afterwards, is placed at
// once, not left to expire waiting for a line.
func TestOneUserCannotStarveOthers(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.MaxConcurrent, cfg.MaxPending, cfg.HandshakeTimeout = 4, 2, 30*time.Second
		f := newFixture(t, cfg, nil)
		lb, _ := f.net.Listen("bob")
		party := answerSilently(t, lb)
		defer party.wg.Wait()
		defer lb.Close()
		lc, _ := f.net.Listen("carol")
		defer lc.Close()
		for i := range 8 {
			if err := f.svc.Schedule(textJob(uint64(1+i), "bob")); err != nil {
				t.Fatalf("bob's request %d: %v", i+1, err)
			}
		}
		if err := f.svc.Schedule(textJob(20, "carol")); err != nil {
			t.Fatalf("carol: %v", err)
		}
		line, _ := answerText(t, lc, "carol\r\n")
		defer line.Close()
		h := <-f.hand.ch
		h.s.Conn.Close()
		h.s.Line.Close()
		if h.job.Session != 20 || h.s.Attempts != 1 {
			t.Errorf("handoff: %+v", h)
		}
		time.Sleep(time.Hour)
		m := bySession(f.rec.all())
		for s := uint64(1); s < 8; s++ {
			checkAttempts(t, m[s], Superseded)
		}
		// The third proof is cut by the expiry, 27 s into its 30.
		checkAttempts(t, m[8], HandshakeFailed, HandshakeFailed, Expired)
		checkAttempts(t, m[20], Connected)
		if a := m[20][0]; !a.Start.Equal(f.t0.Add(cfg.Delay)) {
			t.Errorf("carol dialled at %v, want after the delay", a.Start.Sub(f.t0))
		}
		if calls, peak := party.counts(); calls != 3 || peak != 1 {
			t.Errorf("bob answered %d calls, %d at once; want 3, 1", calls, peak)
		}
		if err := f.svc.Schedule(textJob(30, "dave")); err != nil {
			t.Errorf("after the jobs ended: %v", err)
		}
	})
}

// TestPendingBoundCountsUsers: MaxPending counts users' jobs, and a
// request that replaces one is not refused by it.
func TestPendingBoundCountsUsers(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.MaxPending = 2
		f := newFixture(t, cfg, nil)
		for i, u := range []string{"a", "b", "a", "b", "a"} {
			if err := f.svc.Schedule(textJob(uint64(i+1), u)); err != nil {
				t.Fatalf("request %d of %s: %v", i+1, u, err)
			}
		}
		if err := f.svc.Schedule(textJob(9, "c")); !errors.Is(err, ErrFull) {
			t.Errorf("third user: %v, want ErrFull", err)
		}
		if n := f.svc.Pending(); n != 2 {
			t.Errorf("%d pending, want 2", n)
		}
		f.svc.Close()
		got := f.rec.all()
		results := map[Result]int{}
		for _, a := range got {
			results[a.Result]++
		}
		if want := map[Result]int{Superseded: 3, Shutdown: 2}; fmt.Sprint(results) != fmt.Sprint(want) {
			t.Errorf("records %v, want %v", results, want)
		}
	})
}

// TestLineKey: one line is one key in the pending callbacks however the
// users file spells its address (audit: with a trailing "/" or the host
// in another case, a second account's callback to the same line was
// scheduled beside the first's).
func TestLineKey(t *testing.T) {
	same := [][]string{
		{"telnet://gw.example:2323", "telnet://GW.Example:2323/", "TELNET://gw.example:02323"},
		{"tcp://[2001:db8::1]:23", "tcp://[2001:DB8:0::1]:23/"},
		{"telnet://192.0.2.7:2323", "telnet://192.0.2.7:2323/"},
		// One socket, whatever is spoken on it (callback trial).
		{"telnet://gw.example:2323", "tcp://gw.example:2323", "tls://gw.example:2323"},
	}
	for _, group := range same {
		for _, a := range group[1:] {
			if lineKey(a) != lineKey(group[0]) {
				t.Errorf("lineKey(%q) = %q, lineKey(%q) = %q; want one key", a, lineKey(a), group[0], lineKey(group[0]))
			}
		}
	}
	for _, pair := range [][2]string{
		{"telnet://gw.example:2323", "telnet://gw.example:2324"},
		{"telnet://gw.example:2323", "telnet://gw2.example:2323"},
	} {
		if lineKey(pair[0]) == lineKey(pair[1]) {
			t.Errorf("%q and %q share key %q", pair[0], pair[1], lineKey(pair[0]))
		}
	}
	// Schedule goes by the key: a second account on the same line,
	// spelled otherwise, is refused.
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		a, b := textJob(1, "alice"), textJob(2, "bob")
		a.Address, b.Address = "telnet://gw.example:2323", "telnet://GW.example:2323/"
		if err := f.svc.Schedule(a); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Schedule(b); !errors.Is(err, ErrAddressBusy) {
			t.Errorf("second account on the same line spelled otherwise: %v, want ErrAddressBusy", err)
		}
		f.svc.Withdraw(1, "test over")
	})
}
