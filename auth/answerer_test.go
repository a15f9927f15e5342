package auth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// Cheap argon2id parameters for tests that exercise the verifier's limits,
// not its cost.
var testArgon2 = Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}

func testVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	users := NewUsers()
	for id, u := range testUsers {
		hash, err := HashPassword(u.password, cfg.Argon2)
		if err != nil {
			t.Fatal(err)
		}
		usr := u.user
		usr.Hash = hash
		if err := users.Add(usr); err != nil {
			t.Fatalf("adding %s: %v", id, err)
		}
	}
	return NewVerifier(users, cfg, nil)
}

// TestConcurrentResponsesShedLoad: 1,000 RESPONSEs reach verification at
// once. Argon2id never runs more than MaxConcurrent times at once (so its
// memory stays under MaxConcurrent x MemoryKiB), the excess is rejected
// "busy" at once, and a legitimate caller afterwards still gets in.
func TestConcurrentResponsesShedLoad(t *testing.T) {
	testutil.CheckGoroutines(t)
	const n = 1000
	cfg := VerifierConfig{Argon2: testArgon2, MaxConcurrent: 2, MaxQueue: 8, MinFailureTime: time.Millisecond}
	v := testVerifier(t, cfg)
	d := golden(t, scenarioDenied) // unknown user: the dummy hash runs

	var arrived sync.WaitGroup
	arrived.Add(n)
	start := make(chan struct{})
	verify := func(ctx context.Context, id, pw string) (User, error) {
		arrived.Done()
		<-start // every RESPONSE has decrypted before any verification runs
		return v.Verify(ctx, id, pw, "198.51.100.7")
	}
	reasons := make(chan Reason, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			conn := &scriptConn{transcript: testTranscript, commands: [][]byte{d.resp}}
			cfg := answererConfig(scenarioDenied.gwSeed, nil)
			cfg.Verify = verify
			_, err := Answer(context.Background(), conn, d.init, cfg)
			r, _ := RejectReason(err)
			reasons <- r
		})
	}
	arrived.Wait()
	close(start)
	wg.Wait()
	close(reasons)
	counts := map[Reason]int{}
	for r := range reasons {
		counts[r]++
	}
	st := v.Stats()
	t.Logf("reasons %v; verifier %+v", counts, st)
	if counts[ReasonDenied]+counts[ReasonBusy] != n || counts[ReasonBusy] == 0 {
		t.Fatalf("reasons %v: want only denied and busy, some busy", counts)
	}
	if st.PeakHashing > cfg.MaxConcurrent {
		t.Fatalf("%d argon2id computations at once, limit %d (%d KiB each)", st.PeakHashing, cfg.MaxConcurrent, cfg.Argon2.MemoryKiB)
	}
	if st.Hashes > uint64(counts[ReasonDenied]) {
		t.Fatalf("%d hashes for %d denied verifications", st.Hashes, counts[ReasonDenied])
	}

	// Afterwards a legitimate caller succeeds.
	ac := answererConfig("later", nil)
	ac.Verify = func(ctx context.Context, id, pw string) (User, error) { return v.Verify(ctx, id, pw, "203.0.113.9") }
	r := runPair(t, scenarioDirect.callerConfig(nil), ac, testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil {
		t.Fatalf("legitimate caller after the flood: %v / %v", r.callErr, r.ansErr)
	}
}

func TestAnswerConfigErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	for name, mutate := range map[string]func(*AnswererConfig){
		"no host key":  func(c *AnswererConfig) { c.HostKey = HostKey{} },
		"no verify":    func(c *AnswererConfig) { c.Verify = nil },
		"no allocator": func(c *AnswererConfig) { c.AllocateSession = nil },
		"long name":    func(c *AnswererConfig) { c.Name = string(make([]byte, MaxNameLen+1)) },
		"long ttl":     func(c *AnswererConfig) { c.CallbackTTL = 25 * time.Hour },
	} {
		cfg := answererConfig("g", nil)
		mutate(&cfg)
		if _, err := Answer(context.Background(), &scriptConn{}, g.init, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, mutate := range map[string]func(*CallerConfig){
		"no host key check": func(c *CallerConfig) { c.CheckHostKey = nil },
		"no user":           func(c *CallerConfig) { c.UserID = "" },
		"long password":     func(c *CallerConfig) { c.Password = string(make([]byte, MaxPasswordLen+1)) },
	} {
		cfg := scenarioDirect.callerConfig(nil)
		mutate(&cfg)
		if _, err := Call(context.Background(), &scriptConn{}, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRejectInitiate(t *testing.T) {
	testutil.CheckGoroutines(t)
	conn := &scriptConn{}
	if err := RejectInitiate(conn, ReasonBusy); err != nil {
		t.Fatal(err)
	}
	var re *RejectError
	if _, _, err := callWith(scenarioDirect, conn.sentResps[0]); !errors.As(err, &re) || re.Reason != ReasonBusy || re.Authenticated {
		t.Fatalf("caller on busy: %v", err)
	}
}

// BenchmarkHandshake measures phases i–iv on both ends over an in-memory
// pipe, excluding argon2id (the verifier is a map lookup).
func BenchmarkHandshake(b *testing.B) {
	cc := scenarioDirect.callerConfig(nil)
	cc.Rand = nil // crypto/rand
	ac := answererConfig("g", nil)
	ac.Rand = nil
	for b.Loop() {
		r := runPair(b, cc, ac, testTranscript, testTranscript, nil)
		if r.callErr != nil || r.ansErr != nil {
			b.Fatal(r.callErr, r.ansErr)
		}
	}
}

// BenchmarkCallback measures phases v–vi on both ends.
func BenchmarkCallback(b *testing.B) {
	gt, ct, _, _ := callbackFixture(b)
	for b.Loop() {
		_, _, _, gerr, cerr := runCallbackPair(b, gt.clone(), nil, ct.clone())
		if gerr != nil || cerr != nil {
			b.Fatal(gerr, cerr)
		}
	}
}

// BenchmarkDeniedTiming reports how long a denied handshake takes for an
// unknown user and for a known user with a wrong password, with the real
// verifier (argon2id m=19 MiB, t=2; failures padded to 100 ms). Compare the
// p50/p90/max metrics of the two sub-benchmarks; nothing asserts on them.
func BenchmarkDeniedTiming(b *testing.B) {
	cfg := VerifierConfig{Argon2: Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}, MaxConcurrent: 1, MinFailureTime: 100 * time.Millisecond}
	v := testVerifier(b, cfg)
	for _, who := range []struct{ name, user, pw string }{
		{"unknown-user", "nobody", "whatever"},
		{"known-user-wrong-password", "bob", "wrong password"},
	} {
		b.Run(who.name, func(b *testing.B) {
			s := scenarioDirect
			s.user, s.pw = who.user, who.pw
			var times []time.Duration
			for b.Loop() {
				ac := answererConfig("g", nil)
				ac.Verify = func(ctx context.Context, id, pw string) (User, error) { return v.Verify(ctx, id, pw, "192.0.2.1") }
				t0 := time.Now()
				r := runPair(b, s.callerConfig(nil), ac, testTranscript, testTranscript, nil)
				times = append(times, time.Since(t0))
				if reason, ok := RejectReason(r.callErr); !ok || reason != ReasonDenied {
					b.Fatalf("not denied: %v", r.callErr)
				}
			}
			slices.Sort(times)
			q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.9), "p90-ms")
			b.ReportMetric(q(1), "max-ms")
			b.ReportMetric(float64(times[0].Microseconds())/1000, "min-ms")
		})
	}
}
