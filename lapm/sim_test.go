package lapm

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// simBulkSize is how much each side sends in TestSimBulkImpaired: 10 MiB,
// 1 MiB with -short; DIALGATE_SIM_MIB overrides.
func simBulkSize(t *testing.T) int {
	if s := os.Getenv("DIALGATE_SIM_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("DIALGATE_SIM_MIB=%q", s)
		}
		return n << 20
	}
	if testing.Short() {
		return 1 << 20
	}
	return 10 << 20
}

// TestSimBulkImpaired sends the same amount both ways at once over a line
// with bit errors (BER 1e-4), dropped and duplicated octets and noise
// bursts, and checks both directions byte-exact by SHA-256.
func TestSimBulkImpaired(t *testing.T) {
	testutil.CheckGoroutines(t)
	size := simBulkSize(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	im := linesim.Impairments{
		BitErrorRate: 1e-4,
		DropRate:     2e-6,
		DupRate:      2e-6,
		Bursts:       linesim.Bursts{MeanInterval: 500_000, MeanLength: 16},
	}
	a, b := linesim.NewPair(linesim.Config{Seed: 42, Impairments: im, Logf: t.Logf})
	p := LinkParams{N401: 256, K: 63, FCS32: true, SREJ: true}
	cfg := Config{Params: p, T401: 20 * time.Millisecond, N400: 50}
	la, lb := openPair(t, ctx, a, b, cfg, cfg)
	defer la.Close()
	defer lb.Close()
	establishPair(t, ctx, la, lb)

	start := time.Now()
	var wg sync.WaitGroup
	sums := make([][2][32]byte, 2)
	errs := make([]error, 4)
	for i, l := range []*Link{la, lb} {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			h := sha256.New()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			buf := make([]byte, 32<<10)
			for sent := 0; sent < size; {
				n := min(len(buf), size-sent)
				for j := range buf[:n] {
					buf[j] = byte(r.Uint32())
				}
				h.Write(buf[:n])
				if _, err := l.Write(buf[:n]); err != nil {
					errs[2*i] = err
					return
				}
				sent += n
			}
			copy(sums[i][0][:], h.Sum(nil))
		}()
		go func() { // reader
			defer wg.Done()
			h := sha256.New()
			if _, err := io.CopyN(h, l, int64(size)); err != nil {
				errs[2*i+1] = err
				return
			}
			copy(sums[i][1][:], h.Sum(nil))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sums[0][0] != sums[1][1] || sums[1][0] != sums[0][1] {
		t.Fatal("SHA-256 of received data differs from what was sent")
	}
	sa, sb := la.Stats(), lb.Stats()
	t.Logf("%d MiB each way in %v; originator: %+v", size>>20, elapsed, sa)
	t.Logf("answerer: %+v", sb)
	if sa.FCSErrors+sb.FCSErrors == 0 || sa.Retransmitted+sb.Retransmitted == 0 {
		t.Error("no FCS errors or retransmissions: the line was not impaired")
	}
	if err := la.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestSimOutage cuts the line for longer than (N400+1) x T401 in the middle
// of a transfer: both ends must end with ErrLinkFailure, in fake time
// within the bound the timers give.
func TestSimOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const t401, n400 = 100 * time.Millisecond, 5
		ctx := context.Background()
		a, b := linesim.NewPair(linesim.Config{Seed: 9, Impairments: linesim.Impairments{
			Outages: []linesim.Outage{{Start: time.Second, End: time.Hour}},
		}})
		cfg := Config{T401: t401, N400: n400, T403: 300 * time.Millisecond}
		la, lb := openPair(t, ctx, a, b, cfg, cfg)
		establishPair(t, ctx, la, lb)
		var wg sync.WaitGroup
		start := time.Now()
		var endA, endB time.Duration
		var errA, errB error
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				if _, err := la.Write(make([]byte, 100)); err != nil {
					errA, endA = err, time.Since(start)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := io.Copy(io.Discard, lb)
			errB, endB = err, time.Since(start)
		}()
		wg.Wait()
		if !errors.Is(errA, ErrLinkFailure) || !errors.Is(errB, ErrLinkFailure) {
			t.Fatalf("errors %v / %v, want ErrLinkFailure on both sides", errA, errB)
		}
		// The sender notices within (N400+1) T401 of the outage, plus one
		// T401 of slack for the frame in flight; the idle receiver after
		// T403 and (N400+1) T401.
		maxA := time.Second + (n400+2)*t401
		maxB := time.Second + cfg.T403 + (n400+2)*t401
		if endA > maxA || endB > maxB {
			t.Errorf("failure after %v / %v, want at most %v / %v", endA, endB, maxA, maxB)
		}
		t.Logf("link failure detected after %v (sender) and %v (receiver)", endA, endB)
		la.Close()
		lb.Close()
	})
}
