package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// policyClock is a settable clock for the policy tests.
type policyClock struct {
	mu sync.Mutex
	t  time.Time
}

func newPolicyClock() *policyClock {
	return &policyClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *policyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *policyClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// policySleeper records the padding sleeps and advances the clock instead
// of sleeping.
type policySleeper struct {
	clock *policyClock
	mu    sync.Mutex
	slept []time.Duration
}

func (s *policySleeper) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.slept = append(s.slept, d)
	s.mu.Unlock()
	if s.clock != nil {
		s.clock.Advance(d)
	}
	return nil
}

func (s *policySleeper) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.slept
	s.slept = nil
	return out
}

// Reference vectors made with the reference implementation's CLI
// (Debian package argon2, 0~20171227):
//
//	echo -n "correct horse battery staple" | argon2 dialgate-salt-16 -id -t 2 -m 10 -p 2 -l 32 -e
//	echo -n "pässwörd" | argon2 0123456789abcdef -id -t 1 -m 6 -p 1 -l 16 -e
var policyArgon2Vectors = []struct{ password, phc string }{
	{"correct horse battery staple", "$argon2id$v=19$m=1024,t=2,p=2$ZGlhbGdhdGUtc2FsdC0xNg$+c9Mk/K1gnOAAz0YA2iR01BrnDq3L/2jBJGYFuDsTDg"},
	{"pässwörd", "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$KxS8X8DWfMFs+Nfs6G5QPQ"},
}

func TestArgon2ReferenceVectors(t *testing.T) {
	u := NewUsers()
	for i, vec := range policyArgon2Vectors {
		h, err := parseArgon2Hash(vec.phc)
		if err != nil {
			t.Fatal(err)
		}
		if h.String() != vec.phc {
			t.Errorf("re-encoded %q as %q", vec.phc, h.String())
		}
		if err := u.Add(User{ID: fmt.Sprintf("v%d", i), Hash: vec.phc}); err != nil {
			t.Fatal(err)
		}
	}
	// Slots of 1 MiB: the largest vector (m=1024) fits the memory bound.
	v := NewVerifier(u, VerifierConfig{Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}, MaxConcurrent: 2, MinFailureTime: time.Nanosecond}, nil)
	for i, vec := range policyArgon2Vectors {
		id := fmt.Sprintf("v%d", i)
		if _, err := v.Verify(context.Background(), id, vec.password, "test"); err != nil {
			t.Errorf("vector %d: %v", i, err)
		}
		if _, err := v.Verify(context.Background(), id, vec.password+"x", "test"); err != ErrDenied {
			t.Errorf("vector %d with a wrong password: %v", i, err)
		}
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	h, err := HashPassword("correct horse", DefaultArgon2Params)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Errorf("hash %q does not match %v", h, re)
	}
	h2, err := HashPassword("correct horse", policyArgon2)
	if err != nil {
		t.Fatal(err)
	}
	h3, _ := HashPassword("correct horse", policyArgon2)
	if h2 == h3 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, bad := range []struct {
		pw string
		p  Argon2Params
	}{
		{"", policyArgon2},
		{strings.Repeat("x", MaxPasswordLen+1), policyArgon2},
		{"pw", Argon2Params{Time: 0, MemoryKiB: 64, Threads: 1}},
		{"pw", Argon2Params{Time: 1, MemoryKiB: 64, Threads: 0}},
		{"pw", Argon2Params{Time: 1, MemoryKiB: 31, Threads: 4}},
		{"pw", Argon2Params{Time: 1, MemoryKiB: argon2MaxMemory + 1, Threads: 1}},
	} {
		if _, err := HashPassword(bad.pw, bad.p); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("HashPassword(len %d, %v): %v", len(bad.pw), bad.p, err)
		}
	}
}

func TestParseArgon2HashRejects(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0", "aGFzaGhhc2hoYXNoaGFzaA"
	ok := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := parseArgon2Hash(ok); err != nil {
		t.Fatalf("good hash rejected: %v", err)
	}
	for _, bad := range []string{
		"",
		"argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,keyid=abc$" + salt + "$" + key,
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=65,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4194305,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "B", // non-zero trailing bits
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "\n",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 100),
	} {
		if _, err := parseArgon2Hash(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("%q: got %v, want ErrBadHash", bad, err)
		}
	}
}

// FuzzParseArgon2Hash checks that the PHC parser never panics and that
// everything it accepts is in canonical form.
func FuzzParseArgon2Hash(f *testing.F) {
	for _, vec := range policyArgon2Vectors {
		f.Add(vec.phc)
	}
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseArgon2Hash(s)
		if err != nil {
			if !errors.Is(err, ErrBadHash) {
				t.Fatalf("error %v is not ErrBadHash", err)
			}
			return
		}
		if h.String() != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, h.String())
		}
	})
}

func TestVerifyDeniesAlike(t *testing.T) {
	clock := newPolicyClock()
	u := NewUsers()
	for _, usr := range []User{
		{ID: "alice", Hash: policyHash(t, "pw"), Backend: "bbs", Callback: "telnet://192.0.2.7:23"},
		{ID: "dis", Hash: policyHash(t, "pw"), Disabled: true},
		{ID: "old", Hash: policyHash(t, "pw"), Expires: clock.Now()},
		{ID: "later", Hash: policyHash(t, "pw"), Expires: clock.Now().Add(time.Second)},
	} {
		if err := u.Add(usr); err != nil {
			t.Fatal(err)
		}
	}
	var logMu sync.Mutex
	var logs []string
	v := NewVerifier(u, VerifierConfig{
		Argon2: policyArgon2, MaxConcurrent: 2, MinFailureTime: time.Nanosecond, Now: clock.Now,
		Logf: func(f string, a ...any) { logMu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); logMu.Unlock() },
	}, nil)
	ctx := context.Background()
	got, err := v.Verify(ctx, "alice", "pw", "192.0.2.1:5000")
	if err != nil || got.ID != "alice" || got.Backend != "bbs" || got.Callback != "telnet://192.0.2.7:23" {
		t.Fatalf("alice: %+v, %v", got, err)
	}
	if _, err := v.Verify(ctx, "later", "pw", "x"); err != nil {
		t.Errorf("account not yet expired: %v", err)
	}
	cases := []struct{ id, pw, reason string }{
		{"nobody", "pw", "unknown user"},
		{"alice", "wrong", "wrong password"},
		{"dis", "pw", "account disabled"},
		{"old", "pw", "account expired"},
		{"alice", strings.Repeat("p", MaxPasswordLen+1), "unknown user"},
		{"", "pw", "unknown user"},
	}
	var texts []string
	for i, c := range cases {
		before := v.Stats().Hashes
		usr, err := v.Verify(ctx, c.id, c.pw, "192.0.2.1:5000")
		if err != ErrDenied || usr != (User{}) {
			t.Errorf("%s/%d: got %+v, %v; want the zero User and ErrDenied itself", c.id, i, usr, err)
			continue
		}
		texts = append(texts, err.Error())
		if n := v.Stats().Hashes - before; n != 1 {
			t.Errorf("%s/%d: %d argon2id computations, want exactly 1 (unknown users hash a dummy)", c.id, i, n)
		}
		logMu.Lock()
		last := logs[len(logs)-1]
		logMu.Unlock()
		if !strings.Contains(last, c.reason) {
			t.Errorf("%s/%d: operator log %q lacks the reason %q", c.id, i, last, c.reason)
		}
	}
	if c := slices.Compact(slices.Clone(texts)); len(c) != 1 {
		t.Errorf("denials differ: %q", texts)
	}
}

func TestVerifyPadsFailures(t *testing.T) {
	clock := newPolicyClock()
	sl := &policySleeper{clock: clock}
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	th := NewThrottle(ThrottleConfig{FreeFailures: 1, Now: clock.Now})
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MaxQueue: -1,
		MinFailureTime: time.Second, Now: clock.Now, Sleep: sl.Sleep}, th)
	v.testHook = func() { clock.Advance(300 * time.Millisecond) } // the hash "takes" 300 ms
	ctx := context.Background()

	if _, err := v.Verify(ctx, "alice", "pw", "a"); err != nil {
		t.Fatal(err)
	}
	if s := sl.take(); len(s) != 0 {
		t.Errorf("success slept %v", s)
	}
	for _, id := range []string{"alice", "nobody"} {
		if _, err := v.Verify(ctx, id, "bad", "src-"+id); err != ErrDenied {
			t.Fatal(err)
		}
		if s := sl.take(); !slices.Equal(s, []time.Duration{700 * time.Millisecond}) {
			t.Errorf("%s: padding sleeps %v, want [700ms]", id, s)
		}
	}
	// A second failure from the same source is throttled (FreeFailures 1):
	// no hash, so the padding is the whole second.
	_, _ = v.Verify(ctx, "alice", "bad", "src-alice")
	sl.take()
	hashes := v.Stats().Hashes
	if _, err := v.Verify(ctx, "alice", "pw", "src-alice"); err != ErrDenied {
		t.Fatalf("throttled: %v", err)
	}
	if s := sl.take(); !slices.Equal(s, []time.Duration{time.Second}) {
		t.Errorf("throttled: padding sleeps %v, want [1s]", s)
	}
	if v.Stats().Hashes != hashes {
		t.Error("a throttled attempt ran argon2id")
	}
	// Shedding is immediate. (An hour on, alice's failures have decayed:
	// with them, her attempt in flight would hold the next one back.)
	clock.Advance(time.Hour)
	gate := make(chan struct{})
	v.testHook = func() { <-gate }
	done := make(chan error)
	go func() { _, err := v.Verify(ctx, "alice", "pw", "b"); done <- err }()
	for v.Stats().Hashing == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := v.Verify(ctx, "alice", "pw", "c"); err != ErrBusy {
		t.Errorf("queue of 0 with the slot taken: %v, want ErrBusy", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Error(err)
	}
	if s := sl.take(); len(s) != 0 {
		t.Errorf("busy or success slept %v", s)
	}
}

func TestVerifyThrottledThenRecovers(t *testing.T) {
	clock := newPolicyClock()
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	th := NewThrottle(ThrottleConfig{FreeFailures: 2, BaseDelay: time.Second, MaxDelay: time.Minute, Now: clock.Now})
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MinFailureTime: time.Nanosecond, Now: clock.Now,
		Sleep: (&policySleeper{}).Sleep}, th)
	ctx := context.Background()
	for range 3 {
		if _, err := v.Verify(ctx, "alice", "guess", "198.51.100.9:4000"); err != ErrDenied {
			t.Fatal(err)
		}
	}
	// alice is now held back, from any source; and the guessing source
	// is held back for every user.
	if _, err := v.Verify(ctx, "alice", "pw", "203.0.113.5:1"); err != ErrDenied {
		t.Errorf("alice during back-off: %v", err)
	}
	if _, err := v.Verify(ctx, "nobody", "x", "198.51.100.9:4001"); err != ErrDenied {
		t.Errorf("guessing source during back-off: %v", err)
	}
	clock.Advance(th.Delay("alice", "203.0.113.5"))
	if _, err := v.Verify(ctx, "alice", "pw", "203.0.113.5:1"); err != nil {
		t.Errorf("alice after the back-off: %v", err)
	}
	if d := th.Delay("alice", ""); d != 0 {
		t.Errorf("success left alice's back-off at %v", d)
	}
}

// TestVerifyEnumerationTiming measures how long denials take for unknown
// users and for known users with a wrong password, without and with the
// uniform minimum failure time. It logs the distributions (go test -v) and
// asserts only what does not depend on timing: the same error, and one
// argon2id computation per attempt either way.
func TestVerifyEnumerationTiming(t *testing.T) {
	params := Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	u := NewUsers()
	h, err := HashPassword("the right one", params)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add(User{ID: "alice", Hash: h}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	measure := func(minFail time.Duration, n int) (unknown, known []time.Duration) {
		v := NewVerifier(u, VerifierConfig{Argon2: params, MaxConcurrent: 1, MinFailureTime: minFail}, nil)
		for i := range 2 * n {
			id := "alice"
			if i%2 == 0 {
				id = fmt.Sprintf("nobody%d", i)
			}
			start := time.Now()
			_, err := v.Verify(ctx, id, "wrong", "192.0.2.1:1")
			d := time.Since(start)
			if err != ErrDenied {
				t.Fatalf("%s: %v", id, err)
			}
			if id == "alice" {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
		if got := v.Stats().Hashes; got != uint64(2*n) {
			t.Errorf("%d argon2id computations for %d attempts", got, 2*n)
		}
		return unknown, known
	}
	pct := func(ds []time.Duration, p int) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[(len(s)-1)*p/100]
	}
	report := func(name string, unknown, known []time.Duration) {
		t.Logf("%s: unknown user p50 %v p90 %v | known user, wrong password p50 %v p90 %v (n=%d each)",
			name, pct(unknown, 50), pct(unknown, 90), pct(known, 50), pct(known, 90), len(known))
	}
	unk, kn := measure(time.Nanosecond, 60)
	report("argon2id m=1MiB t=1 p=1, no padding", unk, kn)
	unk, kn = measure(20*time.Millisecond, 25)
	report("same, padded to 20ms", unk, kn)
}

// TestVerifyResourceExhaustion starts 1,000 verifications at once against a
// verifier with 2 hashing slots and a queue of 8. The hashes are held inside
// the counted section until every other verification has been shed, so the
// peak is reached deterministically; then they are released.
func TestVerifyResourceExhaustion(t *testing.T) {
	testutil.CheckGoroutines(t)
	const (
		callers       = 1000
		maxConcurrent = 2
		maxQueue      = 8
	)
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: maxConcurrent, MaxQueue: maxQueue,
		MinFailureTime: time.Second, Sleep: (&policySleeper{}).Sleep}, nil)
	gate := make(chan struct{})
	v.testHook = func() { <-gate }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var busy atomic.Int64
	results := make(chan error, callers)
	for i := range callers {
		go func() {
			id, pw := "alice", "pw"
			switch i % 3 {
			case 1:
				pw = "wrong"
			case 2:
				id = fmt.Sprintf("nobody%d", i)
			}
			_, err := v.Verify(ctx, id, pw, fmt.Sprintf("192.0.2.%d:1", i%250))
			if err == ErrBusy {
				busy.Add(1)
			}
			results <- err
		}()
	}
	for busy.Load() < callers-maxConcurrent-maxQueue || v.Stats().Queued < maxQueue || v.Stats().Hashing < maxConcurrent {
		if ctx.Err() != nil {
			t.Fatalf("never reached the peak: %+v, %d shed", v.Stats(), busy.Load())
		}
		time.Sleep(time.Millisecond)
	}
	atPeak := v.Stats()
	close(gate)
	counts := map[string]int{}
	for range callers {
		switch err := <-results; {
		case err == nil:
			counts["ok"]++
		case err == ErrDenied:
			counts["denied"]++
		case err == ErrBusy:
			counts["busy"]++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	st := v.Stats()
	t.Logf("at peak %+v; after %+v; outcomes %v; peak argon2id memory %d KiB (budget %d KiB)",
		atPeak, st, counts, st.PeakHashing*int(policyArgon2.MemoryKiB), maxConcurrent*int(policyArgon2.MemoryKiB))
	if st.PeakHashing > maxConcurrent {
		t.Errorf("%d hashes ran at once, limit %d", st.PeakHashing, maxConcurrent)
	}
	if counts["busy"] != callers-maxConcurrent-maxQueue || st.Shed != uint64(counts["busy"]) {
		t.Errorf("%d shed (stats %d), want %d", counts["busy"], st.Shed, callers-maxConcurrent-maxQueue)
	}
	if st.Hashes != maxConcurrent+maxQueue || st.Hashing != 0 || st.Queued != 0 {
		t.Errorf("after the storm: %+v", st)
	}
	// Later legitimate callers get in.
	v.testHook = nil
	for i := range 3 {
		if _, err := v.Verify(ctx, "alice", "pw", "203.0.113.1:1"); err != nil {
			t.Errorf("legitimate caller %d after the storm: %v", i, err)
		}
	}
}

func TestVerifyQueueCancel(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MaxQueue: 1, MinFailureTime: time.Nanosecond}, nil)
	gate := make(chan struct{})
	v.testHook = func() { <-gate }
	bg := context.Background()
	waitFor := func(what string, cond func(VerifierStats) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(v.Stats()); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, v.Stats())
			}
			time.Sleep(time.Millisecond)
		}
	}
	first := make(chan error, 1)
	go func() { _, err := v.Verify(bg, "alice", "pw", "a"); first <- err }()
	waitFor("the slot", func(s VerifierStats) bool { return s.Hashing == 1 })

	ctx, cancel := context.WithCancel(bg)
	second := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, "alice", "pw", "b"); second <- err }()
	waitFor("the queue", func(s VerifierStats) bool { return s.Queued == 1 })
	if _, err := v.Verify(bg, "alice", "pw", "c"); err != ErrBusy {
		t.Errorf("full queue: %v", err)
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) || errors.Is(err, ErrDenied) {
		t.Errorf("cancelled while queued: %v", err)
	}
	waitFor("the queue to empty", func(s VerifierStats) bool { return s.Queued == 0 })
	third := make(chan error, 1)
	go func() { _, err := v.Verify(bg, "alice", "pw", "d"); third <- err }()
	waitFor("the queue", func(s VerifierStats) bool { return s.Queued == 1 })
	close(gate)
	if err := <-first; err != nil {
		t.Error(err)
	}
	if err := <-third; err != nil {
		t.Error(err)
	}
	if _, err := v.Verify(ctx, "alice", "pw", "e"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a dead context: %v", err)
	}
	if st := v.Stats(); st.Hashing != 0 || st.Queued != 0 || st.Hashes != 2 {
		t.Errorf("slots leaked: %+v", st)
	}
}

func TestVerifyWeightsLargeHashes(t *testing.T) {
	v := NewVerifier(nil, VerifierConfig{Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}, MaxConcurrent: 4}, nil)
	for _, c := range []struct {
		m    uint32
		want int
	}{{64, 1}, {1024, 1}, {1025, 2}, {3072, 3}, {4096, 4}, {4097, 5}, {1 << 20, 5}} {
		if got := v.weight(Argon2Params{Time: 1, MemoryKiB: c.m, Threads: 1}); got != c.want {
			t.Errorf("m=%d: weight %d, want %d", c.m, got, c.want)
		}
	}
	// A hash taking 3 of 4 slots leaves room for one small one only.
	var l hashLimiter
	l.capacity, l.maxQueue = 4, 0
	if err := l.acquire(context.Background(), 3, false); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(context.Background(), 1, false); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(context.Background(), 1, false); err != ErrBusy {
		t.Errorf("fifth slot: %v", err)
	}
	l.release(3)
	if err := l.acquire(context.Background(), 3, false); err != nil {
		t.Errorf("after release: %v", err)
	}
}

// TestVerifyTooCostlyHash: a stored hash that needs more memory than all
// the slots is never run; its user is denied with the reason, and the
// denial counts like any other (the dummy hash it runs instead costs a
// slot). TooCostly tells it ahead (gateway check, start-up, reload), as
// the operator trial found such users locked out without a word.
func TestVerifyTooCostlyHash(t *testing.T) {
	big, err := HashPassword("pw", Argon2Params{Time: 1, MemoryKiB: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	u := NewUsers()
	if err := u.Add(User{ID: "old", Hash: big}); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	th := NewThrottle(ThrottleConfig{})
	v := NewVerifier(u, VerifierConfig{Argon2: Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}, MaxConcurrent: 2, MinFailureTime: time.Nanosecond,
		LogDenial: func(_ context.Context, d Denial) { reasons = append(reasons, d.Reason) }}, th)
	for range 5 {
		if _, err := v.Verify(context.Background(), "old", "pw", "198.51.100.7:1"); err != ErrDenied {
			t.Fatalf("Verify: %v", err)
		}
	}
	if len(reasons) != 5 || !strings.HasPrefix(reasons[0], "stored hash needs m=256 KiB, more than the verifier's 2 slots of 64 KiB") || !strings.HasPrefix(reasons[4], "throttled for ") {
		t.Errorf("denials %q", reasons)
	}
	if d := th.Delay("old", "198.51.100.7:1"); d == 0 {
		t.Error("five denials of a too costly hash are not throttled")
	}
	got, _ := u.Lookup("old")
	if !got.TooCostly(2, 64) || got.TooCostly(4, 64) || got.TooCostly(1, 256) {
		t.Errorf("TooCostly: m=256 against 2x64 %v, 4x64 %v, 1x256 %v; want true, false, false", got.TooCostly(2, 64), got.TooCostly(4, 64), got.TooCostly(1, 256))
	}
}

// BenchmarkVerify measures one Verify (one argon2id computation) at the
// production costs: DefaultArgon2Params (RFC 9106 §4, p=4) and the
// configuration's default (p=1). Run with a short -benchtime (5x).
func BenchmarkVerify(b *testing.B) {
	for _, p := range []Argon2Params{DefaultArgon2Params, {Time: 3, MemoryKiB: 64 * 1024, Threads: 1}} {
		b.Run(p.String(), func(b *testing.B) {
			u := NewUsers()
			h, err := HashPassword("benchmark password", p)
			if err != nil {
				b.Fatal(err)
			}
			if err := u.Add(User{ID: "alice", Hash: h}); err != nil {
				b.Fatal(err)
			}
			v := NewVerifier(u, VerifierConfig{Argon2: p, MaxConcurrent: 1, MinFailureTime: time.Nanosecond}, nil)
			b.ResetTimer()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), "alice", "benchmark password", "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThrottle measures the bookkeeping around one attempt.
func BenchmarkThrottle(b *testing.B) {
	th := NewThrottle(ThrottleConfig{})
	srcs := make([]string, 1024)
	for i := range srcs {
		srcs[i] = fmt.Sprintf("198.51.%d.%d:4000", i/256, i%256)
	}
	i := 0
	for b.Loop() {
		s := srcs[i%len(srcs)]
		_ = th.Delay("alice", s)
		th.Failure("alice", s)
		i++
	}
}

// TestVerifyRefusesHashOverMemoryBound: a stored hash whose m exceeds every
// hashing slot together is not run (it would break the documented memory
// bound); its user is denied like any failure, after one dummy hash, and the
// operator log says why. It used to be run taking just every slot.
func TestVerifyRefusesHashOverMemoryBound(t *testing.T) {
	big, err := HashPassword("pw", Argon2Params{Time: 1, MemoryKiB: 4096, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	u := NewUsers()
	if err := u.Add(User{ID: "heavy", Hash: big}); err != nil {
		t.Fatal(err)
	}
	var logs []string
	v := NewVerifier(u, VerifierConfig{
		Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}, MaxConcurrent: 2, MinFailureTime: time.Nanosecond,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
	}, nil)
	if _, err := v.Verify(context.Background(), "heavy", "pw", "192.0.2.1:1"); err != ErrDenied {
		t.Fatalf("Verify: %v, want ErrDenied", err)
	}
	if st := v.Stats(); st.Hashes != 1 {
		t.Errorf("%d argon2id computations, want 1 (the dummy)", st.Hashes)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "m=4096 KiB") {
		t.Errorf("operator log %q does not name the oversized hash", logs)
	}
}

// TestVerifyLogOmitsUnknownNames: the operator's denial line names a
// user ID that is no account as "(unknown user)", in the ordinary and in
// the throttled denial, and an account by its ID. Regression: the line
// quoted whatever was tried, so a password typed at the login prompt
// reached the log in clear.
func TestVerifyLogOmitsUnknownNames(t *testing.T) {
	clock := newPolicyClock()
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	var logs []string
	th := NewThrottle(ThrottleConfig{FreeFailures: 1, Now: clock.Now})
	v := NewVerifier(u, VerifierConfig{
		Argon2: policyArgon2, MaxConcurrent: 1, MinFailureTime: time.Nanosecond, Now: clock.Now,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
	}, th)
	ctx := context.Background()
	const secret = "hunter2-secret"
	// The clock stands still: once the back-off starts, it throttles.
	for range 4 {
		if _, err := v.Verify(ctx, secret, "wrong", "192.0.2.1:5000"); err != ErrDenied {
			t.Fatalf("%v, want ErrDenied", err)
		}
	}
	if _, err := v.Verify(ctx, "alice", "wrong", "192.0.2.2:5000"); err != ErrDenied {
		t.Fatalf("alice: %v, want ErrDenied", err)
	}
	if len(logs) != 5 {
		t.Fatalf("log %q, want 5 lines", logs)
	}
	throttled := false
	for i, l := range logs[:4] {
		if strings.Contains(l, secret) || !strings.Contains(l, "login (unknown user) from") {
			t.Errorf("log line %d: %q, want the name given as (unknown user)", i, l)
		}
		throttled = throttled || strings.Contains(l, "throttled")
	}
	if !throttled {
		t.Errorf("log %q: no throttled denial", logs)
	}
	if !strings.Contains(logs[4], `login "alice" from`) {
		t.Errorf("log %q, want the account named", logs[4])
	}
}

// TestVerifyKnownLoginSkipsQueue: while guesses at unknown names from
// other addresses hold the slot and fill the queue, a user logging in
// from an address they logged in from before is neither shed nor queued
// behind the guesses; from a new address they are shed as anyone is.
// Security trial: alice got "checks busy" in 5 of 6 tries while 1,000
// addresses guessed at unknown names.
func TestVerifyKnownLoginSkipsQueue(t *testing.T) {
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "pw")}); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MaxQueue: 2,
		MinFailureTime: time.Millisecond}, NewThrottle(ThrottleConfig{}))
	ctx := context.Background()
	if _, err := v.Verify(ctx, "alice", "pw", "192.0.2.7:4000"); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	v.testHook = func() { <-gate }
	done := make(chan string, 8)
	verify := func(id, pw, src string) {
		_, err := v.Verify(ctx, id, pw, src)
		done <- fmt.Sprintf("%s %v", id, err)
	}
	// One guess hashing, two queued: the queue is full.
	go verify("guess0", "x", "198.51.100.1:1")
	for v.Stats().Hashing == 0 {
		time.Sleep(time.Millisecond)
	}
	for i, src := range []string{"198.51.100.2:1", "198.51.100.3:1"} {
		go verify(fmt.Sprintf("guess%d", i+1), "x", src)
		for v.Stats().Queued < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	if _, err := v.Verify(ctx, "alice", "pw", "203.0.113.9:4000"); err != ErrBusy {
		t.Errorf("alice from a new address: %v, want ErrBusy", err)
	}
	if _, err := v.Verify(ctx, "guess3", "x", "198.51.100.4:1"); err != ErrBusy {
		t.Errorf("a fourth guess: %v, want ErrBusy", err)
	}
	go verify("alice", "pw", "192.0.2.7:5000") // her address, another port
	for v.Stats().Queued < 3 {
		select {
		case r := <-done:
			t.Fatalf("alice from her address was not queued: %s", r)
		case <-time.After(time.Millisecond):
		}
	}
	// One check at a time, each to its end: the order they ran in.
	var order []string
	for range 4 {
		gate <- struct{}{}
		r := <-done
		id, _, _ := strings.Cut(r, " ")
		order = append(order, id)
		if id == "alice" && r != "alice <nil>" {
			t.Errorf("alice from her address: %s", r)
		}
	}
	if want := []string{"guess0", "alice", "guess1", "guess2"}; !slices.Equal(order, want) {
		t.Errorf("checks ended in the order %v, want %v (alice before the queued guesses)", order, want)
	}
}
