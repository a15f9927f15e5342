package lapm

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// codecTextBytes returns n octets of what a BBS line mostly carries: English
// words, punctuation, line ends and ANSI colour sequences, seeded. Unlike
// random octets, such text rarely holds five 1 bits in a row (ASCII's top
// bit is 0; '?', '>', '_', '|', '}' and '~' are the exceptions).
func codecTextBytes(n int) []byte {
	r := rand.New(rand.NewPCG(2, 2))
	words := strings.Fields(`the a of to and in is it you that he was for on are with
		as his they be at one have this from or had by hot but some what there we can
		out other were all your when up use word how said an each she which do their
		time if will way about many then them would write like so these her long make
		thing see him two has look more day could go come did my sound no most number
		who over know water than call first people may down side been now find MODEM
		BBS SysOp download upload message file area ANSI door game 33600 V.42 CONNECT`)
	var b strings.Builder
	for b.Len() < n {
		switch x := r.IntN(40); {
		case x == 0:
			b.WriteString("\r\n")
		case x == 1:
			b.WriteString("\x1b[1;3" + string(rune('0'+r.IntN(8))) + "m")
		case x == 2:
			b.WriteString(". ")
		case x == 3:
			b.WriteString(", ")
		case x == 4:
			b.WriteString("? ")
		default:
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
	}
	return []byte(b.String()[:n])
}

// BenchmarkCodec4KText is BenchmarkCodec4K on text (codecTextBytes).
func BenchmarkCodec4KText(b *testing.B) {
	benchCodec(b, codecTextBytes(4096))
}

func benchCodec(b *testing.B, frame []byte) {
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

// BenchmarkCodec4K measures the whole codec on 4 KiB frames of random
// data: FCS-32, zero-bit insertion, deframing, zero-bit removal and the
// FCS-32 check. b.SetBytes counts frame octets, so MB/s is payload through
// both directions on one core.
func BenchmarkCodec4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	benchCodec(b, codecRandBytes(r, 4096, 0))
}

// BenchmarkBMI2Loops4K is BenchmarkCodec4K with the BMI2 loops alone, as
// CPUs without the AVX-512 extensions the block loops need run it (the
// same as BenchmarkCodec4K there).
func BenchmarkBMI2Loops4K(b *testing.B) {
	defer func(v bool) { useAVX512 = v }(useAVX512)
	useAVX512 = false
	r := rand.New(rand.NewPCG(1, 1))
	benchCodec(b, codecRandBytes(r, 4096, 0))
}

// BenchmarkPortableLoops4K is BenchmarkCodec4K with the portable Go loops
// (what wasm, other architectures and CPUs without fast BMI2 run).
func BenchmarkPortableLoops4K(b *testing.B) {
	defer func(v bool) { useBMI2 = v }(useBMI2)
	useBMI2 = false
	r := rand.New(rand.NewPCG(1, 1))
	benchCodec(b, codecRandBytes(r, 4096, 0))
}

func BenchmarkEncode4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	benchEncode(b, codecRandBytes(r, 4096, 0))
}

func BenchmarkEncode4KText(b *testing.B) { benchEncode(b, codecTextBytes(4096)) }

func benchEncode(b *testing.B, frame []byte) {
	e := Encoder{FCS: FCS32}
	line := make([]byte, 0, 8192)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		line = e.AppendFrame(line[:0], frame)
	}
}

func BenchmarkDecode4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	benchDecode(b, codecRandBytes(r, 4096, 0))
}

func BenchmarkDecode4KText(b *testing.B) { benchDecode(b, codecTextBytes(4096)) }

func benchDecode(b *testing.B, frame []byte) {
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
