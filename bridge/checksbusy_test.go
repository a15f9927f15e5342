package bridge

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
)

// TestAuthVerifierChecksBusy: the production verifier, built from the
// configuration as serve builds it, answers ErrChecksBusy (an
// ErrThrottled) when its one hashing slot is taken and its queue of one
// is full: auth.ErrBusy is mapped (8366de8). TestLoginShedChecksBusy
// checks what the call does with ErrChecksBusy, with a fake verifier.
//
// The slot is held by a real argon2id computation (auth has no hook to
// block one from here), costly enough (t=4, m=32 MiB: a quarter of a
// second, more under -race) that the third check comes while it runs:
// the test waits for the verifier's own counts, not for time.
func TestAuthVerifierChecksBusy(t *testing.T) {
	c := testConfig(t)
	c.Security.MaxHashing = 1
	c.Security.HashQueue = 1 // the least the configuration allows; 0 is auth's default of 8 per slot
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 4, 32<<10, 1
	av := NewAuthVerifier(c, auth.NewUsers(), nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, 2)
	verify := func(user, source string) {
		_, err := av.Verify(ctx, user, "pw", source)
		results <- err
	}
	waitFor := func(what string, ok func(auth.VerifierStats) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(av.Auth().Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s: %+v", what, av.Auth().Stats())
			}
			runtime.Gosched()
		}
	}
	// Other users from other sources, so the throttle holds none back.
	go verify("ann", "192.0.2.1:1000")
	waitFor("check hashing", func(s auth.VerifierStats) bool { return s.Hashing == 1 })
	go verify("bob", "192.0.2.2:1000")
	waitFor("check queued", func(s auth.VerifierStats) bool { return s.Queued == 1 })

	_, err := av.Verify(ctx, "cat", "pw", "192.0.2.3:1000")
	if st := av.Auth().Stats(); st.Hashing != 1 || st.Hashes != 1 {
		t.Fatalf("the first check ended before the third was made (%+v): make it costlier", st)
	}
	if !errors.Is(err, ErrChecksBusy) || !errors.Is(err, ErrThrottled) {
		t.Errorf("Verify with the slot and the queue taken: %v, want ErrChecksBusy", err)
	}
	if st := av.Auth().Stats(); st.Shed != 1 {
		t.Errorf("verifier shed %d checks, want 1", st.Shed)
	}
	cancel() // the queued check gives up; the hashing one ends with its hash
	for range 2 {
		if err := <-results; errors.Is(err, ErrChecksBusy) {
			t.Errorf("a check that got a slot or a place in the queue: %v", err)
		}
	}
}
