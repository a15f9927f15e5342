package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const base, maxD = time.Second, time.Minute
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{-1, 0}, {0, 0}, {3, 0}, {4, time.Second}, {5, 2 * time.Second}, {6, 4 * time.Second},
		{9, 32 * time.Second}, {10, time.Minute}, {11, time.Minute}, {1 << 30, time.Minute},
	} {
		if got := Backoff(c.failures, 3, base, maxD); got != c.want {
			t.Errorf("Backoff(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
	// A huge cap must not overflow.
	huge := time.Duration(1<<63 - 1)
	if got := Backoff(200, 0, time.Second, huge); got <= 0 {
		t.Errorf("Backoff with a huge cap overflowed: %v", got)
	}
}

func TestDecayedFailures(t *testing.T) {
	const iv = 10 * time.Minute
	for _, c := range []struct {
		failures int
		quiet    time.Duration
		want     int
	}{
		{5, 0, 5}, {5, -time.Second, 5}, {5, 9 * time.Minute, 5}, {5, 10 * time.Minute, 4},
		{5, 49 * time.Minute, 1}, {5, 30 * time.Minute, 2}, {5, 50 * time.Minute, 0}, {5, 1000 * time.Hour, 0}, {0, time.Hour, 0},
	} {
		if got := DecayedFailures(c.failures, c.quiet, iv); got != c.want {
			t.Errorf("DecayedFailures(%d, %v) = %d, want %d", c.failures, c.quiet, got, c.want)
		}
	}
}

func TestThrottleGrowthAndDecay(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: 30 * time.Second,
		DecayInterval: 10 * time.Minute, Now: clock.Now})
	const src = "198.51.100.7:1234"
	// Growth: each failure made as soon as it is allowed.
	var delays []time.Duration
	for range 10 {
		th.Failure("alice", src)
		d := th.Delay("alice", src)
		delays = append(delays, d)
		clock.Advance(d)
	}
	want := "[0s 0s 0s 1s 2s 4s 8s 16s 30s 30s]"
	if got := fmt.Sprint(delays); got != want {
		t.Errorf("delays %s, want %s", got, want)
	}
	// No permanent lockout: MaxDelay after the last failure the user may
	// try again, however many failures came before.
	th.Failure("alice", src)
	clock.Advance(30*time.Second - time.Nanosecond)
	if d := th.Delay("alice", src); d != time.Nanosecond {
		t.Errorf("just before MaxDelay: %v", d)
	}
	clock.Advance(time.Nanosecond)
	if d := th.Delay("alice", src); d != 0 {
		t.Errorf("MaxDelay after the last failure: still %v", d)
	}
	// Decay: 11 failures; after 7 quiet intervals 4 remain, so the next
	// failure makes 5 and costs 2 s, not 30 s.
	clock.Advance(70*time.Minute - 30*time.Second)
	th.Failure("alice", src)
	if d := th.Delay("alice", src); d != 2*time.Second {
		t.Errorf("after decay: %v, want 2s", d)
	}
	// Fully decayed: free failures again.
	clock.Advance(time.Hour)
	th.Failure("alice", src)
	if d := th.Delay("alice", src); d != 0 {
		t.Errorf("after full decay: %v, want 0", d)
	}
}

// TestThrottleSetLimits: new limits (a reload) apply at once, to the
// failures already counted too; the handshake bound per source follows.
// Operator trial: throttle_base and throttle_max changed by a reload were
// not applied until a restart.
func TestThrottleSetLimits(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: time.Minute, MaxPendingPerSource: 1, Now: clock.Now})
	const src = "198.51.100.7:1234"
	for range 5 {
		th.Failure("alice", src)
	}
	if d := th.Delay("alice", src); d != 2*time.Second {
		t.Fatalf("5 failures: %v, want 2s", d)
	}
	th.SetLimits(30*time.Second, 10*time.Minute, 2)
	if d := th.Delay("alice", src); d != time.Minute {
		t.Errorf("5 failures after SetLimits(30s, 10m): %v, want 1m0s", d)
	}
	r1, err := th.BeginHandshake(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r1()
	r2, err := th.BeginHandshake(src)
	if err != nil {
		t.Errorf("second handshake with max_pending_per_source 2: %v", err)
	} else {
		r2()
	}
	th.SetLimits(0, 0, 0) // the defaults: 1 s, 5 min, 4
	if d := th.Delay("alice", src); d != 2*time.Second {
		t.Errorf("5 failures after SetLimits to the defaults: %v, want 2s", d)
	}
}

func TestThrottleUserAndSource(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{FreeFailures: 2, Now: clock.Now})
	// One source guessing at many users is held back on every user.
	for i := range 3 {
		th.Failure(fmt.Sprintf("u%d", i), "192.0.2.50:1000")
	}
	if d := th.Delay("someone-else", "192.0.2.50:2000"); d != time.Second {
		t.Errorf("guessing source, other port: %v, want 1s", d)
	}
	if d := th.Delay("someone-else", "192.0.2.51:1000"); d != 0 {
		t.Errorf("another source: %v", d)
	}
	// Many sources guessing at one user hold that user back.
	for i := range 3 {
		th.Failure("bob", fmt.Sprintf("203.0.113.%d:1", i))
	}
	if d := th.Delay("bob", "203.0.113.99:1"); d != time.Second {
		t.Errorf("guessed-at user from a fresh source: %v, want 1s", d)
	}
	// Success makes the source trusted for the user and clears the
	// user's count (for every source), not the source's.
	th.Success("bob", "203.0.113.0:1")
	if d := th.Delay("bob", "203.0.113.0:2"); d != 0 {
		t.Errorf("after success, from that source: %v", d)
	}
	if d := th.Delay("bob", "203.0.113.99:1"); d != 0 {
		t.Errorf("after success, from a fresh source: %v, want 0", d)
	}

	th.Success("u0", "192.0.2.50:1000")
	if d := th.Delay("", "192.0.2.50:1"); d != time.Second {
		t.Errorf("success whitewashed the source: %v", d)
	}
	// The nil throttle throttles nothing.
	var none *Throttle
	none.Failure("a", "b")
	none.Success("a", "b")
	if d := none.Delay("a", "b"); d != 0 {
		t.Errorf("nil throttle: %v", d)
	}
	rel, err := none.BeginHandshake("b")
	if err != nil {
		t.Fatal(err)
	}
	rel()
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:2323":            "192.0.2.1",
		"192.0.2.1":                 "192.0.2.1",
		"[::ffff:192.0.2.1]:23":     "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:23": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":           "2001:db8:1:2::/64",
		"[fe80::1%eth0]:23":         "fe80::/64",
		"pipe":                      "pipe",
		"sim:caller":                "sim:caller",
		"":                          "",
	} {
		if got := SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBeginHandshakeCap(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxPendingPerSource: 3})
	var rels []func()
	for i := range 3 {
		rel, err := th.BeginHandshake(fmt.Sprintf("192.0.2.9:%d", 1000+i))
		if err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
		rels = append(rels, rel)
	}
	if _, err := th.BeginHandshake("192.0.2.9:2000"); !errors.Is(err, ErrTooManyPending) {
		t.Errorf("fourth from one address: %v", err)
	}
	if rel, err := th.BeginHandshake("192.0.2.10:2000"); err != nil {
		t.Errorf("another address: %v", err)
	} else {
		rel()
	}
	rels[0]()
	rels[0]() // a second call does nothing
	if n := th.Pending("192.0.2.9"); n != 2 {
		t.Errorf("pending %d after one release (called twice), want 2", n)
	}
	rel, err := th.BeginHandshake("192.0.2.9:3000")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	rel()
	rels[1]()
	rels[2]()
	if n := th.Pending("192.0.2.9"); n != 0 || len(th.pending) != 0 {
		t.Errorf("pending %d, map %v after every release", n, th.pending)
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	clock := newPolicyClock()
	th := NewThrottle(ThrottleConfig{MaxEntries: 100, DecayInterval: time.Minute, Now: clock.Now})
	// A guessing target with several failures ...
	for range 5 {
		th.Failure("alice", "10.0.0.1")
	}
	// ... then a flood of distinct users and sources.
	for i := range 1000 {
		clock.Advance(time.Millisecond)
		th.Failure(fmt.Sprintf("u%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250))
	}
	users, sources := th.Len()
	if users > 100 || sources > 100 {
		t.Errorf("%d users and %d sources remembered, cap 100", users, sources)
	}
	if d := th.Delay("u999", "10.1.3.249"); d != 0 {
		t.Errorf("one failure should not delay: %v", d)
	}
	// Entries that have decayed to nothing go first.
	clock.Advance(2 * time.Minute)
	th.Failure("fresh", "10.9.9.9")
	th.mu.Lock()
	th.evict(th.users, clock.Now())
	th.mu.Unlock()
	if users, _ := th.Len(); users != 1 {
		t.Errorf("%d users after everything but one decayed, want 1", users)
	}
}

// TestNilThrottle: the nil *Throttle throttles nothing, as documented,
// and none of its methods panics (Len and Pending used to).
func TestNilThrottle(t *testing.T) {
	var th *Throttle
	if d := th.Delay("u", "192.0.2.1:1"); d != 0 {
		t.Errorf("Delay %v", d)
	}
	th.Failure("u", "192.0.2.1:1")
	th.Success("u", "192.0.2.1:1")
	release, err := th.BeginHandshake("192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if u, s := th.Len(); u != 0 || s != 0 {
		t.Errorf("Len %d, %d", u, s)
	}
	if n := th.Pending("192.0.2.1:1"); n != 0 {
		t.Errorf("Pending %d", n)
	}
}
