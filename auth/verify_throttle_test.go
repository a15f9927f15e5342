package auth

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// guessWave starts one Verify per source at once, every one guessing a
// wrong password for user, while the hash is held inside the counted
// section. Once every goroutine is finished or blocked (in the hash or in
// the slot queue, or waiting for the attempts in flight to end) it reports
// how many were refused at once, then lets the hashes run and returns how
// many argon2id computations the wave cost; every guess must end denied.
// It must run inside a synctest bubble.
func guessWave(t *testing.T, v *Verifier, user string, sources []string) (refused int, hashes uint64) {
	t.Helper()
	before := v.Stats().Hashes
	gate := make(chan struct{})
	v.testHook = func() { <-gate }
	results := make(chan error, len(sources))
	for i, src := range sources {
		go func() {
			_, err := v.Verify(context.Background(), user, fmt.Sprintf("guess%d", i), src)
			results <- err
		}()
	}
	synctest.Wait()
	refused = len(results)
	close(gate)
	for range sources {
		if err := <-results; err != ErrDenied {
			t.Errorf("a guess at %s: %v, want ErrDenied", user, err)
		}
	}
	v.testHook = nil
	return refused, v.Stats().Hashes - before
}

func manySources(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s.%d:4000", prefix, i+1)
	}
	return s
}

// TestVerifyConcurrentGuessesHeldToBackoff: guesses started at once from
// many sources get no more argon2id computations than guesses made one
// after another. Regression: Verify checked the throttle before waiting for
// a hashing slot and recorded the failure only after the hash, so 30
// simultaneous guesses at one account were all hashed and answered, however
// far the back-off had gone.
func TestVerifyConcurrentGuessesHeldToBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newPolicyClock()
		u := NewUsers()
		if err := u.Add(User{ID: "dave", Hash: policyHash(t, "davepass1")}); err != nil {
			t.Fatal(err)
		}
		th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: 20 * time.Second, Now: clock.Now})
		v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MaxQueue: 64,
			MinFailureTime: time.Second, Now: clock.Now, Sleep: (&policySleeper{}).Sleep}, th)
		if _, err := v.Verify(context.Background(), "dave", "x", "127.0.6.200:1"); err != ErrDenied {
			t.Fatal(err)
		}
		// One failure recorded: one after another, three more guesses
		// would be free and the next one held back. At once, the same:
		// three are checked, and the others wait for them (not refused
		// at once, since any of the three might be a right password)
		// and are refused when they fail.
		refused, hashes := guessWave(t, v, "dave", manySources("127.0.6", 30))
		if refused != 0 || hashes != 3 {
			t.Errorf("30 guesses at once after one failure: %d refused at once, %d hashed; want 0 (27 waiting) and 3", refused, hashes)
		}
		// Four failures now: held back for BaseDelay.
		if refused, hashes := guessWave(t, v, "dave", manySources("127.0.7", 30)); refused != 30 || hashes != 0 {
			t.Errorf("30 guesses at once during the back-off: %d refused, %d hashed; want 30 and 0", refused, hashes)
		}
		// When the back-off has run out, one guess, not thirty.
		clock.Advance(th.Delay("dave", ""))
		if refused, hashes := guessWave(t, v, "dave", manySources("127.0.8", 30)); refused != 0 || hashes != 1 {
			t.Errorf("30 guesses at once after the back-off: %d refused at once, %d hashed; want 0 (29 waiting) and 1", refused, hashes)
		}
		if d := th.Delay("dave", ""); d != 2*time.Second {
			t.Errorf("back-off after the fifth failure %v, want 2s", d)
		}
	})
}

// TestThrottleAdmitCountsInFlight: once a user has a failure, an admitted
// attempt counts as a failure made now until it is resolved; Abandon gives
// its place back, Failure records it, and only the first resolution
// counts.
func TestThrottleAdmitCountsInFlight(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, Now: clock.Now})
	th.Failure("carol", "192.0.2.200:1")
	var atts []*Attempt
	for i := range 3 {
		a, d := th.Admit("carol", fmt.Sprintf("192.0.2.%d:1", i))
		if a == nil || d != 0 {
			t.Fatalf("attempt %d within the free failures: %v, %v", i, a, d)
		}
		atts = append(atts, a)
	}
	if a, d := th.Admit("carol", "192.0.2.99:1"); a != nil || d != time.Second {
		t.Errorf("fourth at once after a failure: %v, %v; want refused for 1s", a, d)
	}
	if d := th.Delay("carol", ""); d != time.Second {
		t.Errorf("Delay with a failure and three in flight: %v, want 1s", d)
	}
	atts[2].Abandon()
	atts[2].Failure() // resolved already: does nothing
	a, d := th.Admit("carol", "192.0.2.99:1")
	if a == nil || d != 0 {
		t.Fatalf("after an abandoned attempt: %v, %v", a, d)
	}
	atts[2] = a
	for _, a := range atts {
		a.Failure()
		a.Failure()
	}
	if e := th.users["carol"]; e.failures != 4 || e.inFlight != 0 {
		t.Errorf("after one failure and three more, each resolved twice: %+v", e)
	}
	if d := th.Delay("carol", ""); d != time.Second {
		t.Errorf("after four failures: %v, want 1s", d)
	}
	// A success keeps the other attempts in flight; once every attempt has
	// ended, nothing is in flight and nothing is left of the abandoned
	// attempt's fresh source.
	clock.Advance(time.Second)
	a1, _ := th.Admit("carol", "192.0.2.50:1")
	th.Success("carol", "192.0.2.60:1")
	if e := th.users["carol"]; e.inFlight != 1 {
		t.Errorf("a success forgot the attempt in flight: %+v", e)
	}
	a1.Abandon()
	for k, e := range th.users {
		if e.inFlight != 0 {
			t.Errorf("user %s: %d in flight after every attempt ended", k, e.inFlight)
		}
	}
	if _, s := th.Len(); s != 4 {
		t.Errorf("remembered %d sources after everything resolved; want the 4 that failed", s)
	}
	// The nil throttle admits everything; the nil attempt does nothing.
	var none *Throttle
	if a, d := none.Admit("carol", "x"); a != nil || d != 0 {
		t.Errorf("nil throttle: %v, %v", a, d)
	}
	var na *Attempt
	na.Failure()
	na.Success()
	na.Abandon()
}

// TestThrottleEvictKeepsInFlight: making room in a full table never drops
// an entry whose attempts are still in flight (their count would be lost).
func TestThrottleEvictKeepsInFlight(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 1, MaxEntries: 10, Now: clock.Now})
	th.Failure("victim", "198.51.100.200:1")
	if a, d := th.Admit("victim", "198.51.100.1:1"); a == nil || d != 0 {
		t.Fatalf("attempt within the free failure: %v, %v", a, d)
	}
	for i := range 100 {
		clock.Advance(time.Millisecond)
		th.Failure(fmt.Sprintf("u%d", i), fmt.Sprintf("203.0.113.%d", i))
	}
	if a, d := th.Admit("victim", "198.51.100.9:1"); a != nil || d == 0 {
		t.Errorf("second attempt with a failure and one in flight admitted after evictions (FreeFailures 1)")
	}
	if users, sources := th.Len(); users > 10 || sources > 10 {
		t.Errorf("%d users, %d sources remembered, cap 10", users, sources)
	}
}

// TestVerifyStrangerCannotLockOutKnownSource: guesses at a user from
// elsewhere do not keep the user out of a source they logged in from.
// Regression: the per-user back-off applied whatever the source, so eight
// wrong guesses from eight addresses denied alice her right password (the
// live test: "throttled for 998ms"), and a dozen guesses an hour kept any
// account locked. Kept: a source alice never logged in from stays held
// back by her count (distributed guessing), and her own source by its
// count (guessing from there).
func TestVerifyStrangerCannotLockOutKnownSource(t *testing.T) {
	clock := newPolicyClock()
	u := NewUsers()
	if err := u.Add(User{ID: "alice", Hash: policyHash(t, "hunter2pw")}); err != nil {
		t.Fatal(err)
	}
	if err := u.Add(User{ID: "bob", Hash: policyHash(t, "bobpw")}); err != nil {
		t.Fatal(err)
	}
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: 5 * time.Minute, Now: clock.Now})
	v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MinFailureTime: time.Second,
		Now: clock.Now, Sleep: (&policySleeper{clock: clock}).Sleep}, th)
	ctx := context.Background()
	const home = "192.0.2.10:5000"
	if _, err := v.Verify(ctx, "alice", "hunter2pw", home); err != nil {
		t.Fatalf("alice at home: %v", err)
	}
	for i := 21; i <= 28; i++ {
		if _, err := v.Verify(ctx, "alice", fmt.Sprintf("wrong%d", i), fmt.Sprintf("127.0.0.%d:4000", i)); err != ErrDenied {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if d := th.Delay("alice", "127.0.0.99:4000"); d == 0 {
		t.Fatal("eight guesses left alice unthrottled at a fresh source")
	}
	hashes := v.Stats().Hashes
	if _, err := v.Verify(ctx, "alice", "hunter2pw", "192.0.2.10:6000"); err != nil {
		t.Errorf("alice at home after strangers' guesses: %v", err)
	}
	if v.Stats().Hashes != hashes+1 {
		t.Error("alice's login at home ran no argon2id")
	}
	// Her login brought her count down; the strangers guess on. The
	// trade-off: at a source alice never logged in from, the guesses
	// hold her (and every guesser) back.
	for i := 31; i <= 38; i++ {
		if _, err := v.Verify(ctx, "alice", fmt.Sprintf("wrong%d", i), fmt.Sprintf("127.0.0.%d:4000", i)); err != ErrDenied {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	th.Failure("alice", "127.0.0.39:4000") // the latest guess, just now
	if _, err := v.Verify(ctx, "alice", "hunter2pw", "127.0.0.99:4000"); err != ErrDenied {
		t.Errorf("alice at a fresh source during the guessing: %v, want ErrDenied", err)
	}
	// Trust is per user: alice's home is nobody else's.
	for i := range 5 { // each failure is padded to 1 s, so 5 to outlast it
		_, _ = v.Verify(ctx, "bob", "wrong", fmt.Sprintf("198.51.100.%d:1", i))
	}
	if d := th.Delay("bob", home); d == 0 {
		t.Error("bob, guessed at from elsewhere, is not held back at alice's home")
	}
	// Guessing from alice's home is held back by that source's own count,
	// which does cover her.
	for i := range 5 {
		if _, err := v.Verify(ctx, "alice", fmt.Sprintf("nope%d", i), home); err != ErrDenied {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(ctx, "alice", "hunter2pw", home); err != ErrDenied {
		t.Errorf("alice at home after five failures from home: %v, want ErrDenied", err)
	}
	clock.Advance(th.Delay("", home))
	if _, err := v.Verify(ctx, "alice", "hunter2pw", home); err != nil {
		t.Errorf("alice at home once its own back-off ran out: %v", err)
	}
}

// TestThrottleTrustedSources: which sources are trusted for a user, for
// how long, how many, and in how much memory.
func TestThrottleTrustedSources(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 1, TrustedSources: 2, TrustFor: time.Hour, MaxEntries: 10, Now: clock.Now})
	// held reports whether alice is held back at src just after strangers
	// guessed at her.
	guesses := 0
	held := func(src string) bool {
		for range 3 {
			guesses++
			th.Failure("alice", fmt.Sprintf("203.0.%d.%d:1", 113+guesses/250, guesses%250))
		}
		return th.Delay("alice", src) > 0
	}
	th.Success("alice", "[2001:db8:1:2::5]:23")
	// IPv6 by /64, as sources are counted.
	if held("[2001:db8:1:2::99]:2323") {
		t.Error("another address in alice's /64 is held back")
	}
	if !held("[2001:db8:1:3::5]:23") {
		t.Error("another /64 is trusted")
	}
	// While attempts are in flight, the trusted source is still admitted.
	a, _ := th.Admit("alice", "[2001:db8:1:2::1]:1")
	if a == nil {
		t.Fatal("trusted source refused")
	}
	if b, _ := th.Admit("alice", "[2001:db8:1:2::1]:2"); b == nil {
		t.Error("trusted source refused with one attempt of its own in flight (FreeFailures 1)")
	} else {
		b.Abandon()
	}
	a.Abandon()
	// The most recent TrustedSources, each for TrustFor after its last login.
	th.Success("alice", "192.0.2.1:1")
	clock.Advance(10 * time.Minute)
	th.Success("alice", "192.0.2.2:1")
	if !held("[2001:db8:1:2::5]:23") || held("192.0.2.1:9") || held("192.0.2.2:9") {
		t.Errorf("trusted: %v, want the two most recent", th.trusted["alice"])
	}
	clock.Advance(50 * time.Minute)
	if !held("192.0.2.1:9") || held("192.0.2.2:9") {
		t.Errorf("an hour after its login, a source is still trusted (or one 50 min after is not): %v", th.trusted["alice"])
	}
	th.Success("alice", "192.0.2.3:1")
	if n := len(th.trusted["alice"]); n != 2 {
		t.Errorf("%d trusted sources kept, want 2 (%v)", n, th.trusted["alice"])
	}
	// Failures from a trusted source count against the user elsewhere.
	clock.Advance(24 * time.Hour)
	th.Success("alice", "192.0.2.3:1")
	th.Failure("alice", "192.0.2.3:1")
	th.Failure("alice", "192.0.2.3:1")
	if th.Delay("alice", "198.51.100.1:1") == 0 || th.Delay("", "192.0.2.3:1") == 0 || th.Delay("alice", "192.0.2.3:1") == 0 {
		t.Error("failures from a trusted source: want alice held back elsewhere, and there by the source's count")
	}
	// One table entry per user who logged in, bounded by MaxEntries.
	for i := range 100 {
		clock.Advance(time.Second)
		th.Success(fmt.Sprintf("u%d", i), "192.0.2.7:1")
	}
	if n := len(th.trusted); n > 10 {
		t.Errorf("%d users with trusted sources, cap 10", n)
	}
	if _, ok := th.trusted["u99"]; !ok {
		t.Error("the most recent login was evicted")
	}
	// TrustedSources < 0: no source is trusted.
	off := NewThrottle(ThrottleConfig{FreeFailures: 1, TrustedSources: -1, Now: clock.Now})
	off.Success("alice", "192.0.2.1:1")
	off.Failure("alice", "203.0.113.1:1")
	off.Failure("alice", "203.0.113.2:1")
	if off.Delay("alice", "192.0.2.1:1") == 0 || len(off.trusted) != 0 {
		t.Error("TrustedSources -1 trusts a source")
	}
}

// TestThrottleConcurrentLoginsWithoutFailures: with no failure to their
// name, a user and an address are not held back by their own attempts in
// flight: twenty callers logging in to one shared guest account at once,
// from one address or many, are all admitted. One failure, and the rest
// in flight count again.
func TestThrottleConcurrentLoginsWithoutFailures(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, Now: clock.Now})
	var atts []*Attempt
	for i := range 20 {
		src := "192.0.2.1:1"
		if i%2 == 1 {
			src = fmt.Sprintf("198.51.100.%d:1", i)
		}
		a, d := th.Admit("guest", src)
		if a == nil || d != 0 {
			t.Fatalf("login %d of a shared account with no failures: %v, %v", i, a, d)
		}
		atts = append(atts, a)
	}
	atts[0].Failure() // one failure: 1 + 19 in flight is past the free failures
	if a, d := th.Admit("guest", "203.0.113.1:1"); a != nil || d == 0 {
		t.Errorf("with a failure and 19 in flight: admitted (%v, %v)", a, d)
	}
	for _, a := range atts[1:] {
		a.Success()
	}
}

// TestThrottleAdmitWaitsForInFlight: an attempt held back only by another
// in flight for its user waits for it and is admitted when it ends as a
// login, so a right password that comes while another caller's check of
// a shared account runs is not refused (after one caller's typo, the
// attempts in flight count); held back by a settled back-off it is
// refused at once; its context ends the wait.
func TestThrottleAdmitWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newPolicyClock()
		th := NewThrottle(ThrottleConfig{FreeFailures: 1, BaseDelay: time.Second, Now: clock.Now})
		th.Failure("guest", "198.51.100.1:1") // someone's typo
		first, d := th.Admit("guest", "192.0.2.1:1")
		if first == nil || d != 0 {
			t.Fatalf("first login: %v, %v", first, d)
		}
		type result struct {
			a   *Attempt
			d   time.Duration
			err error
		}
		got := make(chan result, 1)
		go func() {
			a, d, err := th.AdmitWait(context.Background(), "guest", "192.0.2.2:1")
			got <- result{a, d, err}
		}()
		synctest.Wait()
		select {
		case r := <-got:
			t.Fatalf("second login not held while the first is checked: %+v", r)
		default:
		}
		first.Success()
		r := <-got
		if r.a == nil || r.d != 0 || r.err != nil {
			t.Fatalf("second login after the first succeeded: %+v", r)
		}
		r.a.Success()

		// A settled back-off is not waited out.
		th.Failure("guest", "198.51.100.1:1")
		th.Failure("guest", "198.51.100.1:1")
		if a, d, err := th.AdmitWait(context.Background(), "guest", "192.0.2.3:1"); a != nil || d == 0 || err != nil {
			t.Errorf("during a back-off: %v, %v, %v; want refused", a, d, err)
		}
		// The context ends a wait.
		clock.Advance(time.Hour)
		th.Failure("guest", "198.51.100.1:1")
		held, _ := th.Admit("guest", "192.0.2.4:1")
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			a, d, err := th.AdmitWait(ctx, "guest", "192.0.2.5:1")
			got <- result{a, d, err}
		}()
		synctest.Wait()
		cancel()
		if r := <-got; r.a != nil || r.err == nil {
			t.Errorf("cancelled wait: %+v", r)
		}
		held.Abandon()
	})
}

// TestThrottleSharedAccountAfterTypos: callers of a shared account who
// mistype now and then, then log in, do not leave the account held back:
// two logins at once afterwards are both admitted at once (the review's
// case: with no count cleared by a login, the second was refused).
func TestThrottleSharedAccountAfterTypos(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, Now: clock.Now})
	for i := range 3 {
		src := fmt.Sprintf("198.51.100.%d:1", i)
		a, _ := th.Admit("guest", src)
		a.Failure()
		clock.Advance(5 * time.Second)
		a, _ = th.Admit("guest", src)
		a.Success()
	}
	for i := range 100 {
		clock.Advance(time.Second)
		a, _ := th.Admit("guest", fmt.Sprintf("203.0.113.%d:1", i))
		a.Success()
	}
	clock.Advance(time.Second)
	first, _ := th.Admit("guest", "192.0.2.10:1")
	second, d := th.Admit("guest", "192.0.2.11:1")
	if first == nil || second == nil {
		t.Fatalf("two logins at once to a shared account after its callers' typos: %v, %v (wait %v)", first, second, d)
	}
	first.Success()
	second.Success()
}

// TestThrottleLoginDoesNotReopenBurst: the owner's login while guesses
// go on brings the user's count down to below the free failures, not to
// zero, so the attempts in flight still count: a burst of 50 guesses at
// once right after it gets two checks, not fifty (the late review's
// case, with the count cleared to zero).
func TestThrottleLoginDoesNotReopenBurst(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, Now: clock.Now})
	for i := range 6 {
		th.Failure("erin", fmt.Sprintf("203.0.113.%d:1", i))
	}
	clock.Advance(time.Hour / 2) // the back-off has run out; the count has not decayed to zero
	owner, d := th.Admit("erin", "192.0.2.1:1")
	if owner == nil {
		t.Fatalf("the owner's login: held back %v", d)
	}
	owner.Success()
	admitted := 0
	for i := range 50 {
		if a, _ := th.Admit("erin", fmt.Sprintf("198.51.100.%d:1", i)); a != nil {
			admitted++
			defer a.Failure()
		}
	}
	if admitted > 2 {
		t.Errorf("50 guesses at once after the owner's login: %d admitted, want at most 2", admitted)
	}
}

// TestThrottledReasonRounded: a throttled attempt's reason (the log line,
// the call record) gives the back-off left rounded, not to the
// nanosecond. Operator trial: "denied: throttled for 999.868895ms".
func TestThrottledReasonRounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newPolicyClock()
		u := NewUsers()
		if err := u.Add(User{ID: "dave", Hash: policyHash(t, "davepass1")}); err != nil {
			t.Fatal(err)
		}
		var reasons []string
		th := NewThrottle(ThrottleConfig{FreeFailures: 1, BaseDelay: 3 * time.Second, MaxDelay: 20 * time.Second, Now: clock.Now})
		v := NewVerifier(u, VerifierConfig{Argon2: policyArgon2, MaxConcurrent: 1, MaxQueue: 4,
			MinFailureTime: time.Second, Now: clock.Now, Sleep: (&policySleeper{}).Sleep,
			LogDenial: func(_ context.Context, d Denial) { reasons = append(reasons, d.Reason) }}, th)
		for range 2 {
			if _, err := v.Verify(context.Background(), "dave", "x", "127.0.9.1:1"); err != ErrDenied {
				t.Fatal(err)
			}
		}
		for _, left := range []time.Duration{123456789 * time.Nanosecond, 1234567890 * time.Nanosecond} {
			clock.Advance(th.Delay("dave", "") - left)
			if _, err := v.Verify(context.Background(), "dave", "x", "127.0.9.1:1"); err != ErrDenied {
				t.Fatal(err)
			}
		}
		got := reasons[len(reasons)-2:]
		if got[0] != "throttled for 123ms" || got[1] != "throttled for 1.2s" {
			t.Errorf("reasons %q, want throttled for 123ms, 1.2s", got)
		}
	})
}
