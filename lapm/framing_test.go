package lapm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// bitSink packs bits LSB first, as the line does.
type bitSink struct {
	out []byte
	n   int
}

func (s *bitSink) bit(b byte) {
	if s.n%8 == 0 {
		s.out = append(s.out, 0)
	}
	s.out[s.n/8] |= (b & 1) << (s.n % 8)
	s.n++
}

// refEncode is the bit-at-a-time reference for Encoder.AppendFrame.
func refEncode(frame []byte, k FCSKind) []byte {
	var s bitSink
	flagBits := func() {
		for i := range 8 {
			s.bit(flag >> i)
		}
	}
	flagBits()
	ones := 0
	for _, x := range AppendFCS(slices.Clone(frame), frame, k) {
		for i := range 8 {
			b := x >> i & 1
			s.bit(b)
			if b == 0 {
				ones = 0
				continue
			}
			if ones++; ones == 5 {
				s.bit(0)
				ones = 0
			}
		}
	}
	flagBits()
	for s.n%8 != 0 {
		s.bit(1)
	}
	return s.out
}

// refDecoder is the bit-at-a-time reference for Decoder.
type refDecoder struct {
	fcs      FCSKind
	maxFrame int
	st       DecoderStats
	started  bool // a flag has been seen since the last abort
	ones     int
	content  []byte // one bit per element
	zeroKept bool   // the last 0 bit seen was kept as content
}

func (r *refDecoder) feed(p []byte, emit func([]byte)) {
	for _, x := range p {
		for i := range 8 {
			r.bitIn(x>>i&1, emit)
		}
	}
}

func (r *refDecoder) contentBits() int {
	n := len(r.content) - min(r.ones, 5) // drop the run of 1s (at most five are kept)
	if r.zeroKept && n > 0 {
		n-- // and the 0 that began the flag or abort
	}
	return n
}

func (r *refDecoder) bitIn(b byte, emit func([]byte)) {
	if b == 1 {
		r.ones++
		if r.ones == 7 {
			if r.started && r.contentBits() > 0 {
				r.st.Aborts++
			}
			r.started = false
			r.content = r.content[:0]
		}
		if r.ones < 6 && r.started {
			r.content = append(r.content, 1)
			r.checkLong()
		}
		return
	}
	ones := r.ones
	r.ones = 0
	switch {
	case ones == 5:
		r.zeroKept = false // an inserted zero
		return
	case ones == 6:
		if r.started {
			r.ones = 5 // the sixth 1 was never appended
			n := r.contentBits()
			r.ones = 0
			r.end(n, emit)
		}
		r.started = true
		r.content = r.content[:0]
		r.zeroKept = false
		return
	case ones >= 7:
		return
	}
	if r.started {
		r.content = append(r.content, 0)
		r.zeroKept = true
		r.checkLong()
	}
}

func (r *refDecoder) max() int {
	if r.maxFrame == 0 {
		return DefaultMaxFrame
	}
	return r.maxFrame
}

func (r *refDecoder) checkLong() {
	// Mirror the fast decoder: it checks whole 64-bit words only.
	if len(r.content)%64 == 0 && len(r.content)/8 > r.max()+r.fcs.Size()+8 {
		r.st.TooLong++
		r.started = false
		r.content = r.content[:0]
	}
}

func (r *refDecoder) end(n int, emit func([]byte)) {
	if n <= 0 {
		return
	}
	if n%8 != 0 {
		if n < 8 && !slices.Contains(r.content[:n], 0) {
			return
		}
		r.st.Misaligned++
		return
	}
	f := make([]byte, n/8)
	for i := range n {
		f[i/8] |= r.content[i] << (i % 8)
	}
	fcs := r.fcs.Size()
	switch {
	case len(f) < 2+fcs:
		r.st.TooShort++
	case len(f)-fcs > r.max():
		r.st.TooLong++
	case !checkFCS(f, r.fcs):
		r.st.FCSErrors++
	default:
		r.st.Frames++
		emit(f[:len(f)-fcs])
	}
}

func codecRandBytes(r *rand.Rand, n int, density int) []byte {
	b := make([]byte, n)
	for i := range b {
		switch density {
		case 0: // uniform
			b[i] = byte(r.Uint32())
		case 1: // mostly ones: many runs of five and more
			b[i] = byte(r.Uint32() | r.Uint32() | r.Uint32())
		default: // mostly flags and ones
			b[i] = []byte{0x7E, 0xFF, 0x3F, 0xFC, 0x7E}[r.IntN(5)] ^ byte(r.IntN(2)<<r.IntN(8))
		}
	}
	return b
}

func TestEncoderMatchesReference(t *testing.T) { eachPath(t, testEncoderMatchesReference) }

func testEncoderMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []FCSKind{FCS16, FCS32} {
		for n := range 300 {
			for d := range 2 {
				fr := codecRandBytes(r, n, d)
				e := Encoder{FCS: k}
				got := e.AppendFrame([]byte{0xAA}, fr)
				want := append([]byte{0xAA}, refEncode(fr, k)...)
				if !bytes.Equal(got, want) {
					t.Fatalf("%v len %d density %d:\n got % x\nwant % x", k, n, d, got, want)
				}
			}
		}
	}
}

// TestEncoderPartsMatchAppendFrame: AppendFrameParts gives the octets of
// AppendFrame (and of the reference) for the joined frame, for every
// length up to 300 and some long ones, split after every head length up
// to 9 octets, in the middle and at the end.
func TestEncoderPartsMatchAppendFrame(t *testing.T) { eachPath(t, testEncoderPartsMatchAppendFrame) }

func testEncoderPartsMatchAppendFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	lengths := []int{1000, 4099, 4103}
	for n := range 301 {
		lengths = append(lengths, n)
	}
	for _, k := range []FCSKind{FCS16, FCS32} {
		for _, n := range lengths {
			for d := range 2 {
				fr := codecRandBytes(r, n, d)
				e := Encoder{FCS: k}
				pre := bytes.Repeat([]byte{0xAA}, r.IntN(9))
				want := e.AppendFrame(slices.Clone(pre), fr)
				if n < 300 && !bytes.Equal(want[len(pre):], refEncode(fr, k)) {
					t.Fatalf("%v len %d: AppendFrame differs from the reference", k, n)
				}
				splits := []int{n / 2, n}
				for h := range min(n, 9) + 1 {
					splits = append(splits, h)
				}
				for _, h := range splits {
					got := e.AppendFrameParts(slices.Clone(pre), fr[:h], fr[h:])
					if !bytes.Equal(got, want) {
						t.Fatalf("%v len %d head %d density %d:\n got % x\nwant % x", k, n, h, d, got, want)
					}
				}
			}
		}
	}
}

func TestEncoderKnownFrame(t *testing.T) {
	// SABME with P: 03 7F 5F AE. 0x7F has seven 1 bits: 1111111 0 LSB
	// first, so a 0 goes in after the fifth.
	e := Encoder{}
	got := e.AppendFrame(nil, []byte{0x03, 0x7F})
	want := refEncode([]byte{0x03, 0x7F}, FCS16)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x want % x", got, want)
	}
	if got[0] != 0x7E {
		t.Fatalf("first octet %02x is not a flag", got[0])
	}
	if f := e.AppendFlags(nil, 3); !bytes.Equal(f, []byte{0x7E, 0x7E, 0x7E}) {
		t.Fatalf("AppendFlags: % x", f)
	}
}

func feedDecoder(d *Decoder, line []byte, chunk int) [][]byte {
	var out [][]byte
	for len(line) > 0 {
		n := min(chunk, len(line))
		d.Feed(line[:n], func(f []byte) { out = append(out, slices.Clone(f)) })
		line = line[n:]
	}
	return out
}

func TestDecoderRoundTrip(t *testing.T) { eachPath(t, testDecoderRoundTrip) }

func testDecoderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range []FCSKind{FCS16, FCS32} {
		for _, chunk := range []int{1, 3, 7, 8, 9, 64, 1 << 20} {
			var frames [][]byte
			var line []byte
			e := Encoder{FCS: k}
			line = e.AppendFlags(line, 4)
			for i := range 200 {
				f := codecRandBytes(r, 2+r.IntN(300), i%2)
				frames = append(frames, f)
				line = e.AppendFrame(line, f)
				switch r.IntN(3) { // idle between frames
				case 0:
					line = append(line, 0xFF, 0xFF)
				case 1:
					line = e.AppendFlags(line, r.IntN(3))
				}
			}
			d := Decoder{FCS: k}
			got := feedDecoder(&d, line, chunk)
			if len(got) != len(frames) {
				t.Fatalf("%v chunk %d: %d frames out, %d in; stats %+v", k, chunk, len(got), len(frames), d.Stats())
			}
			for i := range got {
				if !bytes.Equal(got[i], frames[i]) {
					t.Fatalf("%v chunk %d frame %d differs", k, chunk, i)
				}
			}
			if st := d.Stats(); st != (DecoderStats{Frames: uint64(len(frames))}) {
				t.Fatalf("%v chunk %d: stats %+v", k, chunk, st)
			}
		}
	}
}

// TestDecoderSharedFlag builds streams by hand: one flag closes a frame and
// opens the next, flags share a 0 bit, and mark idle of every length
// between frames.
func TestDecoderSharedFlag(t *testing.T) { eachPath(t, testDecoderSharedFlag) }

func testDecoderSharedFlag(t *testing.T) {
	frames := [][]byte{{0x03, 0x7F}, {0x01, 0x01, 0xFF, 0xFF}, {0x03, 0xAF, 0x82}}
	var s bitSink
	put := func(x byte, n int) {
		for i := range n {
			s.bit(x >> i)
		}
	}
	body := func(f []byte) {
		ones := 0
		for _, x := range AppendFCS(slices.Clone(f), f, FCS16) {
			for i := range 8 {
				b := x >> i & 1
				s.bit(b)
				if b == 0 {
					ones = 0
				} else if ones++; ones == 5 {
					s.bit(0)
					ones = 0
				}
			}
		}
	}
	put(0xFF, 5) // idle, no 0 before the first flag
	put(flag, 8)
	body(frames[0])
	put(flag, 8) // shared flag
	body(frames[1])
	put(flag, 8)
	put(flag>>1, 7) // next flag shares the 0 of the one before
	for idle := range 12 {
		put(0xFF, idle%8)
		if idle >= 8 {
			put(0xFF, 8)
		}
		put(flag, 8)
		body(frames[2])
		put(flag, 8)
	}
	put(0xFF, 8)
	for _, chunk := range []int{1, 2, 5, 100} {
		d := Decoder{}
		got := feedDecoder(&d, s.out, chunk)
		want := append(frames[:2:2], slices.Repeat(frames[2:3], 12)...)
		if len(got) != len(want) {
			t.Fatalf("chunk %d: got %d frames, want %d; stats %+v", chunk, len(got), len(want), d.Stats())
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("chunk %d frame %d: % x want % x", chunk, i, got[i], want[i])
			}
		}
		if st := d.Stats(); st != (DecoderStats{Frames: uint64(len(want))}) {
			t.Fatalf("chunk %d: stats %+v", chunk, st)
		}
	}
}

func TestDecoderCounts(t *testing.T) { eachPath(t, testDecoderCounts) }

func testDecoderCounts(t *testing.T) {
	e := Encoder{}
	good := e.AppendFrame(nil, []byte{0x03, 0x63})
	tests := []struct {
		name string
		line []byte
		max  int
		want DecoderStats
	}{
		{"fcs error", func() []byte {
			b := e.AppendFrame(nil, []byte{0x03, 0x63, 0x00})
			b[2] ^= 0x10
			return b
		}(), 0, DecoderStats{FCSErrors: 1}},
		{"too short", e.AppendFlags(append(e.AppendFlags(nil, 1), 0x55, 0x11), 1), 0, DecoderStats{TooShort: 1}},
		{"abort", append(append(e.AppendFlags(nil, 1), 0x55, 0x22, 0x33), 0xFF, 0xFF), 0, DecoderStats{Aborts: 1}},
		{"too long", e.AppendFrame(nil, make([]byte, 40)), 30, DecoderStats{TooLong: 1}},
		{"much too long", e.AppendFrame(nil, make([]byte, 400)), 30, DecoderStats{TooLong: 1}},
		{"at the limit", e.AppendFrame(nil, make([]byte, 30)), 30, DecoderStats{Frames: 1}},
		{"one over the limit", e.AppendFrame(nil, make([]byte, 31)), 30, DecoderStats{TooLong: 1}},
		{"endless flags", bytes.Repeat([]byte{flag}, 10000), 30, DecoderStats{}},
		{"endless mark idle", bytes.Repeat([]byte{0xFF}, 10000), 30, DecoderStats{}},
		{"misaligned", []byte{0x7E, 0x55, 0x55, 0x55, 0x55, 0x7E ^ 0x01<<0, 0x7E}, 0, DecoderStats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{MaxFrame: tt.max}
			line := append(slices.Clone(tt.line), good...)
			got := feedDecoder(&d, line, 3)
			want := tt.want
			want.Frames++
			if tt.name == "misaligned" {
				// Computed by the reference: whatever it is, both agree.
				ref := refDecoder{maxFrame: tt.max}
				ref.feed(line, func([]byte) {})
				want = ref.st
			}
			if d.Stats() != want || len(got) != int(want.Frames) {
				t.Fatalf("stats %+v, want %+v (%d frames)", d.Stats(), want, len(got))
			}
		})
	}
}

func TestDecoderMisaligned(t *testing.T) {
	// flag, 9 content bits (0 1 0 1 0 1 0 1 0), flag.
	var s bitSink
	for i := range 8 {
		s.bit(flag >> i)
	}
	for i := range 9 {
		s.bit(byte(i & 1))
	}
	for i := range 8 {
		s.bit(flag >> i)
	}
	for s.n%8 != 0 {
		s.bit(1)
	}
	d := Decoder{}
	feedDecoder(&d, s.out, 1)
	if d.Stats() != (DecoderStats{Misaligned: 1}) {
		t.Fatalf("stats %+v", d.Stats())
	}
}

func TestDecoderMatchesReferenceOnGarbage(t *testing.T) {
	eachPath(t, testDecoderMatchesReferenceOnGarbage)
}

func testDecoderMatchesReferenceOnGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	e := Encoder{}
	for iter := range 300 {
		var line []byte
		for range 20 {
			switch r.IntN(4) {
			case 0:
				line = e.AppendFrame(line, codecRandBytes(r, r.IntN(20), r.IntN(2)))
			default:
				line = append(line, codecRandBytes(r, r.IntN(30), r.IntN(3))...)
			}
		}
		max := []int{0, 8, 16}[iter%3]
		d := Decoder{MaxFrame: max}
		ref := refDecoder{maxFrame: max}
		got := feedDecoder(&d, line, 1+r.IntN(16))
		var want [][]byte
		ref.feed(line, func(f []byte) { want = append(want, slices.Clone(f)) })
		if d.Stats() != ref.st {
			t.Fatalf("iter %d: stats %+v, reference %+v\nline % x", iter, d.Stats(), ref.st, line)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iter %d: frames differ", iter)
		}
	}
}

func TestDecoderFCSChange(t *testing.T) {
	e := Encoder{FCS: FCS16}
	line := e.AppendFrame(nil, []byte{0x03, 0xAF, 0x82})
	d := Decoder{FCS: FCS16}
	if n := len(feedDecoder(&d, line, 100)); n != 1 {
		t.Fatalf("FCS-16 frames: %d", n)
	}
	e.FCS, d.FCS = FCS32, FCS32
	if n := len(feedDecoder(&d, e.AppendFrame(nil, []byte{0x01, 0x01, 0x02}), 100)); n != 1 {
		t.Fatalf("FCS-32 frames after the change: %d, stats %+v", n, d.Stats())
	}
}

// TestDecoderBitErrors: bit errors on the line never let a corrupted frame
// through (FCS-32), and the decoder finds the frames after each error.
func TestDecoderBitErrors(t *testing.T) { eachPath(t, testDecoderBitErrors) }

func testDecoderBitErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	e := Encoder{FCS: FCS32}
	sent := map[string]bool{}
	var line []byte
	line = e.AppendFlags(line, 2)
	const n = 300
	for range n {
		f := codecRandBytes(r, 2+r.IntN(200), 0)
		sent[string(f)] = true
		line = e.AppendFrame(line, f)
	}
	flips := 0
	for i := range line {
		if r.IntN(200) == 0 { // about one error per 1600 bits
			line[i] ^= 1 << r.IntN(8)
			flips++
		}
	}
	d := Decoder{FCS: FCS32, MaxFrame: 256}
	got := feedDecoder(&d, line, 13)
	for _, f := range got {
		if !sent[string(f)] {
			t.Fatalf("corrupted frame delivered: % x", f)
		}
	}
	st := d.Stats()
	lost := n - len(got)
	if lost == 0 || lost > 2*flips {
		t.Fatalf("%d bit errors, %d frames lost; stats %+v", flips, lost, st)
	}
	if st.FCSErrors+st.Aborts+st.Misaligned+st.TooShort+st.TooLong == 0 {
		t.Fatalf("errors not counted: %+v", st)
	}
}

// TestDecoderMatchesReferenceInSmallPieces feeds mostly-1 lines in pieces
// of every size up to 17 octets: mark idle ending one or two bits before
// the end of a piece, and a reservoir that fills to exactly 64 bits, once
// made the decoder loop forever.
func TestDecoderMatchesReferenceInSmallPieces(t *testing.T) {
	eachPath(t, testDecoderMatchesReferenceInSmallPieces)
}

func testDecoderMatchesReferenceInSmallPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 78))
	for it := range 3000 {
		line := codecRandBytes(r, r.IntN(120), it%3)
		ref := refDecoder{maxFrame: 64}
		ref.feed(append(slices.Clone(line), flag, flag), func([]byte) {})
		for step := 1; step <= 17; step++ {
			d := Decoder{MaxFrame: 64}
			feedDecoder(&d, line, step)
			d.Feed([]byte{flag, flag}, func([]byte) {})
			if d.Stats() != ref.st {
				t.Fatalf("iter %d step %d: %+v, reference %+v\nline % x", it, step, d.Stats(), ref.st, line)
			}
		}
	}
}

// TestEncoderMatchesReferenceEdges covers what random data rarely hits:
// words with more than seven inserted zeros (all 1s), runs carried across
// words and into the FCS, and output that starts at any offset in dst.
func TestEncoderMatchesReferenceEdges(t *testing.T) { eachPath(t, testEncoderMatchesReferenceEdges) }

func testEncoderMatchesReferenceEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, k := range []FCSKind{FCS16, FCS32} {
		for n := range 70 {
			for _, fill := range []byte{0xFF, 0x00, 0x7E, 0xFE, 0x1F, 0xF8} {
				fr := bytes.Repeat([]byte{fill}, n)
				if n > 0 && fill == 0x00 {
					fr[r.IntN(n)] = 0xFF
				}
				pre := bytes.Repeat([]byte{0xAA}, r.IntN(9))
				e := Encoder{FCS: k}
				got := e.AppendFrame(slices.Clone(pre), fr)
				want := append(pre, refEncode(fr, k)...)
				if !bytes.Equal(got, want) {
					t.Fatalf("%v len %d fill %02x:\n got % x\nwant % x", k, n, fill, got, want)
				}
			}
		}
	}
}

// TestDecoderMatchesReferenceInLargePieces feeds lines of frames, stuffed
// garbage, flags and idle in pieces large enough for the word-at-a-time
// path, at every bit alignment of the frames, and compares with the
// bit-at-a-time reference.
func TestDecoderMatchesReferenceInLargePieces(t *testing.T) {
	eachPath(t, testDecoderMatchesReferenceInLargePieces)
}

func testDecoderMatchesReferenceInLargePieces(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for iter := range 400 {
		k := []FCSKind{FCS16, FCS32}[iter%2]
		e := Encoder{FCS: k}
		var s bitSink
		put := func(b []byte, nbits int) {
			for i := range nbits {
				s.bit(b[i/8] >> (i % 8))
			}
		}
		for range 12 {
			switch r.IntN(5) {
			case 0, 1, 2: // a frame, shifted by up to seven bits
				f := e.AppendFrame(nil, codecRandBytes(r, 2+r.IntN(90), r.IntN(2)))
				put(f, 8*len(f)-r.IntN(8))
			case 3: // garbage
				g := codecRandBytes(r, r.IntN(40), r.IntN(3))
				put(g, 8*len(g)-r.IntN(8))
			default: // a shared-zero flag pair or idle
				put([]byte{0x7E, 0xFF}, 8+r.IntN(9))
			}
		}
		line := s.out
		max := []int{0, 64}[iter%2]
		d := Decoder{FCS: k, MaxFrame: max}
		ref := refDecoder{fcs: k, maxFrame: max}
		got := feedDecoder(&d, line, 8+r.IntN(200))
		d.Feed([]byte{flag, flag}, func(f []byte) { got = append(got, slices.Clone(f)) })
		var want [][]byte
		ref.feed(append(slices.Clone(line), flag, flag), func(f []byte) { want = append(want, slices.Clone(f)) })
		if d.Stats() != ref.st {
			t.Fatalf("iter %d: stats %+v, reference %+v", iter, d.Stats(), ref.st)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iter %d: frames differ", iter)
		}
		if ref.st.Frames == 0 && iter%2 == 0 {
			t.Logf("iter %d: no frames", iter)
		}
	}
}

// TestDecoderFlagSharesInsertedZero: a closing flag whose leading 0 is the
// zero inserted after the frame's last five 1s, on frames long enough for
// the word-at-a-time path and at every alignment. The frame is good; the
// reference agrees.
func TestDecoderFlagSharesInsertedZero(t *testing.T) { eachPath(t, testDecoderFlagSharesInsertedZero) }

func testDecoderFlagSharesInsertedZero(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	found := 0
	for iter := 0; found < 40 && iter < 100000; iter++ {
		f := codecRandBytes(r, 40+r.IntN(80), 0)
		var s bitSink
		for range 1 + r.IntN(8) {
			s.bit(1) // shift the frame against the octets
		}
		for i := range 8 {
			s.bit(flag >> i)
		}
		ones := 0
		for _, x := range AppendFCS(slices.Clone(f), f, FCS32) {
			for i := range 8 {
				b := x >> i & 1
				s.bit(b)
				if ones = (ones + int(b)) * int(b); ones == 5 {
					s.bit(0)
					ones = 0
				}
			}
		}
		// The stream must end in an inserted zero.
		if s.n < 6 || s.out[(s.n-1)/8]>>((s.n-1)%8)&1 != 0 || ones != 0 ||
			s.out[(s.n-2)/8]>>((s.n-2)%8)&1 != 1 {
			continue
		}
		last6 := 0
		for i := s.n - 6; i < s.n; i++ {
			last6 = last6<<1 | int(s.out[i/8]>>(i%8)&1)
		}
		if last6 != 0b111110 {
			continue
		}
		found++
		for range 6 {
			s.bit(1)
		}
		s.bit(0) // the flag without its own leading 0
		for i := range 16 {
			s.bit(flag >> (i % 8))
		}
		for s.n%8 != 0 {
			s.bit(1)
		}
		for _, chunk := range []int{8, 13, 1 << 10} {
			d := Decoder{FCS: FCS32}
			got := feedDecoder(&d, s.out, chunk)
			ref := refDecoder{fcs: FCS32}
			var want [][]byte
			ref.feed(s.out, func(b []byte) { want = append(want, slices.Clone(b)) })
			if d.Stats() != ref.st || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("chunk %d: %+v, reference %+v", chunk, d.Stats(), ref.st)
			}
			if len(got) != 1 || !bytes.Equal(got[0], f) {
				t.Fatalf("chunk %d: %d frames, stats %+v", chunk, len(got), d.Stats())
			}
		}
	}
	if found < 40 {
		t.Fatalf("only %d frames ending in an inserted zero", found)
	}
}

// TestDecoderRelease: Release gives the frame buffer back only between
// frames; a frame split around a Release call still decodes, and the
// Decoder keeps working after its buffer went back.
func TestDecoderRelease(t *testing.T) { eachPath(t, testDecoderRelease) }

func testDecoderRelease(t *testing.T) {
	for _, fcs := range []FCSKind{FCS16, FCS32} {
		e := Encoder{FCS: fcs}
		d := Decoder{FCS: fcs}
		frame := append([]byte{0x03, 0x00, 0x00}, pattern(3000)...)
		line := e.AppendFlags(nil, 2)
		line = e.AppendFrame(line, frame)
		line = e.AppendFlags(line, 2)
		var got [][]byte
		emit := func(f []byte) { got = append(got, append([]byte(nil), f...)) }
		half := len(line) / 2
		d.Feed(line[:half], emit)
		if cap(d.buf) == 0 {
			t.Fatalf("%v: no frame buffer in the middle of a frame", fcs)
		}
		d.Release() // in a frame: must keep the octets so far
		d.Feed(line[half:], emit)
		if len(got) != 1 || !bytes.Equal(got[0], frame) {
			t.Fatalf("%v: got %d frames after Release mid-frame", fcs, len(got))
		}
		d.Release()
		if d.buf != nil {
			t.Fatalf("%v: Release between frames kept %d octets of buffer", fcs, cap(d.buf))
		}
		got = nil
		d.Feed(e.AppendFrame(nil, frame[:40]), emit)
		d.Feed(e.AppendFlags(nil, 1), emit)
		if len(got) != 1 || !bytes.Equal(got[0], frame[:40]) {
			t.Fatalf("%v: got %d frames after Release", fcs, len(got))
		}
	}
}

// eachPath runs f with every set of loops this build and CPU have: the
// AVX-512 stuffer with the BMI2 loops, the BMI2 loops alone, and the
// portable Go loops.
func eachPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	have, haveAVX := useBMI2, useAVX512
	defer func() { useBMI2, useAVX512 = have, haveAVX }()
	if haveAVX {
		t.Run("avx512", f)
	}
	useAVX512 = false
	if have {
		t.Run("asm", f)
	}
	useBMI2 = false
	t.Run("go", f)
}

// codecOutputs encodes frame and decodes line (in pieces of chunk octets)
// with the loops useBMI2 selects, and returns everything they produce.
func codecOutputs(frame, line []byte, chunk int, k FCSKind, max int) (enc []byte, frames [][]byte, st DecoderStats) {
	e := Encoder{FCS: k}
	enc = e.AppendFrame([]byte{0x55}, frame)
	d := Decoder{FCS: k, MaxFrame: max}
	frames = feedDecoder(&d, line, chunk)
	d.Feed([]byte{flag, flag}, func(f []byte) { frames = append(frames, slices.Clone(f)) })
	return enc, frames, d.Stats()
}

// checkPathsAgree fails when the assembly loops (with and without the
// AVX-512 stuffer, where the CPU has it) and the Go loops differ on the
// same input in any output.
func checkPathsAgree(t *testing.T, frame, line []byte, chunk int, k FCSKind, max int) {
	t.Helper()
	if !useBMI2 {
		return
	}
	haveAVX := useAVX512
	defer func() { useBMI2, useAVX512 = true, haveAVX }()
	encA, framesA, stA := codecOutputs(frame, line, chunk, k, max)
	useAVX512 = false
	encB, framesB, stB := codecOutputs(frame, line, chunk, k, max)
	useBMI2 = false
	encG, framesG, stG := codecOutputs(frame, line, chunk, k, max)
	if !bytes.Equal(encA, encG) || !bytes.Equal(encB, encG) {
		t.Fatalf("encoders differ on % x (AVX-512 %v):\nasm % x\nbmi2 % x\n go % x", frame, haveAVX, encA, encB, encG)
	}
	if stA != stG || fmt.Sprint(framesA) != fmt.Sprint(framesG) || stB != stG || fmt.Sprint(framesB) != fmt.Sprint(framesG) {
		t.Fatalf("decoders differ (chunk %d): asm %+v %d frames, go %+v %d frames", chunk, stA, len(framesA), stG, len(framesG))
	}
}

// TestCodecPathsAgree runs the assembly and the Go loops on the same
// inputs: every frame length to 300 in several fillings (random, mostly
// 1s, all 1s, all 0s, flags and aborts inside, text), each encoded and its
// line decoded whole, shifted against the octets, and in pieces of every
// size to 17 octets.
func TestCodecPathsAgree(t *testing.T) {
	if !useBMI2 {
		t.Skip("no assembly loops in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(21, 22))
	text := codecTextBytes(300)
	for n := range 301 {
		fills := [][]byte{
			codecRandBytes(r, n, 0), codecRandBytes(r, n, 1), codecRandBytes(r, n, 2),
			bytes.Repeat([]byte{0xFF}, n), make([]byte, n), text[:n],
		}
		for i, fr := range fills {
			k := []FCSKind{FCS16, FCS32}[(n+i)%2]
			e := Encoder{FCS: k}
			var s bitSink
			for range (n + i) % 8 {
				s.bit(1) // shift the frames against the octets
			}
			for _, b := range e.AppendFrame(e.AppendFlags(nil, 1), fr) {
				for j := range 8 {
					s.bit(b >> j)
				}
			}
			line := append(s.out, fr...) // garbage, flags and aborts after it
			chunks := []int{len(line) + 1}
			if n%10 == 0 {
				for c := 1; c <= 17; c++ {
					chunks = append(chunks, c)
				}
			}
			for _, c := range chunks {
				checkPathsAgree(t, fr, line, c, k, []int{0, 64, 200}[n%3])
			}
		}
	}
}

// FuzzDeframePaths: on any line and any frame, the assembly loops and the
// portable Go loops produce the same line octets, frames and counts.
func FuzzDeframePaths(f *testing.F) {
	f.Add([]byte{0x7E, 0x03, 0x7F, 0x5F, 0xAE, 0x7E}, byte(1), false)
	f.Add(bytes.Repeat([]byte{0xFF}, 40), byte(9), true)
	f.Fuzz(func(t *testing.T, b []byte, chunk byte, fcs32 bool) {
		k := FCS16
		if fcs32 {
			k = FCS32
		}
		e := Encoder{FCS: k}
		line := append(e.AppendFrame(nil, b), b...)
		checkPathsAgree(t, b, line, int(chunk%32)+1, k, 64)
	})
}

// TestCPUVendor: the vendor string cpuid returns is printable, so that
// slowPDEP reads the registers it means to.
func TestCPUVendor(t *testing.T) {
	if !cpuidWorks {
		t.Skip("no CPUID in this build")
	}
	max, b, c, d := cpuid(0)
	var v []byte
	for _, r := range []uint32{b, d, c} {
		v = binary.LittleEndian.AppendUint32(v, r)
	}
	if max < 1 || strings.IndexFunc(string(v), func(r rune) bool { return r < ' ' || r > '~' }) >= 0 {
		t.Fatalf("cpuid(0) = %d, vendor %q", max, v)
	}
	t.Logf("vendor %s, slow PDEP %v, assembly loops %v, AVX-512 block loops %v", v, slowPDEP(), useBMI2, useAVX512)
}

// TestDecoderAtMaxFrame decodes frames of MaxFrame-1, MaxFrame and
// MaxFrame+1 octets (and a few lengths where the frame buffer's doubling
// meets the end of a frame) after a short frame, at every bit offset and
// in pieces, against the reference, and checks that the frame buffer
// never grows past the limit: MaxFrame, the FCS and the slack of the
// word stores.
func TestDecoderAtMaxFrame(t *testing.T) { eachPath(t, testDecoderAtMaxFrame) }

func testDecoderAtMaxFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, max := range []int{0, 64, 200, 511} {
		mf := max
		if mf == 0 {
			mf = DefaultMaxFrame
		}
		for _, k := range []FCSKind{FCS16, FCS32} {
			lengths := []int{mf - 1, mf, mf + 1}
			if max == 0 {
				// A 4096-octet buffer (doubled from 256) ends within
				// eight octets of these frames' last bits.
				lengths = append(lengths, 4088-k.Size(), 4092-k.Size(), 4094-k.Size(), 4096-k.Size())
			}
			for _, n := range lengths {
				for fill := range 4 {
					fr := codecRandBytes(r, n, fill)
					switch fill {
					case 2:
						fr = bytes.Repeat([]byte{0xFF}, n)
					case 3:
						fr = make([]byte, n)
					}
					for shift := range 8 {
						e := Encoder{FCS: k}
						var s bitSink
						for range shift {
							s.bit(1)
						}
						line := e.AppendFrame(e.AppendFlags(nil, 1), []byte{3, 1, 2})
						for _, b := range e.AppendFrame(line, fr) {
							for j := range 8 {
								s.bit(b >> j)
							}
						}
						line = append(s.out, flag, flag)
						ref := refDecoder{fcs: k, maxFrame: max}
						var want [][]byte
						ref.feed(line, func(f []byte) { want = append(want, slices.Clone(f)) })
						for _, chunk := range []int{len(line), 1, 7, 64, 4096} {
							d := Decoder{FCS: k, MaxFrame: max}
							got := feedDecoder(&d, line, chunk)
							if d.Stats() != ref.st || fmt.Sprint(got) != fmt.Sprint(want) {
								t.Fatalf("MaxFrame %d %v, %d octets, shift %d, pieces of %d: %+v, reference %+v", mf, k, n, shift, chunk, d.Stats(), ref.st)
							}
							if limit := mf + k.Size() + 8; cap(d.buf) > limit+8 {
								t.Fatalf("MaxFrame %d %v, %d octets, shift %d, pieces of %d: frame buffer grew to %d, past %d", mf, k, n, shift, chunk, cap(d.buf), limit+8)
							}
						}
					}
				}
			}
		}
	}
}

// TestCodecFramesPastMaxWords encodes frames longer than one
// stuffWordsBMI2 call takes (maxWords words of seven octets), against the
// reference, and decodes them whole.
func TestCodecFramesPastMaxWords(t *testing.T) { eachPath(t, testCodecFramesPastMaxWords) }

func testCodecFramesPastMaxWords(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const words = 1 << 12 // maxWords in framing_amd64.go
	for _, n := range []int{7*words - 1, 7 * words, 7*words + 1, 7*words + 8, 7*(words+1) + 3, 70000} {
		for fill := range 3 {
			fr := codecRandBytes(r, n, fill)
			e := Encoder{FCS: FCS32}
			line := e.AppendFrame(nil, fr)
			if !bytes.Equal(line, refEncode(fr, FCS32)) {
				t.Fatalf("%d octets (filling %d): encoder differs from the reference", n, fill)
			}
			d := Decoder{FCS: FCS32, MaxFrame: n}
			var got [][]byte
			d.Feed(append(line, flag), func(f []byte) { got = append(got, bytes.Clone(f)) })
			if len(got) != 1 || !bytes.Equal(got[0], fr) {
				t.Fatalf("%d octets (filling %d): decoded %d frames, %+v", n, fill, len(got), d.Stats())
			}
		}
	}
}

// blockFills returns n octets in one of the fillings that reach every
// branch of the AVX-512 block loop (and of the BMI2 word loop): uniform,
// mostly 1s (runs of ten and more, words of more than seven zeros), text
// (blocks without a zero), runs of exactly five 1s (the most zeros
// without a run of ten: more than three, up to ten, in a word), uniform
// with runs of 1s of random length, and all 1s.
func blockFills(r *rand.Rand, n, fill int) []byte {
	switch fill {
	case 0, 1:
		return codecRandBytes(r, n, fill)
	case 2:
		return codecTextBytes(n)
	case 3:
		var s bitSink
		for len(s.out) < n {
			for range 5 {
				s.bit(1)
			}
			s.bit(0)
			if r.IntN(4) == 0 {
				s.bit(byte(r.IntN(2)))
			}
		}
		return s.out[:n]
	case 4:
		b := codecRandBytes(r, n, 0)
		for i := 0; i < n; i += 1 + r.IntN(40) {
			for j := i; j < min(n, i+r.IntN(12)); j++ {
				b[j] = 0xFF
			}
		}
		return b
	}
	return bytes.Repeat([]byte{0xFF}, n)
}

// TestEncoderLongFrames encodes frames of many AVX-512 blocks (to 2,000
// octets, around the multiples of 56 and 64, and past maxWords words) in
// every filling of blockFills, behind heads of 0 to 7 octets so that the
// word loops start at every bit offset and after every last four bits,
// against the reference encoder, and decodes them.
func TestEncoderLongFrames(t *testing.T) { eachPath(t, testEncoderLongFrames) }

func testEncoderLongFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	lengths := []int{63, 64, 65, 119, 120, 121, 127, 128, 183, 184, 447, 448, 449, 1000, 2000}
	for range 40 {
		lengths = append(lengths, r.IntN(2001))
	}
	for _, n := range lengths {
		for fill := range 6 {
			for h := range 8 {
				fr := blockFills(r, n+h, fill)
				e := Encoder{FCS: FCS32}
				line := e.AppendFrameParts(nil, fr[:h], fr[h:])
				if !bytes.Equal(line, refEncode(fr, FCS32)) {
					t.Fatalf("%d octets after a head of %d (filling %d): encoder differs from the reference", n, h, fill)
				}
				d := Decoder{FCS: FCS32, MaxFrame: len(fr)}
				var got [][]byte
				d.Feed(append(line, flag), func(f []byte) { got = append(got, bytes.Clone(f)) })
				if len(got) != 1 || !bytes.Equal(got[0], fr) {
					t.Fatalf("%d octets after a head of %d (filling %d): decoded %d frames, %+v", n, h, fill, len(got), d.Stats())
				}
			}
		}
	}
	for _, n := range []int{28671, 28672, 28679, 60000} {
		for fill := range 6 {
			fr := blockFills(r, n, fill)
			e := Encoder{FCS: FCS16}
			if !bytes.Equal(e.AppendFrame(nil, fr), refEncode(fr, FCS16)) {
				t.Fatalf("%d octets (filling %d): encoder differs from the reference", n, fill)
			}
		}
	}
}

// rawInsertions are put raw into a line by the flag and abort tests: a
// flag, an abort, a long run of 1s, a lone 0 or 1, five 1s and a 0.
var rawInsertions = [][]byte{{0, 1, 1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {0}, {1}, {1, 1, 1, 1, 1, 0}}

// checkRawInsertion decodes the line of bitsIn (one bit per octet) with
// ins put in raw at bit pos and two flags after, in pieces of each of
// chunks octets (0: whole), against the reference decoder.
func checkRawInsertion(t *testing.T, bitsIn, ins []byte, pos int, k FCSKind, max int, chunks []int, what string) {
	t.Helper()
	var s bitSink
	for _, b := range bitsIn[:pos] {
		s.bit(b)
	}
	for _, b := range ins {
		s.bit(b)
	}
	for _, b := range bitsIn[pos:] {
		s.bit(b)
	}
	line := append(s.out, flag, flag)
	ref := refDecoder{fcs: k, maxFrame: max}
	var want [][]byte
	ref.feed(line, func(f []byte) { want = append(want, slices.Clone(f)) })
	for _, chunk := range chunks {
		if chunk == 0 {
			chunk = len(line)
		}
		d := Decoder{FCS: k, MaxFrame: max}
		got := feedDecoder(&d, line, chunk)
		if d.Stats() != ref.st || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s, %v at bit %d, pieces of %d: %+v, reference %+v", what, ins, pos, chunk, d.Stats(), ref.st)
		}
	}
}

// TestDecoderFlagOrAbortInLongFrames puts a flag, an abort, a long run of
// 1s, a lone 0 or 1 and five 1s and a 0 raw into the line of a frame of
// 600 octets (many blocks of eight windows) at every bit of its first
// three blocks and at 150 random bits after them, in three fillings, and
// decodes it whole and in pieces against the reference.
func TestDecoderFlagOrAbortInLongFrames(t *testing.T) {
	eachPath(t, testDecoderFlagOrAbortInLongFrames)
}

func testDecoderFlagOrAbortInLongFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, fill := range []int{0, 1, 3} {
		fr := blockFills(r, 600, fill)
		e := Encoder{FCS: FCS32}
		enc := e.AppendFrame(e.AppendFlags(nil, 1), fr)
		var bitsIn []byte
		for _, b := range enc {
			for j := range 8 {
				bitsIn = append(bitsIn, b>>j&1)
			}
		}
		positions := make([]int, 0, 3*448+150)
		for pos := range 3 * 448 {
			positions = append(positions, pos)
		}
		for range 150 {
			positions = append(positions, r.IntN(len(bitsIn)+1))
		}
		for _, ins := range rawInsertions {
			for _, pos := range positions {
				checkRawInsertion(t, bitsIn, ins, pos, FCS32, 1000, []int{0, 200, 70}, fmt.Sprintf("filling %d", fill))
			}
		}
	}
}

// TestDecoderFlagOrAbortAtEveryBit puts a flag, an abort, a long run of
// 1s, a lone 0 or 1 and five 1s and a 0 raw into the line of two frames at
// every bit position (so in every place of a 56-bit window, before, inside
// and between frames), and decodes it whole and in pieces against the
// reference, with both loops.
func TestDecoderFlagOrAbortAtEveryBit(t *testing.T) { eachPath(t, testDecoderFlagOrAbortAtEveryBit) }

func testDecoderFlagOrAbortAtEveryBit(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, fill := range []int{0, 1} {
		for _, k := range []FCSKind{FCS16, FCS32} {
			fr := codecRandBytes(r, 60, fill)
			e := Encoder{FCS: k}
			enc := e.AppendFrame(e.AppendFlags(nil, 1), fr)
			enc = e.AppendFrame(enc, fr[:30])
			var bitsIn []byte
			for _, b := range enc {
				for j := range 8 {
					bitsIn = append(bitsIn, b>>j&1)
				}
			}
			for _, ins := range rawInsertions {
				for pos := 0; pos <= len(bitsIn); pos++ {
					checkRawInsertion(t, bitsIn, ins, pos, k, 64, []int{0, 9, 3}, fmt.Sprintf("filling %d, %v", fill, k))
				}
			}
		}
	}
}

// TestDecoderReleaseWhileFramesFlow: a reader that catches up with the
// line between two long frames calls Release with more to come. The next
// frame takes a pooled buffer of the kept one's size; it grew from 256
// octets again, through five fresh, zeroed arrays (about 12 KiB per frame,
// 22 % of what BenchmarkFullPathTCP allocated).
func TestDecoderReleaseWhileFramesFlow(t *testing.T) {
	enc := Encoder{FCS: FCS32}
	frame := append([]byte{0x01, 0x00}, bytes.Repeat([]byte{0x55, 0xAA, 0x7E, 0xFF}, MaxN401/4)...)
	line := enc.AppendFrame(nil, frame)
	d := Decoder{FCS: FCS32}
	frames := 0
	keep := func(f []byte) bool {
		if !bytes.Equal(f, frame) {
			t.Fatalf("frame %d: %d octets, not the %d sent", frames, len(f), len(frame))
		}
		frames++
		putBuf(f) // read: the array goes back, as Link.Read gives it
		return true
	}
	feed := func() {
		d.feedKeep(line, keep) // ends between frames, in mark idle
		d.Release()
	}
	feed() // the first frame grows a buffer; the pool fills
	feed()
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		feed()
	}
	runtime.ReadMemStats(&after)
	if frames != n+2 {
		t.Fatalf("%d frames decoded, want %d", frames, n+2)
	}
	// The pool may drop a buffer now and then (always under the race
	// detector, a quarter of them): less than one frame buffer a frame.
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= frameBuf {
		t.Errorf("%d octets allocated per frame after Release, want under %d (a pooled buffer)", per, frameBuf)
	}
}
