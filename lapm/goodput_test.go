package lapm

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// TestSimGoodput measures, in fake time, the goodput of a one-way bulk
// transfer over a synchronous line (8 bits an octet) at 33,600 bit/s with
// bit errors both ways, for a few choices of N401, k and SREJ, against
// the physical limit (4,200 octets/s). Set DIALGATE_GOODPUT=1 to run it;
// it logs a table.
func TestSimGoodput(t *testing.T) {
	if os.Getenv("DIALGATE_GOODPUT") == "" {
		t.Skip("set DIALGATE_GOODPUT=1 to measure goodput on the simulated line")
	}
	const rate = 33600
	const size = 128 << 10
	type choice struct {
		name string
		p    LinkParams
		t401 time.Duration // 0: T401ForRate's
	}
	choices := []choice{
		{"V.42 default 128/15", LinkParams{N401: 128, K: 15}, 0},
		{"paced default 256/15 SREJ", LinkParams{N401: 256, K: 15, FCS32: true, SREJ: true}, 0},
		{"256/15 REJ only", LinkParams{N401: 256, K: 15, FCS32: true}, 0},
		{"128/31 SREJ", LinkParams{N401: 128, K: 31, FCS32: true, SREJ: true}, 0},
		{"512/15 SREJ", LinkParams{N401: 512, K: 15, FCS32: true, SREJ: true}, 0},
		{"1024/15 SREJ", LinkParams{N401: 1024, K: 15, FCS32: true, SREJ: true}, 0},
		{"4096/127 REJ (dial's offer)", LinkParams{N401: 4096, K: 127, FCS32: true}, 0},
		{"4096/64 SREJ", LinkParams{N401: 4096, K: 64, FCS32: true, SREJ: true}, 0},
		{"128/63 SREJ", LinkParams{N401: 128, K: 63, FCS32: true, SREJ: true}, 0},
		{"64/63 SREJ", LinkParams{N401: 64, K: 63, FCS32: true, SREJ: true}, 0},
		{"4096/127 REJ, T401 3 s", LinkParams{N401: 4096, K: 127, FCS32: true}, 3 * time.Second},
		{"4096/64 SREJ, T401 3 s", LinkParams{N401: 4096, K: 64, FCS32: true, SREJ: true}, 3 * time.Second},
		{"1024/15 SREJ, T401 3 s", LinkParams{N401: 1024, K: 15, FCS32: true, SREJ: true}, 3 * time.Second},
	}
	if s := os.Getenv("DIALGATE_GOODPUT_ONLY"); s != "" {
		var keep []choice
		for _, c := range choices {
			if strings.Contains(c.name, s) {
				keep = append(keep, c)
			}
		}
		choices = keep
	}
	var rows []string
	for _, ber := range []float64{1e-6, 1e-5, 1e-4} {
		for _, c := range choices {
			var total time.Duration
			var retx uint64
			failed := 0
			const seeds = 2
			for seed := int64(1); seed <= seeds; seed++ {
				var d time.Duration
				var err error
				synctest.Test(t, func(t *testing.T) {
					d, retx, err = goodputRun(t, seed, rate, ber, c.p, c.t401, size, retx)
				})
				if err != nil {
					failed++
					t.Logf("BER %g %s seed %d: %v", ber, c.name, seed, err)
					continue
				}
				total += d
			}
			if failed == seeds {
				rows = append(rows, fmt.Sprintf("BER %-6g %-30s link failed", ber, c.name))
				continue
			}
			gp := float64(size) * float64(seeds-failed) / total.Seconds()
			rows = append(rows, fmt.Sprintf("BER %-6g %-30s %6.0f octets/s  %5.1f %% of %d (ideal for this N401 %4.1f %%)  retransmitted %d  failed %d of %d",
				ber, c.name, gp, 100*gp/(rate/8), rate/8, 100*idealSR(c.p.N401, ber), retx/seeds, failed, seeds))
		}
	}
	t.Log("goodput at 33,600 bit/s, 128 KiB one way, 2 seeds:\n" + strings.Join(rows, "\n"))
}

// idealSR is the share of the line an ideal selective-repeat sender gets
// with I fields of n octets: 8 octets of address, control, FCS-32 and
// flag a frame, 1/62 for zero-bit insertion, every frame hit by an error
// sent again, nothing else lost.
func idealSR(n int, ber float64) float64 {
	bits := float64(n+8) * 8 * 63 / 62
	return float64(n) * 8 / bits * math.Pow(1-ber, bits)
}

func goodputRun(t *testing.T, seed int64, rate int, ber float64, p LinkParams, t401 time.Duration, size int, retx uint64) (time.Duration, uint64, error) {
	im := linesim.Impairments{BitRate: rate, BitsPerChar: 8, BitErrorRate: ber}
	a, b := linesim.NewPair(linesim.Config{Seed: seed, Impairments: im, Buffer: 512})
	cfg := Config{Params: p, LineRate: rate, T401: t401}
	ctx := context.Background()
	la, lb := openPair(t, ctx, a, b, cfg, cfg)
	defer lb.Close()
	defer la.Close()
	establishPair(t, ctx, la, lb)
	data := pattern(size)
	start := time.Now()
	go la.Write(data)
	if _, err := io.CopyN(io.Discard, lb, int64(size)); err != nil {
		return 0, retx, err
	}
	d := time.Since(start)
	return d, retx + la.Stats().Retransmitted, nil
}
