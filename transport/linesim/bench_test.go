package linesim

import (
	"io"
	"testing"
)

func benchPair(b *testing.B, im Impairments) {
	const size = 32 << 10
	x, y := NewPair(Config{Seed: 1, Impairments: im})
	defer y.Close()
	buf := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	go func() {
		for range b.N {
			if _, err := x.Write(buf); err != nil {
				break
			}
		}
		x.Close()
	}()
	rbuf := make([]byte, size)
	b.ResetTimer()
	for {
		if _, err := y.Read(rbuf); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPairPerfect measures a perfect pair, one writer and one reader
// goroutine, 32 KiB writes.
func BenchmarkPairPerfect(b *testing.B) { benchPair(b, Impairments{}) }

// BenchmarkPairBER1e5 and BenchmarkPairBER1e4 measure the bit-error path.
func BenchmarkPairBER1e5(b *testing.B) { benchPair(b, Impairments{BitErrorRate: 1e-5}) }
func BenchmarkPairBER1e4(b *testing.B) { benchPair(b, Impairments{BitErrorRate: 1e-4}) }

// BenchmarkPairAllImpairments adds drops, duplicates and bursts.
func BenchmarkPairAllImpairments(b *testing.B) {
	benchPair(b, Impairments{BitErrorRate: 1e-4, DropRate: 1e-4, DupRate: 1e-4, Bursts: Bursts{MeanInterval: 10000, MeanLength: 8}})
}

// BenchmarkImpairBER1e4 measures the impairment decisions alone on 4 KiB
// writes.
func BenchmarkImpairBER1e4(b *testing.B) {
	im := Impairments{BitErrorRate: 1e-4}
	z := newImpairer(1, dirAtoB, &im)
	in := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out = z.apply(out[:0], in, nil)
	}
}
