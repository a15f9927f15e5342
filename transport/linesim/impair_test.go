package linesim

import (
	"bytes"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// impairAll runs data through a fresh impairer in writes of the given size.
func impairAll(seed int64, im Impairments, data []byte, write int) []byte {
	out, _ := impairStats(seed, im, data, write)
	return out
}

func impairStats(seed int64, im Impairments, data []byte, write int) ([]byte, Stats) {
	im = im.clamped()
	z := newImpairer(seed, dirAtoB, &im)
	var out []byte
	for len(data) > 0 {
		n := min(write, len(data))
		out = z.apply(out, data[:n], nil)
		data = data[n:]
	}
	return out, z.stats
}

func TestStats(t *testing.T) {
	data := randomBytes(6, 50_000)
	im := Impairments{BitErrorRate: 1e-3, DropRate: 1e-2, DupRate: 1e-2, Bursts: Bursts{MeanInterval: 2000, MeanLength: 5}}
	for _, w := range []int{1, 999, len(data)} {
		out, st := impairStats(8, im, data, w)
		if st.Sent != int64(len(data)) || st.Delivered != int64(len(out)) || st.Delivered != st.Sent-st.Dropped+st.Duplicated {
			t.Errorf("write %d: inconsistent %+v for %d in, %d out", w, st, len(data), len(out))
		}
		if st.BitsFlipped == 0 || st.Garbled == 0 || st.Dropped == 0 || st.Duplicated == 0 || st.LostInOutage != 0 {
			t.Errorf("write %d: %+v", w, st)
		}
	}
	out, st := impairStats(8, Impairments{BitErrorRate: 1e-3}, data, 100)
	flips := 0
	for i := range data {
		flips += bits.OnesCount8(data[i] ^ out[i])
	}
	if st.BitsFlipped != int64(flips) {
		t.Errorf("counted %d bit errors, found %d", st.BitsFlipped, flips)
	}
	out, st = impairStats(8, Impairments{Bursts: Bursts{MeanInterval: 500, MeanLength: 3}}, data, 100)
	garbled := 0
	for i := range data {
		if data[i] != out[i] {
			garbled++
		}
	}
	if st.Garbled != int64(garbled) {
		t.Errorf("counted %d garbled octets, found %d", st.Garbled, garbled)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// within fails the test unless got lies within k standard deviations of the
// mean of a binomial count of n trials with probability p. The seed is fixed,
// so the result is deterministic; the bound documents what "right" means.
func within(t *testing.T, what string, got, n int, p, k float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(got)-mean) > k*sd {
		t.Errorf("%s: %d events in %d trials, want %.0f ± %.0f (p=%g)", what, got, n, mean, k*sd, p)
	} else {
		t.Logf("%s: %d events in %d trials, expected %.1f (p=%g)", what, got, n, mean, p)
	}
}

func TestDeterministicAcrossWriteSizes(t *testing.T) {
	data := randomBytes(1, 64<<10)
	for _, im := range []Impairments{
		{BitErrorRate: 1e-3, DropRate: 1e-3, DupRate: 1e-3, Bursts: Bursts{MeanInterval: 5000, MeanLength: 8}},
		{DropRate: 1e-2},
		{BitErrorRate: 1e-4},
	} {
		want := impairAll(42, im, data, len(data))
		for _, w := range []int{1, 7, 128, 4096} {
			if got := impairAll(42, im, data, w); !bytes.Equal(got, want) {
				t.Errorf("%+v, writes of %d octets: output differs from one big write", im, w)
			}
		}
		if bytes.Equal(want, data) {
			t.Fatalf("%+v changed nothing", im)
		}
		if other := impairAll(43, im, data, len(data)); bytes.Equal(other, want) {
			t.Errorf("%+v: seeds 42 and 43 corrupted identically", im)
		}
	}
}

// FuzzImpair checks the impairer's invariants on arbitrary data and rates:
// the output does not depend on how the data is split into writes, only
// drops and duplicates change the length, and bit errors alone keep it.
func FuzzImpair(f *testing.F) {
	f.Add(int64(1), []byte("hello, line"), uint8(3), uint16(100), uint16(50), uint16(50), uint8(0))
	f.Add(int64(-7), make([]byte, 300), uint8(1), uint16(65535), uint16(0), uint16(0), uint8(20))
	f.Fuzz(func(t *testing.T, seed int64, data []byte, write uint8, ber, drop, dup uint16, burst uint8) {
		im := Impairments{
			BitErrorRate: float64(ber) / 65535,
			DropRate:     float64(drop) / 65535,
			DupRate:      float64(dup) / 65535,
			Bursts:       Bursts{MeanInterval: int(burst), MeanLength: int(burst) / 4},
		}
		whole := impairAll(seed, im, data, max(len(data), 1))
		split := impairAll(seed, im, data, max(int(write), 1))
		if !bytes.Equal(whole, split) {
			t.Fatalf("output depends on write size %d", write)
		}
		if len(whole) > 2*len(data) {
			t.Fatalf("%d octets out of %d in", len(whole), len(data))
		}
		if drop == 0 && dup == 0 && len(whole) != len(data) {
			t.Fatalf("length changed without drops or duplicates: %d -> %d", len(data), len(whole))
		}
		if drop == 0 && dup == 0 && ber == 0 && burst == 0 && !bytes.Equal(whole, data) {
			t.Fatal("a perfect line changed the data")
		}
	})
}

func TestImpairmentsIndependent(t *testing.T) {
	// Adding burst noise must not move the bit errors: outside the octets
	// the bursts garble, BER plus bursts equals BER alone.
	data := randomBytes(13, 16<<10)
	b := Bursts{MeanInterval: 200, MeanLength: 4}
	berOnly := impairAll(7, Impairments{BitErrorRate: 1e-3}, data, 100)
	burstOnly := impairAll(7, Impairments{Bursts: b}, data, 100)
	both := impairAll(7, Impairments{BitErrorRate: 1e-3, Bursts: b}, data, 100)
	compared := 0
	for i := range data {
		if burstOnly[i] != data[i] {
			continue
		}
		compared++
		if both[i] != berOnly[i] {
			t.Fatalf("octet %d: %#02x with bursts, %#02x without", i, both[i], berOnly[i])
		}
	}
	if compared == len(data) || bytes.Equal(berOnly, data) {
		t.Fatal("the impairments did nothing")
	}
}

func TestBitErrorRate(t *testing.T) {
	for _, ber := range []float64{1e-2, 1e-3, 1e-4} {
		data := randomBytes(2, 256<<10)
		out := impairAll(1, Impairments{BitErrorRate: ber}, data, 1000)
		if len(out) != len(data) {
			t.Fatalf("BER changed the length: %d -> %d", len(data), len(out))
		}
		flips := 0
		for i := range data {
			flips += bits.OnesCount8(data[i] ^ out[i])
		}
		within(t, "bit errors", flips, len(data)*8, ber, 5)
	}
}

func TestBitErrorRateEveryBit(t *testing.T) {
	data := randomBytes(3, 100)
	out := impairAll(1, Impairments{BitErrorRate: 1}, data, 10)
	for i := range data {
		if out[i] != ^data[i] {
			t.Fatalf("BER 1: octet %d %#02x -> %#02x, want all bits flipped", i, data[i], out[i])
		}
	}
}

func TestDropRate(t *testing.T) {
	const n = 100_000
	for _, p := range []float64{0.1, 1e-2} {
		out := impairAll(1, Impairments{DropRate: p}, make([]byte, n), 333)
		within(t, "drops", n-len(out), n, p, 5)
	}
	if out := impairAll(1, Impairments{DropRate: 1}, make([]byte, 1000), 10); len(out) != 0 {
		t.Errorf("DropRate 1 delivered %d octets", len(out))
	}
}

func TestDupRate(t *testing.T) {
	const n = 100_000
	data := make([]byte, n) // adjacent octets always differ
	for i := range data {
		data[i] = byte(i)
	}
	for _, p := range []float64{0.1, 1e-2} {
		out := impairAll(1, Impairments{DupRate: p}, data, 333)
		within(t, "duplicates", len(out)-n, n, p, 5)
		// Removing adjacent repeats must give back the input.
		back := out[:1:1]
		for i := 1; i < len(out); i++ {
			if out[i] != out[i-1] {
				back = append(back, out[i])
			}
		}
		if !bytes.Equal(back, data) {
			t.Errorf("DupRate %g: output is not the input with repeats", p)
		}
	}
}

func TestDropsAndDupsKeepOrder(t *testing.T) {
	// Octets carry their index, so the output must be strictly
	// non-decreasing with each index at most twice.
	data := make([]byte, 250)
	for i := range data {
		data[i] = byte(i)
	}
	out := impairAll(9, Impairments{DropRate: 0.2, DupRate: 0.2}, data, 17)
	seen := map[byte]int{}
	for i, c := range out {
		if i > 0 && c < out[i-1] {
			t.Fatalf("reordered at %d: %v", i, out)
		}
		if seen[c]++; seen[c] > 2 {
			t.Fatalf("octet %d delivered %d times", c, seen[c])
		}
	}
}

func TestBursts(t *testing.T) {
	const n = 200_000
	b := Bursts{MeanInterval: 1000, MeanLength: 10}
	data := randomBytes(5, n)
	out := impairAll(1, Impairments{Bursts: b}, data, 1500)
	garbled, runs := 0, 0
	for i := range data {
		if data[i] != out[i] {
			garbled++
			if i == 0 || data[i-1] == out[i-1] {
				runs++
			}
		}
	}
	// Expected fraction garbled: L / (I + L).
	frac := float64(b.MeanLength) / float64(b.MeanInterval+b.MeanLength)
	got := float64(garbled) / n
	if math.Abs(got-frac) > 0.25*frac {
		t.Errorf("garbled fraction %.4f, want %.4f ± 25%%", got, frac)
	}
	// Expected number of bursts: n / (I + L), give or take.
	want := float64(n) / float64(b.MeanInterval+b.MeanLength)
	if math.Abs(float64(runs)-want) > 0.25*want {
		t.Errorf("%d bursts, want about %.0f", runs, want)
	}
	t.Logf("bursts: %d garbled octets in %d runs (expected %.0f octets, %.0f runs)", garbled, runs, frac*n, want)
}

func TestGeometricNever(t *testing.T) {
	e := newEvents(rand.New(rand.NewPCG(1, 1)), 0)
	if e.next != never {
		t.Fatalf("p=0: next event at %d", e.next)
	}
	e.advance()
	if e.next != never {
		t.Fatalf("p=0 after advance: %d", e.next)
	}
}

func TestClamp(t *testing.T) {
	cfg := Config{Impairments: Impairments{BitErrorRate: 2, DropRate: math.NaN(), Latency: -1, BitsPerChar: 1000}}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted BitErrorRate 2")
	}
	im := cfg.clamped()
	if im.BitErrorRate != 1 || im.DropRate != 0 || im.Latency != 0 || im.BitsPerChar != MaxBitsPerChar {
		t.Fatalf("clamped: %+v", im)
	}
	var logged []string
	cfg.Logf = func(f string, a ...any) { logged = append(logged, f) }
	a, b := NewPair(cfg)
	a.Close()
	b.Close()
	if len(logged) == 0 {
		t.Fatal("NewPair did not log the bad configuration")
	}
	for _, bad := range []Config{
		{Buffer: -1},
		{Impairments: Impairments{Outages: []Outage{{Start: 2, End: 1}}}},
		{AtoB: &Impairments{DupRate: -0.5}},
		{BtoA: &Impairments{Bursts: Bursts{MeanLength: -1}}},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}
