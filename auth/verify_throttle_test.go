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
// the slot queue) it reports how many were refused at once, then lets the
// hashes run and returns how many argon2id computations the wave cost.
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
		// would be free and the next one held back. At once, the same.
		refused, hashes := guessWave(t, v, "dave", manySources("127.0.6", 30))
		if refused != 27 || hashes != 3 {
			t.Errorf("30 guesses at once after one failure: %d refused at once, %d hashed; want 27 and 3", refused, hashes)
		}
		// Four failures now: held back for BaseDelay.
		if refused, hashes := guessWave(t, v, "dave", manySources("127.0.7", 30)); refused != 30 || hashes != 0 {
			t.Errorf("30 guesses at once during the back-off: %d refused, %d hashed; want 30 and 0", refused, hashes)
		}
		// When the back-off has run out, one guess, not thirty.
		clock.Advance(th.Delay("dave", ""))
		if refused, hashes := guessWave(t, v, "dave", manySources("127.0.8", 30)); refused != 29 || hashes != 1 {
			t.Errorf("30 guesses at once after the back-off: %d refused, %d hashed; want 29 and 1", refused, hashes)
		}
		if d := th.Delay("dave", ""); d != 2*time.Second {
			t.Errorf("back-off after the fifth failure %v, want 2s", d)
		}
	})
}

// TestThrottleAdmitCountsInFlight: an admitted attempt counts as a failure
// made now until it is resolved; Abandon gives its place back, Failure
// records it, and only the first resolution counts.
func TestThrottleAdmitCountsInFlight(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, Now: clock.Now})
	var atts []*Attempt
	for i := range 4 {
		a, d := th.Admit("carol", fmt.Sprintf("192.0.2.%d:1", i))
		if a == nil || d != 0 {
			t.Fatalf("attempt %d within the free failures: %v, %v", i, a, d)
		}
		atts = append(atts, a)
	}
	if a, d := th.Admit("carol", "192.0.2.99:1"); a != nil || d != time.Second {
		t.Errorf("fifth at once: %v, %v; want refused for 1s", a, d)
	}
	if d := th.Delay("carol", ""); d != time.Second {
		t.Errorf("Delay with four in flight: %v, want 1s", d)
	}
	atts[3].Abandon()
	atts[3].Failure() // resolved already: does nothing
	a, d := th.Admit("carol", "192.0.2.99:1")
	if a == nil || d != 0 {
		t.Fatalf("after an abandoned attempt: %v, %v", a, d)
	}
	atts[3] = a
	for _, a := range atts {
		a.Failure()
		a.Failure()
	}
	if e := th.users["carol"]; e.failures != 4 || e.inFlight != 0 {
		t.Errorf("after four failures, each resolved twice: %+v", e)
	}
	if d := th.Delay("carol", ""); d != time.Second {
		t.Errorf("after four failures: %v, want 1s", d)
	}
	// Success keeps the other attempts in flight.
	clock.Advance(time.Second)
	a1, _ := th.Admit("carol", "192.0.2.50:1")
	th.Success("carol", "192.0.2.60:1")
	if e := th.users["carol"]; e.inFlight != 1 {
		t.Errorf("a success forgot the attempt in flight: %+v", e)
	}
	a1.Abandon()
	if u, s := th.Len(); u != 0 || s != 4 {
		t.Errorf("remembered %d users, %d sources after everything resolved; want 0, 4", u, s)
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
	for i := range 2 {
		if a, d := th.Admit("victim", fmt.Sprintf("198.51.100.%d:1", i)); a == nil || d != 0 {
			t.Fatalf("attempt %d: %v, %v", i, a, d)
		}
	}
	for i := range 100 {
		clock.Advance(time.Millisecond)
		th.Failure(fmt.Sprintf("u%d", i), fmt.Sprintf("203.0.113.%d", i))
	}
	if a, d := th.Admit("victim", "198.51.100.9:1"); a != nil || d == 0 {
		t.Errorf("third attempt with two in flight admitted after evictions (FreeFailures 1)")
	}
	if users, sources := th.Len(); users > 10 || sources > 10 {
		t.Errorf("%d users, %d sources remembered, cap 10", users, sources)
	}
}
