package callbackd

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

func TestBackoff(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{10 * s, 0, 0, 0},
		{10 * s, 0, 1, 10 * s},
		{10 * s, 0, 2, 20 * s},
		{10 * s, 0, 3, 40 * s},
		{10 * s, 0, 4, 80 * s},
		{10 * s, 30 * s, 3, 30 * s},
		{10 * s, 30 * s, 2, 20 * s},
		{10 * s, 5 * s, 1, 5 * s},
		{0, 0, 3, 0},
		{-s, 0, 3, 0},
		{s, 0, 1000, 1 << 62}, // no overflow into negative waits
	} {
		got := Backoff(c.base, c.max, c.n)
		if c.n == 1000 {
			if got <= 0 {
				t.Errorf("Backoff(%v, %v, %d) = %v, want positive", c.base, c.max, c.n, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("Backoff(%v, %v, %d) = %v, want %v", c.base, c.max, c.n, got, c.want)
		}
	}
}

func TestFromConfig(t *testing.T) {
	c := FromConfig(config.Callback{Delay: config.Duration{Duration: time.Second}, Attempts: 5,
		Backoff: config.Duration{Duration: 2 * time.Second}, Expiry: config.Duration{Duration: time.Minute}, MaxConcurrent: 7,
		HandshakeTimeout: config.Duration{Duration: 45 * time.Second}})
	want := Config{Delay: time.Second, Attempts: 5, Backoff: 2 * time.Second, Expiry: time.Minute, MaxConcurrent: 7, HandshakeTimeout: 45 * time.Second}
	if c != want {
		t.Fatalf("FromConfig = %+v, want %+v", c, want)
	}
	if _, err := (Config{Delay: time.Minute, Expiry: time.Second}).withDefaults(); err == nil {
		t.Error("Expiry shorter than Delay accepted")
	}
	if _, err := (Config{Attempts: -1}).withDefaults(); err == nil {
		t.Error("negative Attempts accepted")
	}
}

// testPolicy is the policy of the service tests.
var testPolicy = Config{
	Delay: 3 * time.Second, Attempts: 3, Backoff: 10 * time.Second,
	Expiry: 2 * time.Minute, MaxConcurrent: 2,
	DialTimeout: 20 * time.Second, HandshakeTimeout: 15 * time.Second,
}

type fixture struct {
	net  *linesim.Network
	svc  *Service
	rec  *records
	hand *handoffs
	t0   time.Time
}

// newFixture starts a Service dialling into an in-memory network, with
// TextConfirm and the test V42 placer. Call inside a synctest bubble.
func newFixture(t *testing.T, cfg Config, place Placer) *fixture {
	f := &fixture{net: linesim.NewNetwork(), rec: &records{}, hand: newHandoffs(), t0: time.Now()}
	if place == nil {
		place = Modes{Text: TextConfirm{Name: "testgw"}, V42: testV42()}
	}
	svc, err := New(Options{Config: cfg, Dial: f.net.Dial, Place: place, Handoff: f.hand.fn, Recorder: f.rec})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	t.Cleanup(func() { svc.Close() })
	return f
}

func textJob(session uint64, user string) Job {
	return Job{Session: session, User: user, Address: "sim://" + user, Mode: ModeText, Listener: "telnet", Remote: "192.0.2.1:1"}
}

// answerText answers one call on l and types reply after the prompt; it
// returns everything the gateway wrote until it hung up or accepted.
func answerText(t *testing.T, l transport.Listener, reply string) (transport.Line, string) {
	t.Helper()
	line, err := l.Accept(t.Context())
	if err != nil {
		t.Errorf("accept: %v", err)
		return nil, ""
	}
	got := readUntil(t, line, "accept: ")
	if _, err := io.WriteString(line, reply); err != nil {
		t.Errorf("typing: %v", err)
	}
	return line, got
}

func checkAttempts(t *testing.T, got []Attempt, want ...Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d attempts recorded, want %d: %+v", len(got), len(want), got)
	}
	for i, a := range got {
		if a.Result != want[i] {
			t.Errorf("attempt %d: result %v (%v), want %v", i+1, a.Result, a.Err, want[i])
		}
		if a.Final != (i == len(got)-1) {
			t.Errorf("attempt %d: Final = %v", i+1, a.Final)
		}
	}
}

func TestTextCallbackConnected(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, err := f.net.Listen("alice")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := f.svc.Schedule(textJob(7, "alice")); err != nil {
			t.Fatal(err)
		}
		line, prompt := answerText(t, l, "alice\r\nhello")
		defer line.Close()
		if !strings.Contains(prompt, "testgw: callback for session 7") {
			t.Errorf("prompt %q", prompt)
		}
		h := <-f.hand.ch
		if h.job.Session != 7 {
			t.Errorf("handoff of session %d", h.job.Session)
		}
		if got := readUntil(t, line, "accepted.\r\n"); !strings.Contains(got, "Callback accepted") {
			t.Errorf("caller saw %q", got)
		}
		// What the caller typed after the name (without the LF of CR LF)
		// reaches the session, and the session reaches the caller.
		if got := readN(t, h.s.Conn, 5); got != "hello" {
			t.Errorf("session read %q, want hello", got)
		}
		io.WriteString(h.s.Conn, "welcome")
		if got := readN(t, line, 7); got != "welcome" {
			t.Errorf("caller read %q", got)
		}
		h.s.Conn.Close()
		h.s.Line.Close()
		checkAttempts(t, f.rec.all(), Connected)
		a := f.rec.all()[0]
		if a.Number != 1 || !a.Start.Equal(f.t0.Add(testPolicy.Delay)) || a.Err != nil {
			t.Errorf("attempt %+v: want number 1 starting after the delay", a)
		}
		if f.svc.Pending() != 0 {
			t.Errorf("%d pending after handoff", f.svc.Pending())
		}
	})
}

func TestRetryWithBackoff(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		if err := f.svc.Schedule(textJob(8, "bob")); err != nil {
			t.Fatal(err)
		}
		// Nobody answers the first two dials (no listener: refused).
		// The third dial is at delay + backoff(1) + backoff(2).
		time.Sleep(testPolicy.Delay + 10*time.Second + 5*time.Second)
		l, err := f.net.Listen("bob")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		line, _ := answerText(t, l, "bob\r")
		defer line.Close()
		h := <-f.hand.ch
		h.s.Conn.Close()
		if h.s.Attempts != 3 {
			t.Errorf("session says %d attempts, want 3", h.s.Attempts)
		}
		got := f.rec.all()
		checkAttempts(t, got, DialFailed, DialFailed, Connected)
		wantStart := []time.Duration{3 * time.Second, 13 * time.Second, 33 * time.Second}
		for i, a := range got {
			if a.Number != i+1 || a.Dials != i+1 || !a.Start.Equal(f.t0.Add(wantStart[i])) {
				t.Errorf("attempt %d: number %d at %v, want at %v", i+1, a.Number, a.Start.Sub(f.t0), wantStart[i])
			}
		}
		if !errors.Is(got[0].Err, linesim.ErrNoListener) {
			t.Errorf("first attempt error %v, want ErrNoListener", got[0].Err)
		}
	})
}

// TestJobsState: Jobs says what each job does now, for gateway calls
// (the callback trial could not tell a callback waiting from one on the
// line): the delay, the call itself, the wait to retry, with the
// attempt's number.
func TestJobsState(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		if err := f.svc.Schedule(textJob(8, "bob")); err != nil {
			t.Fatal(err)
		}
		state := func() (JobState, int) {
			t.Helper()
			jobs := f.svc.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("jobs %+v", jobs)
			}
			return jobs[0].State, jobs[0].Attempt
		}
		synctest.Wait()
		if st, n := state(); st != StateDelay || n != 1 {
			t.Errorf("during the delay: %v, attempt %d", st, n)
		}
		// Nobody answers the first dial: the second waits its backoff.
		time.Sleep(testPolicy.Delay + time.Second)
		synctest.Wait()
		if st, n := state(); st != StateBackoff || n != 2 {
			t.Errorf("after a failed dial: %v, attempt %d", st, n)
		}
		// The second dial rings a line that does not answer yet.
		l, err := f.net.Listen("bob")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if st, n := state(); st != StateCalling || n != 2 || st.String() != "calling" {
			t.Errorf("while calling: %v, attempt %d", st, n)
		}
		line, _ := answerText(t, l, "bob\r")
		defer line.Close()
		h := <-f.hand.ch
		h.s.Conn.Close()
	})
}

func TestAttemptsExhausted(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		if err := f.svc.Schedule(textJob(9, "carol")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Hour)
		checkAttempts(t, f.rec.all(), DialFailed, DialFailed, DialFailed)
		if f.svc.Pending() != 0 {
			t.Errorf("%d pending", f.svc.Pending())
		}
	})
}

func TestExpiryCutsRetries(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 10
		cfg.Expiry = 30 * time.Second // attempts at 3 s, 13 s; the next (33 s) is too late
		f := newFixture(t, cfg, nil)
		if err := f.svc.Schedule(textJob(10, "dave")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, DialFailed, DialFailed)
		if last := got[len(got)-1]; !last.End.Before(f.t0.Add(cfg.Expiry)) {
			t.Errorf("last attempt ended at %v, after the expiry", last.End.Sub(f.t0))
		}
	})
}

// TestNoAnswerCutByExpiry: a dial that nobody answers, cut by the
// callback's expiry before the dial timeout, is recorded expired, not
// a failed dial (callback trial: a blackholed address read "no answer:
// ... operation was canceled").
func TestNoAnswerCutByExpiry(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 1
		cfg.Delay = 0
		cfg.Expiry = 5 * time.Second // shorter than DialTimeout (20 s)
		f := newFixture(t, cfg, nil)
		l, _ := f.net.Listen("erin") // listening, never accepting: it rings out
		defer l.Close()
		if err := f.svc.Schedule(textJob(12, "erin")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, Expired)
		if a := got[0]; !errors.Is(a.Err, ErrExpired) || !strings.Contains(a.Err.Error(), "while dialling") || !a.End.Equal(f.t0.Add(cfg.Expiry)) {
			t.Errorf("attempt %+v (ended after %v)", a, a.End.Sub(f.t0))
		}
	})
}

func TestNoAnswerTimesOut(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 1
		f := newFixture(t, cfg, nil)
		l, _ := f.net.Listen("erin") // listening, never accepting: it rings out
		defer l.Close()
		if err := f.svc.Schedule(textJob(11, "erin")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, DialFailed)
		if d := got[0].End.Sub(got[0].Start); d != cfg.DialTimeout {
			t.Errorf("dial gave up after %v, want the dial timeout %v", d, cfg.DialTimeout)
		}
		if !strings.Contains(got[0].Err.Error(), "no answer") {
			t.Errorf("error %v", got[0].Err)
		}
	})
}

func TestSilentPartyTimesOutAndRetries(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 2
		f := newFixture(t, cfg, nil)
		l, _ := f.net.Listen("frank")
		defer l.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // answers twice, never types anything
			defer wg.Done()
			for range 2 {
				line, err := l.Accept(t.Context())
				if err != nil {
					return
				}
				io.Copy(io.Discard, line) // until the gateway hangs up
				line.Close()
			}
		}()
		if err := f.svc.Schedule(textJob(12, "frank")); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		synctest.Wait()
		got := f.rec.all()
		checkAttempts(t, got, HandshakeFailed, HandshakeFailed)
		if d := got[0].End.Sub(got[0].Start); d != cfg.HandshakeTimeout {
			t.Errorf("proof gave up after %v, want %v", d, cfg.HandshakeTimeout)
		}
	})
}

func TestWrongPartyHungUpNotRetried(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, _ := f.net.Listen("grace")
		defer l.Close()
		if err := f.svc.Schedule(textJob(13, "grace")); err != nil {
			t.Fatal(err)
		}
		line, _ := answerText(t, l, "mallory\r\n")
		defer line.Close()
		rest, err := io.ReadAll(line) // ends: the gateway hung up
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(rest), "not for you") {
			t.Errorf("wrong party heard %q", rest)
		}
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, WrongParty)
		if !errors.Is(got[0].Err, ErrWrongParty) {
			t.Errorf("error %v", got[0].Err)
		}
	})
}

func TestConcurrencyCap(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		active, peak := 0, 0
		release := make(chan struct{})
		place := PlacerFunc(func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
			mu.Lock()
			active++
			peak = max(peak, active)
			mu.Unlock()
			defer func() {
				mu.Lock()
				active--
				mu.Unlock()
			}()
			select {
			case <-release:
				return line, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		f := newFixture(t, testPolicy, place) // MaxConcurrent 2
		var wg sync.WaitGroup
		for i := range 5 {
			name := string(rune('a' + i))
			l, _ := f.net.Listen(name)
			defer l.Close()
			wg.Go(func() {
				line, err := l.Accept(t.Context())
				if err == nil {
					io.Copy(io.Discard, line)
					line.Close()
				}
			})
			if err := f.svc.Schedule(textJob(uint64(100+i), name)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(testPolicy.Delay)
		synctest.Wait()
		mu.Lock()
		if active != 2 {
			t.Errorf("%d attempts in progress, want the cap 2", active)
		}
		mu.Unlock()
		close(release)
		for range 5 {
			h := <-f.hand.ch
			h.s.Line.Close()
		}
		wg.Wait()
		if peak != 2 {
			t.Errorf("peak %d attempts at once, want 2", peak)
		}
		checkAttempts(t, f.rec.all()[:1], Connected)
		if n := len(f.rec.all()); n != 5 {
			t.Errorf("%d records, want 5", n)
		}
	})
}

func TestExpiredWaitingForSlot(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.MaxConcurrent = 1
		cfg.HandshakeTimeout = time.Hour // cut by the expiry
		hold := PlacerFunc(func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		f := newFixture(t, cfg, hold)
		for _, n := range []string{"a", "b"} {
			l, _ := f.net.Listen(n)
			defer l.Close()
			go func() {
				if line, err := l.Accept(t.Context()); err == nil {
					io.Copy(io.Discard, line)
					line.Close()
				}
			}()
		}
		f.svc.Schedule(textJob(1, "a"))
		f.svc.Schedule(textJob(2, "b"))
		time.Sleep(time.Hour)
		byS := map[uint64][]Attempt{}
		for _, a := range f.rec.all() {
			byS[a.Session] = append(byS[a.Session], a)
		}
		// Both jobs wake at the same instant; either may get the slot.
		// The one that got it is cut by the expiry during its proof,
		// and says so (callback trial: "proof timed out" with the time
		// left as the timeout).
		first, second := byS[1], byS[2]
		if len(first) == 1 && first[0].Dials == 0 {
			first, second = second, first
		}
		checkAttempts(t, first, Expired)
		if a := first[0]; a.Dials != 1 || !errors.Is(a.Err, ErrExpired) || !strings.Contains(a.Err.Error(), "during the proof") {
			t.Errorf("placed job: %+v", a)
		}
		checkAttempts(t, second, Expired)
		if a := second[0]; a.Number != 0 || a.Dials != 0 || !errors.Is(a.Err, ErrExpired) || !a.End.Equal(f.t0.Add(cfg.Expiry)) {
			t.Errorf("waiting job: %+v", a)
		}
	})
}

func TestScheduleRefusals(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.MaxPending = 2
		f := newFixture(t, cfg, nil)
		for _, bad := range []Job{
			{Session: 1, Address: "sim://x", Mode: ModeText},
			{Session: 1, User: "x", Mode: ModeText},
			{Session: 1, User: "x", Address: "sim://x"},
			{Session: 1, User: "x", Address: "sim://x", Mode: ModeV42},
		} {
			if err := f.svc.Schedule(bad); !errors.Is(err, ErrBadJob) {
				t.Errorf("Schedule(%+v) = %v, want ErrBadJob", bad, err)
			}
		}
		if err := f.svc.Schedule(textJob(1, "x")); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Schedule(textJob(1, "x")); !errors.Is(err, ErrDuplicate) {
			t.Errorf("duplicate: %v", err)
		}
		f.svc.Schedule(textJob(2, "y"))
		if err := f.svc.Schedule(textJob(3, "z")); !errors.Is(err, ErrFull) {
			t.Errorf("third job: %v, want ErrFull", err)
		}
		f.svc.Close()
		if err := f.svc.Schedule(textJob(4, "w")); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
		got := f.rec.all()
		if len(got) != 2 || got[0].Result != Shutdown || got[1].Result != Shutdown || got[0].Number != 0 {
			t.Errorf("records after Close during the delay: %+v", got)
		}
	})
}

func TestBadAddressNotRetried(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		f.svc.dial = transport.Dial // the registry knows no "nosuch" scheme
		j := textJob(5, "h")
		j.Address = "nosuch://h:1"
		f.svc.Schedule(j)
		time.Sleep(time.Hour)
		got := f.rec.all()
		checkAttempts(t, got, DialFailed)
		if !errors.Is(got[0].Err, ErrNoRetry) || !errors.Is(got[0].Err, transport.ErrUnknownScheme) {
			t.Errorf("error %v", got[0].Err)
		}
	})
}

func TestCloseCutsAttempt(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testPolicy, nil)
		l, _ := f.net.Listen("ivan")
		defer l.Close()
		f.svc.Schedule(textJob(6, "ivan"))
		line, _ := answerText(t, l, "iv") // half an answer
		defer line.Close()
		synctest.Wait()
		f.svc.Close()
		if _, err := io.ReadAll(line); err != nil {
			t.Fatal(err)
		}
		checkAttempts(t, f.rec.all(), Shutdown)
		if !errors.Is(f.rec.all()[0].Err, ErrClosed) {
			t.Errorf("error %v", f.rec.all()[0].Err)
		}
	})
}

// manualClock is a Clock moved by hand.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &manualTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// advance moves the clock and fires the timers that are due.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, tm := range c.timers {
		if !tm.stopped && !tm.at.After(c.now) {
			tm.stopped = true
			due = append(due, tm.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
}

// TestInjectedClock drives the schedule with a hand-moved clock: nothing
// is dialled until the clock passes the delay, and the record carries the
// clock's time.
func TestInjectedClock(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		clk := &manualClock{now: time.Date(1994, 7, 1, 12, 0, 0, 0, time.UTC)}
		rec := &records{}
		dials := 0
		svc, err := New(Options{
			Config: testPolicy, Clock: clk, Recorder: rec,
			Dial: func(ctx context.Context, a string) (transport.Line, error) {
				dials++
				return nil, errors.New("busy signal")
			},
			Place:   TextConfirm{},
			Handoff: func(context.Context, Job, Session) {},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		svc.Schedule(textJob(1, "a"))
		time.Sleep(time.Hour) // the system clock does not drive the Service
		synctest.Wait()
		if dials != 0 {
			t.Fatalf("%d dials before the injected clock moved", dials)
		}
		clk.advance(testPolicy.Delay)
		synctest.Wait()
		if dials != 1 {
			t.Fatalf("%d dials after the delay, want 1", dials)
		}
		got := rec.all()
		if len(got) != 1 || !got[0].Start.Equal(time.Date(1994, 7, 1, 12, 0, 3, 0, time.UTC)) {
			t.Errorf("records %+v", got)
		}
	})
}

func TestShutdownRecordCountsDials(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testPolicy
		cfg.Attempts = 5
		f := newFixture(t, cfg, nil)
		f.svc.Schedule(textJob(3, "nobody"))
		time.Sleep(20 * time.Second) // dials at 3 s and 13 s; the next is at 33 s
		f.svc.Close()
		got := f.rec.all()
		checkAttempts(t, got, DialFailed, DialFailed, Shutdown)
		if last := got[2]; last.Number != 0 || last.Dials != 2 || !errors.Is(last.Err, ErrClosed) {
			t.Errorf("shutdown record %+v", last)
		}
	})
}

// lingerLine records the SetLinger calls on a line.
type lingerLine struct {
	transport.Line
	mu  sync.Mutex
	set []time.Duration
}

func (l *lingerLine) SetLinger(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = append(l.set, d)
}

func (l *lingerLine) settings() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.set...)
}

// TestUnprovedLineShortLinger: until the party that answered proves the
// callback, its line is hung up with UnprovedLinger, as a refused caller's
// is, not the line's full linger; a proved one goes back to the line's
// own (callback trial: a silent party that never closed held each
// attempt, and SIGTERM, 5 s past handshake_timeout).
func TestUnprovedLineShortLinger(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, proved := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			net := linesim.NewNetwork()
			l, err := net.Listen("carol")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var dialled *lingerLine
			hand := newHandoffs()
			cfg := testPolicy
			cfg.Attempts = 1
			svc, err := New(Options{
				Config: cfg, Handoff: hand.fn, Recorder: &records{},
				Dial: func(ctx context.Context, a string) (transport.Line, error) {
					line, err := net.Dial(ctx, a)
					if err != nil {
						return nil, err
					}
					dialled = &lingerLine{Line: line}
					return dialled, nil
				},
				Place: PlacerFunc(func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
					if !proved {
						return nil, errors.New("no proof")
					}
					return line, nil
				}),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			svc.Schedule(textJob(9, "carol"))
			peer, err := l.Accept(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if proved {
				h := <-hand.ch
				h.s.Conn.Close()
			}
			synctest.Wait()
			want := []time.Duration{UnprovedLinger}
			if proved {
				want = append(want, 0)
			}
			if got := dialled.settings(); !slices.Equal(got, want) {
				t.Errorf("proved=%v: SetLinger calls %v, want %v", proved, got, want)
			}
		})
	}
}
