package lapm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkCodec4K measures the whole codec on 4 KiB frames of random
// data: FCS-32, zero-bit insertion, deframing, zero-bit removal and the
// FCS-32 check. b.SetBytes counts frame octets, so MB/s is payload through
// both directions on one core.
func BenchmarkCodec4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	frame := codecRandBytes(r, 4096, 0)
	e := Encoder{FCS: FCS32}
	d := Decoder{FCS: FCS32, MaxFrame: 4096}
	line := make([]byte, 0, 8192)
	n := 0
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		line = e.AppendFrame(line[:0], frame)
		d.Feed(line, func(f []byte) { n++ })
	}
	if n == 0 || d.Stats().Frames != uint64(n) {
		b.Fatalf("frames lost: %d, %+v", n, d.Stats())
	}
}

func BenchmarkEncode4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	frame := codecRandBytes(r, 4096, 0)
	e := Encoder{FCS: FCS32}
	line := make([]byte, 0, 8192)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		line = e.AppendFrame(line[:0], frame)
	}
}

func BenchmarkDecode4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	frame := codecRandBytes(r, 4096, 0)
	e := Encoder{FCS: FCS32}
	line := e.AppendFrame(nil, frame)
	d := Decoder{FCS: FCS32, MaxFrame: 4096}
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		d.Feed(line, func(f []byte) {})
	}
}

func BenchmarkCodecSmallFCS16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	frame := codecRandBytes(r, 128, 0)
	e := Encoder{}
	d := Decoder{}
	line := make([]byte, 0, 512)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		line = e.AppendFrame(line[:0], frame)
		d.Feed(line, func(f []byte) {})
	}
}
