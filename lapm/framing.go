package lapm

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// Synchronous HDLC framing over an octet line (V.42 §8.1.1 frame
// structure, §8.1.4 abort, §8.1.5 interframe time fill; ISO/IEC 13239):
// each frame is sent as an opening flag 0x7E, the address, control and
// information octets and the FCS with a 0 bit inserted after every run of
// five 1 bits (zero-bit insertion), and a closing flag. Bits are packed
// into line octets least significant bit first. Seven or more consecutive 1
// bits abort a frame in progress; between frames they are the mark idle
// state.
//
// Neither direction works bit by bit. Both look at 56 line bits at once:
// v & v>>1 & v>>2 & v>>3 & v>>4 marks every position where a run of five
// 1s ends, and the word moves as one block through a 64-bit accumulator.
// The encoder inserts the zeros a word needs (stuffWords); the decoder
// removes all inserted zeros of a window when no flag or abort is in it
// (unstuffWords, unstuffLoop), and otherwise handles the first run on its
// own. In portable Go each zero costs one addition or subtraction; on
// amd64 with BMI2 (framing_amd64.s) one PDEP inserts all of a word's zeros
// and one PEXT removes all of a window's, without a branch on the data.
// Text rarely has five 1s in a row, so most of its words need no zero at
// all. framing_test.go and FuzzDeframe check both against a bit-at-a-time
// reference, TestCodecPathsAgree and FuzzDeframePaths the assembly against
// the Go loops.

const flag = 0x7E

// MaxN401 is the largest I-field size (octets) this implementation offers
// or accepts in XID negotiation.
const MaxN401 = 4096

// DefaultMaxFrame is the Decoder's MaxFrame when none is set: the largest
// I frame this implementation negotiates (address, two control octets and
// MaxN401 information octets).
const DefaultMaxFrame = MaxN401 + 3

// Encoder turns frames into the synchronous HDLC bit stream. The zero value
// sends FCS-16. It keeps no state between frames: every frame starts and
// ends on an octet boundary.
type Encoder struct {
	// FCS is the frame check sequence appended to each frame. It may be
	// changed between frames (after XID negotiation).
	FCS FCSKind
}

// AppendFrame appends to dst the line octets for one frame: an opening
// flag, frame (address, control and information octets) and its FCS with
// zero bits inserted, a closing flag, and 1 bits (mark idle) up to the next
// octet boundary. It never fails.
func (e *Encoder) AppendFrame(dst, frame []byte) []byte {
	return e.appendFrame(dst, nil, frame)
}

// AppendFrameParts appends the same line octets as AppendFrame for the
// frame head followed by info: a sender whose header (address and
// control octets) and information field live apart need not join them
// first.
func (e *Encoder) AppendFrameParts(dst, head, info []byte) []byte {
	return e.appendFrame(dst, head, info)
}

// appendFrame encodes the frame head followed by info (head may be
// empty): the bit stream does not depend on where one ends and the other
// begins, so the few head octets go through the stuffer first and the
// bulk of info through the word loop.
func (e *Encoder) appendFrame(dst, head, info []byte) []byte {
	var fcs [4]byte
	tail := appendFCSParts(fcs[:0], head, info, e.FCS)
	// Worst case: one inserted bit per five data bits, plus two flags, the
	// padding and one word of slack for the 64-bit stores.
	n := len(dst)
	dst = slices.Grow(dst, (len(head)+len(info)+4)*6/5+4+8)
	s := stuffer{out: dst[:cap(dst)], o: n}
	s.put(flag, 8)
	s.bytes(head)
	info = s.words(info)
	s.bytes(info)
	s.bytes(tail)
	s.put(flag, 8)
	return s.finish()
}

// AppendFlags appends n flag octets: the idle fill a station sends before
// its first frame so that the receiver finds the frame alignment (V.42
// §8.1.5; spandsp declares framing OK only after some flags).
func (e *Encoder) AppendFlags(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, flag)
	}
	return dst
}

// stuffer packs bit fields LSB first into out via a 64-bit accumulator and
// inserts the zero bits. out is long enough for the whole frame plus eight
// octets, so a full accumulator is stored as one 64-bit word.
type stuffer struct {
	out []byte
	o   int    // octets of out written
	acc uint64 // pending bits, the oldest in bit 0
	n   uint   // number of pending bits, < 64
	l   uint64 // the four bits written last, the latest in bit 3, or (after the assembly loops) bits with the same run of 1s at the top, all that is used of them
}

// put appends the k (< 64) low bits of x; x must have no bits above k.
func (s *stuffer) put(x uint64, k uint) {
	s.acc |= x << (s.n & 63)
	if s.n+k >= 64 {
		binary.LittleEndian.PutUint64(s.out[s.o:], s.acc)
		s.o += 8
		s.acc = x >> ((64 - s.n) & 63) // s.n > 0 here because k < 64
		s.n += k - 64
		return
	}
	s.n += k
}

// finish pads the pending bits with 1s to an octet boundary and returns
// the output.
func (s *stuffer) finish() []byte {
	s.acc |= ^uint64(0) << s.n
	for ; s.n > 0; s.n -= min(s.n, 8) {
		s.out[s.o] = byte(s.acc)
		s.o++
		s.acc >>= 8
	}
	return s.out[:s.o]
}

// words stuffs p seven octets (56 bits) at a time while at least eight
// remain to be loaded, and returns the rest.
func (s *stuffer) words(p []byte) []byte {
	for len(p) >= 8 {
		var left, np int
		left, np, s.acc, s.n, s.l = stuffWords(s.out[s.o:], p, s.acc, s.n, s.l)
		s.o = len(s.out) - left
		p = p[len(p)-np:]
		if len(p) >= 8 {
			// A word stuffWords could not take; see there.
			s.chunk(binary.LittleEndian.Uint64(p)&(1<<56-1), 56)
			p = p[7:]
		}
	}
	return p
}

// stuffWordsGo is stuffWords in portable Go, a plain function so that
// nothing but its own state competes for registers. It stuffs p 56 bits at a time
// into out (acc, n and l as in stuffer) and returns how much of out and p
// is left. It stops when fewer than eight octets of p are left, or at the
// first word that needs more than seven inserted zeros (at least 36 1s in
// 56 bits, so rare), which the caller does with chunk.
//
// In v, the word above the four bits written before it, bit i of
// m = v & v>>1 & v>>2 & v>>3 & v>>4 is set when word bits i-4..i are all
// 1s: a run of five ends at bit i. The lowest such i takes a 0 after it;
// the count then starts again, so the next run can end at i+5 at the
// earliest: m's bits i..i+4 are dropped and the rest moves up with the
// word. Each 0 goes in with one addition: x + (x & ^1<<i) doubles the part
// of x above bit i, which shifts it up by one and leaves a 0 at i+1.
func stuffWordsGo(out, p []byte, acc uint64, n uint, l uint64) (int, int, uint64, uint, uint64) {
	o := 0
	for len(p) >= 8 {
		x := binary.LittleEndian.Uint64(p) << 8 >> 8
		v := x<<4 | l
		m := v & (v >> 1) & (v >> 2) & (v >> 3) & (v >> 4)
		k := uint(56)
		for ; m != 0; k++ {
			j := uint(bits.TrailingZeros64(m))
			x += x & (^uint64(1) << (j & 63)) // a 0 after bit j
			m = m &^ (0x1F << (j & 63)) << 1  // and the rest moves up
		}
		if k > 63 {
			break // x overflowed
		}
		l = x >> ((k - 4) & 63) & 0xF
		acc |= x << (n & 63)
		n += k
		if n >= 64 {
			binary.LittleEndian.PutUint64(out[o:], acc)
			o += 8
			n -= 64
			acc = x >> ((k - n) & 63) // n < k because k < 64
		}
		p = p[7:]
	}
	return len(out) - o, len(p), acc, n, l
}

// bytes stuffs the (few) octets of p.
func (s *stuffer) bytes(p []byte) {
	for len(p) > 0 {
		c := min(len(p), 7)
		var x uint64
		for i, b := range p[:c] {
			x |= uint64(b) << (8 * i)
		}
		s.chunk(x, uint(8*c))
		p = p[c:]
	}
}

// chunk stuffs the c (<= 56) bits of x one run of five 1s at a time.
func (s *stuffer) chunk(x uint64, c uint) {
	for {
		// v holds the previous four bits below the chunk. Bit i of m is set
		// when chunk bits i-4..i are all 1s, i.e. a run of five ends at i.
		v := x<<4 | s.l
		m := v & (v >> 1) & (v >> 2) & (v >> 3) & (v >> 4)
		if m == 0 {
			s.put(x, c)
			s.l = v >> c & 0xF
			return
		}
		j := uint(bits.TrailingZeros64(m)) + 1 // bits up to the end of the run
		s.put(x&(1<<j-1), j+1)                 // and an inserted 0
		x >>= j
		c -= j
		s.l = 0
		if c == 0 {
			return
		}
	}
}

// DecoderStats counts what a Decoder saw on the line.
type DecoderStats struct {
	Frames     uint64 // frames with a good FCS, emitted
	FCSErrors  uint64 // frames whose FCS did not check
	Aborts     uint64 // frames ended by seven or more 1 bits
	TooLong    uint64 // frames longer than MaxFrame, discarded
	TooShort   uint64 // frames shorter than address, control and FCS
	Misaligned uint64 // frames whose length is not a whole number of octets
}

// Decoder finds frames in the synchronous HDLC bit stream: it removes
// inserted zero bits, finds flags (including one flag shared between two
// frames and flags sharing a 0 bit), skips mark idle and flag idle between
// frames, checks the FCS and hands on the good frames. Bad frames are
// counted and dropped. Its memory is bounded by MaxFrame (see Release).
//
// The zero value is ready to use (FCS-16, DefaultMaxFrame). A Decoder is
// not safe for concurrent use.
type Decoder struct {
	// FCS is the frame check sequence expected on each frame. It may be
	// changed between Feed calls (after XID negotiation).
	FCS FCSKind
	// MaxFrame is the largest frame accepted, in octets of address,
	// control and information (FCS excluded); 0 means DefaultMaxFrame.
	// Longer frames are discarded and counted as TooLong.
	MaxFrame int

	st DecoderStats

	in   uint64 // line bits not yet examined, next in bit 0
	nin  uint   // number of valid bits in in
	last uint64 // the four line bits examined last, the latest in bit 3

	inFrame bool   // after a flag; false while hunting for one
	idle    bool   // in a run of seven or more 1s
	acc     uint64 // frame bits not yet in buf
	nacc    uint
	buf     []byte // frame bits so far, packed
	nextCap int    // after a frame was kept (feedKeep), the size of the next buffer
	kept    bool   // a frame was kept since the last Release
	nbits   int    // frame bits so far (8*len(buf) + nacc)
	zpos    int    // nbits when the last inserted zero was removed (0 after a flag)
	flags   uint64 // flags read so far: places a frame in the line (feedDual)
}

// Stats returns the counters so far.
func (d *Decoder) Stats() DecoderStats { return d.st }

// Release drops a frame buffer grown for long frames if it holds no frame
// octets (between frames, or a frame of fewer than eight octets so far),
// so that a Decoder on an idle line holds almost no memory. Feed grows a
// buffer again when the next long frame needs one. Call it when the line
// goes quiet; calling it at any other time is harmless but slower.
//
// While long frames flow (one was kept since the last Release), the next
// frame still takes a pooled buffer of the kept one's size: a reader
// that catches up with the line between two frames calls Release with
// more to come, and growing each such frame from 256 octets again took
// five fresh, zeroed arrays (22 % of what BenchmarkFullPathTCP allocated).
func (d *Decoder) Release() {
	if len(d.buf) == 0 && cap(d.buf) > keepFrameBuf {
		putBuf(d.buf)
		d.buf = nil
	}
	if !d.kept {
		d.nextCap = 0
	}
	d.kept = false
}

// keepFrameBuf is the largest frame buffer Release keeps (enough for the
// supervisory and short frames of an idle link).
const keepFrameBuf = 256

func (d *Decoder) maxFrame() int {
	if d.MaxFrame > 0 {
		return d.MaxFrame
	}
	return DefaultMaxFrame
}

// Feed consumes line octets and calls emit for every complete frame with a
// good FCS, with the FCS removed (address, control and information
// octets). The frame slice is only valid during the call. Bits of an
// incomplete frame are kept for the next Feed.
func (d *Decoder) Feed(p []byte, emit func(frame []byte)) {
	d.feed(p, func(f []byte) bool {
		emit(f)
		return false
	})
}

// feedKeep is Feed for a caller that may keep a frame: when emit returns
// true the frame's array is the caller's (from index 0 to its capacity:
// putBuf may take it back), and the next frame is decoded into a pooled
// buffer of the same size; otherwise the frame is valid only during the
// call.
func (d *Decoder) feedKeep(p []byte, emit func(frame []byte) bool) {
	d.feed(p, emit)
}

func (d *Decoder) feed(p []byte, emit func(frame []byte) bool) {
	// The bit reservoir lives in locals (registers) during the loop.
	in, nin, last := d.in, d.nin, d.last
	p0 := p
	for {
		if nin <= 56 && len(p) > 0 {
			if len(p) >= 8 {
				// Bits above the counted ones are the following
				// octets, so OR-ing them in again later is harmless.
				in |= binary.LittleEndian.Uint64(p) << (nin & 63)
				k := (63 - nin) >> 3
				p = p[k:]
				nin += 8 * k
			} else {
				for nin <= 56 && len(p) > 0 {
					in |= uint64(p[0]) << (nin & 63)
					p = p[1:]
					nin += 8
				}
			}
		}
		if nin < 3 {
			break
		}
		if d.idle {
			// Seven or more 1s so far: more 1s (mark idle) cannot start a
			// flag, which begins with a 0.
			ones := min(uint(bits.TrailingZeros64(^in)), nin)
			in = in >> (ones / 2) >> (ones - ones/2) // ones may be 64
			nin -= ones
			if nin == 0 {
				continue // all 1s so far: still idle
			}
			d.idle = false
			if nin < 3 {
				continue // too few bits left to look at: refill first
			}
		}
		if d.inFrame {
			// The hot loop: inside a frame, as long as every run of five
			// 1s in the window is followed by an inserted 0 (no flag, no
			// abort), remove them all at once and append the window.
			if pos := 8*(len(p0)-len(p)) - int(nin); pos >= 0 {
				// The reservoir holds the bits just before p, all of
				// them from p0: the fast path reads p0 itself.
				in, nin, last, p = d.frameBits(p0, uint(pos), last, in, nin, p)
			}
			if !d.inFrame || nin < 3 {
				continue
			}
		}
		// Examine lim bits; the two after each one stay visible so that
		// a run of five 1s can be classified.
		lim := min(nin, 58) - 2
		v := in<<4 | last
		m := (v & (v >> 1) & (v >> 2) & (v >> 3) & (v >> 4)) & (1<<(lim&63) - 1)
		if m == 0 {
			if d.inFrame {
				d.appendBits(in&(1<<(lim&63)-1), lim)
			}
			last = v >> (lim & 63) & 0xF
			in >>= lim & 63
			nin -= lim
			continue
		}
		j := uint(bits.TrailingZeros64(m)) + 1 // bits through the fifth 1
		if d.inFrame {
			d.appendBits(in&(1<<(j&63)-1), j)
		}
		switch {
		case in>>(j&63)&1 == 0: // an inserted zero
			in >>= (j + 1) & 63
			nin -= j + 1
			last = 0
			d.zpos = d.nbits
		case in>>((j+1)&63)&1 == 0: // six 1s and a 0: a flag
			in >>= (j + 2) & 63
			nin -= j + 2
			last = 0
			if d.inFrame {
				d.endFrame(emit)
			}
			d.flags++
			d.startFrame()
		default: // seven 1s: abort, or idle
			in >>= (j + 2) & 63
			nin -= j + 2
			last = 0xF
			d.idle = true
			if d.inFrame {
				if d.contentBits() > 0 {
					d.st.Aborts++
				}
				d.inFrame = false
			}
		}
	}
	d.in, d.nin, d.last = in&(1<<(nin&63)-1), nin, last
}

// frameBits is Feed's fast path inside a frame: unstuffWords from bit
// pos of p0 (where the reservoir in, nin begins) into the frame's buffer,
// with the frame dropped as TooLong when it grows past the limit. It
// returns the reservoir and the rest of p0 after what it consumed.
func (d *Decoder) frameBits(p0 []byte, pos uint, last, in uint64, nin uint, p []byte) (uint64, uint, uint64, []byte) {
	limit := d.maxFrame() + d.FCS.Size() + 8
	o := len(d.buf)
	if o > limit {
		// MaxFrame or FCS changed within the frame: the general path
		// (appendBits) sorts it out.
		return in, nin, last, p
	}
	if c := cap(d.buf); c < limit+8 && c-o < 64 {
		d.grow(limit)
	}
	full := min(cap(d.buf), limit+8)
	acc, nacc, zpos := d.acc, d.nacc, d.zpos
	o, end, last, acc, nacc, zpos := unstuffWords(d.buf[:full], o, p0, pos, last, acc, nacc, zpos)
	if end == pos {
		return in, nin, last, p
	}
	d.nbits += 8*(o-len(d.buf)) + int(nacc) - int(d.nacc)
	d.buf, d.acc, d.nacc, d.zpos = d.buf[:o], acc, nacc, zpos
	// unstuffWords stops after storing a word beyond full-8: past the
	// limit the frame is too long; below it the buffer grows next time.
	if o > limit {
		d.st.TooLong++
		d.inFrame = false
		d.buf = d.buf[:0]
	}
	b, r := end>>3, end&7
	if r == 0 {
		return 0, 0, last, p0[b:]
	}
	return uint64(p0[b]) >> r, 8 - r, last, p0[b+1:]
}

// unstuffWords is the decoder's hot loop. It reads the line bits of p
// from bit pos on (last holds the four before), and adds frame bits to acc
// and nacc, storing full words in out[o:]; zpos is as in Decoder. It takes
// windows of 56 line bits while every run of five 1s in them is followed
// by an inserted 0 (no flag, no abort), removes those zeros and stores the
// rest (unstuffLoop). It returns at the first flag or abort (left for
// Feed's general path), when fewer than eight octets of p are left to
// load, or when fewer than eight octets of out are left to store into (the
// frame is too long, or the buffer must grow); it returns o, the bit
// position reached, last, acc, nacc and zpos.
func unstuffWords(out []byte, o int, p []byte, pos uint, last, acc uint64, nacc uint, zpos int) (int, uint, uint64, uint64, uint, int) {
	const w = 56
	i0, sh := int(pos>>3), pos&7
	i, c := i0, uint64(0)
	o, i, last, acc, nacc, c = unstuffLoop(out, o, p, i, sh, last, acc, nacc)
	pos = uint(i)*8 + sh
	if i > i0 && c == 0 {
		// zpos matters only when the frame ends right after the zero:
		// the flag's six 1s would have kept any window holding five of
		// them from the loop, so the zero is in the last window, with
		// at most four 1s after it. Look there.
		t := binary.LittleEndian.Uint64(p[i-w/8:]) >> sh << (64 - w)
		r := uint(bits.LeadingZeros64(^t)) // 1s at the end of the window
		if r <= 4 && t>>((63-r-5)&63)&0x1F == 0x1F {
			zpos = 8*o + int(nacc) - int(r)
		}
	}
	if c != 0 {
		// Take the pending inserted zero now: the general path would
		// no longer see the run before it.
		pos++
		zpos = 8*o + int(nacc)
		last >>= 1
	}
	return o, pos, last, acc, nacc, zpos
}

// unstuffLoopGo is unstuffLoop in portable Go: the windows of
// unstuffWords, from octet i of p at bit offset sh, while i+8 <= len(p)
// and o+8 <= len(out). It returns o, i, last, acc, nacc and c, which is 1
// when the next window starts with an inserted zero still to remove.
//
// Bit j of m marks a run of five 1s ending at window bit j, so the zero to
// remove is bit j+1. Subtracting (y & ^1<<j) >> 1 halves the part of y
// above bit j, which moves it down by one over that zero; the marks above
// move down with it. A run ending at the window's last bit leaves its zero
// to the next window (c), so that every window starts 56 bits after the
// one before: the loads do not wait for the previous window's result.
func unstuffLoopGo(out []byte, o int, p []byte, i int, sh uint, last, acc uint64, nacc uint) (int, int, uint64, uint64, uint, uint64) {
	const w = 56   // window; a load at any bit offset holds w+1 bits
	c := uint64(0) // 1 when bit 0 of this window is an inserted zero
	for i+8 <= len(p) && o+8 <= len(out) {
		t := binary.LittleEndian.Uint64(p[i:]) >> sh
		v := t<<4 | last
		a := v & (v >> 1)
		m := a & (a >> 2) & (v >> 4) & (1<<w - 1)
		if (m<<1)&t != 0 {
			break // a flag or an abort in the window
		}
		y := t << (64 - w) >> (64 - w)
		k := w - uint(c)
		next := m >> (w - 1)
		for m &= 1<<(w-1) - 1; m != 0; m = (m & (m - 1)) >> 1 {
			j := uint(bits.TrailingZeros64(m))
			y -= (y & (^uint64(1) << (j & 63))) >> 1
			k--
		}
		y >>= c & 1
		c = next
		last = t >> (w - 4) & 0xF
		i += w / 8
		acc |= y << (nacc & 63)
		nacc += k
		if nacc >= 64 {
			binary.LittleEndian.PutUint64(out[o:], acc)
			o += 8
			nacc -= 64
			acc = y >> ((k - nacc) & 63) // nacc < k because k < 64
		}
	}
	return o, i, last, acc, nacc, c
}

func (d *Decoder) startFrame() {
	d.inFrame = true
	// The buffer grows on demand (frameBits, appendBits) and Release
	// drops it. After a kept frame, the next one is likely as long.
	if d.buf == nil && d.nextCap > 0 {
		d.buf = getBuf(d.nextCap)
	}
	d.buf = d.buf[:0]
	d.acc, d.nacc, d.nbits, d.zpos = 0, 0, 0, 0
}

// appendBits adds the k (<= 56) low bits of x to the frame; x has no bits
// above k. A frame that grows past the limit is dropped here.
func (d *Decoder) appendBits(x uint64, k uint) {
	d.nbits += int(k)
	d.acc |= x << (d.nacc & 63)
	if d.nacc+k < 64 {
		d.nacc += k
		return
	}
	limit := d.maxFrame() + d.FCS.Size() + 8
	if cap(d.buf)-len(d.buf) < 8 {
		d.grow(limit) // not append: its growth ignores the limit
	}
	d.buf = binary.LittleEndian.AppendUint64(d.buf, d.acc)
	d.acc = x >> ((64 - d.nacc) & 63) // d.nacc > 0 here because k < 64
	d.nacc += k - 64
	if len(d.buf) > limit {
		d.st.TooLong++
		d.inFrame = false
		d.buf = d.buf[:0]
	}
}

// grow gives the frame buffer room for at least one more word: the buffer
// grows with the frame, doubling, so that short frames (and idle lines)
// keep a short one, but never past limit+8 octets (a frame is dropped as
// TooLong once it holds more than limit). While long frames flow
// (nextCap), it takes a pooled buffer of a kept frame's size at once, as
// startFrame does: Release drops the buffer of a frame begun with fewer
// than eight octets, which a reader that caught up with the line between
// two frames of a batch often leaves.
func (d *Decoder) grow(limit int) {
	o := len(d.buf)
	var b []byte
	if d.nextCap >= o+8 && d.nextCap > cap(d.buf) {
		b = getBuf(d.nextCap)
	} else {
		b = make([]byte, 0, max(min(max(2*cap(d.buf), 256), limit+8), o+8))
	}
	b = append(b, d.buf...)
	putBuf(d.buf) // the decoder's own: a kept frame's array is no longer d.buf
	d.buf = b
}

// contentBits is the number of frame bits before the flag or abort
// sequence that was just recognised: the bits appended so far minus the
// five 1s and the 0 that began the sequence, unless that 0 was removed as
// an inserted zero or was the previous flag's last bit.
func (d *Decoder) contentBits() int {
	n := d.nbits - 5
	if n != d.zpos {
		n--
	}
	return n
}

func (d *Decoder) endFrame(emit func([]byte) bool) {
	n := d.contentBits()
	if n <= 0 {
		return // back-to-back flags
	}
	if cap(d.buf)-len(d.buf) < 8 {
		// Room for the pending bits, within the limit: append's own
		// growth would take a buffer of a quarter more than a full frame
		// (5,376 octets for the largest), outside the pooled sizes.
		d.grow(d.maxFrame() + d.FCS.Size() + 8)
	}
	for nb := (d.nacc + 7) / 8; nb > 0; nb-- {
		d.buf = append(d.buf, byte(d.acc))
		d.acc >>= 8
	}
	if n%8 != 0 {
		if n < 8 && d.buf[0]|(0xFF<<n) == 0xFF {
			return // mark idle padding between two flags
		}
		d.st.Misaligned++
		return
	}
	f := d.buf[:n/8]
	if c := d.rejects(f); c != nil {
		*c++
		return
	}
	d.st.Frames++
	if emit(f[:len(f)-d.FCS.Size()]) {
		d.nextCap = cap(d.buf) // the frame's array is the caller's now
		d.buf = nil
		d.kept = true
	}
}

// rejects returns the counter of the reason d drops the frame f (the
// octets between its flags, FCS included), or nil if f is good.
func (d *Decoder) rejects(f []byte) *uint64 {
	fcs := d.FCS.Size()
	switch {
	case len(f) < 2+fcs:
		return &d.st.TooShort
	case len(f)-fcs > d.maxFrame():
		return &d.st.TooLong
	case !checkFCS(f, d.FCS):
		return &d.st.FCSErrors
	}
	return nil
}

// follow makes d continue in the line where src is: the same line bits
// pending and the same frame half read, so that from here on both end
// the same frames, and the same count of flags, which places a frame in
// the line for both. d keeps its FCS, MaxFrame and counters. The reader
// uses it when it starts decoding with FCS-32 beside FCS-16.
func (d *Decoder) follow(src *Decoder) {
	d.in, d.nin, d.last, d.flags = src.in, src.nin, src.last, src.flags
	d.inFrame, d.idle = src.inFrame, src.idle
	d.acc, d.nacc, d.nbits, d.zpos = src.acc, src.nacc, src.nbits, src.zpos
	d.buf = append(d.buf[:0], src.buf...)
}
