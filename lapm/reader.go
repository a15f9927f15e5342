package lapm

// The link's reader goroutine: it reads the line, decodes frames (both
// FCS lengths while the negotiation may switch them) and hands batches of
// them to the owner.

import "fmt"

// Line read buffers: an idle link reads into smallRead octets, takes a
// pooled largeRead buffer when a read fills the small one, and gives it
// back after any read that does not fill it (the reads have caught up
// with the line). With 16 KiB instead of 64 the receiving end of the
// full path spent about 0.35 cycles per octet more, in read system calls
// and wake-ups; since a gateway on a fast line writes a whole window at
// once (up to about 530 KiB, see publishEarly), 256 KiB reads cost the
// caller 0.02-0.25 cycles per octet less than 64 KiB did behind such a
// gateway (twenty-seventh session). A Read holds its buffer while the
// line stays quiet, so giving it back at once is what keeps an idle link
// that has received a paste or an upload small (TestLinkIdleAfterBurstHoldsNoLargeBuffer;
// BenchmarkLinkIdleMemory -idle-burst=40000: 15 KB per link, 50 KB
// when the buffer was kept); in bulk it costs nothing measurable.
// docs/BENCHMARKS.md has the measurements.
const (
	smallRead = 512
	largeRead = 256 << 10
)

type rxBatch struct {
	frames []rxFrame
	seen32 bool // a good FCS-32 frame arrived in dual mode
	err    error
	note   string // line-level errors to log (FCS, abort, length)
	// damaged: the decoder refused a frame (FCS, abort, length) in
	// this batch: the peer's flags came, if no good frame yet.
	damaged bool
}

// rxFrame is a frame from the reader: address, control and information
// octets; owned frames are in a pooled buffer of their own (b[:cap(b)]),
// which goes to the machine with the frame (machine.rxBuf).
type rxFrame struct {
	b     []byte
	owned bool
}

// ownFrames is the shortest frame the reader decodes into a buffer it
// hands over (Decoder.feedKeep); shorter ones (supervisory frames,
// keystrokes) are copied into one array per batch.
const ownFrames = 512

const (
	fcsOnly16 int32 = iota
	fcsDual
	fcsOnly32
)

func (l *Link) readLoop(leftover []byte) {
	defer l.wg.Done()
	var d16, d32 Decoder
	d16.FCS, d32.FCS = FCS16, FCS32
	maxFrame := max(MaxN401+3, l.cfg.MaxXID+2, l.cfg.Params.N401+3)
	d16.MaxFrame, d32.MaxFrame = maxFrame, maxFrame
	// Reads go into a small buffer; a large pooled one is taken when a
	// read fills the small one (data flows) and given back when a read
	// does not fill it (the reads caught up with the line, which may now
	// stay quiet). Reads into the small buffer also drop the decoders'
	// long-frame buffers.
	var small [smallRead]byte
	var large []byte
	buf := small[:]
	var total uint64
	var nextNote uint64 = 1 // log line errors at 1, 2, 4, 8, ... of them
	var bad uint64          // line errors so far
	keptLast := false       // the last batch had long frames (handed over, not copied)
	dual := false           // the line has been decoded with both FCSs
	feed := func(p []byte) rxBatch {
		var b rxBatch
		// An arena per batch holds copies of its short frames (the
		// decoder's slices are only valid during Feed): room for the
		// whole read, or for a few supervisory frames while long frames
		// flow. When it is full, a new one is taken: earlier frames keep
		// theirs.
		var arena []byte
		size := len(p)
		if keptLast {
			size = min(size, 4*ownFrames)
		}
		add := func(f []byte) {
			if cap(arena)-len(arena) < len(f) {
				// The first frame may have begun in an earlier read.
				arena = make([]byte, 0, size+len(f)+16)
				size = len(p)
			}
			arena = append(arena, f...)
			b.frames = append(b.frames, rxFrame{b: arena[len(arena)-len(f) : len(arena) : len(arena)]})
		}
		// Long frames are decoded into a buffer of their own, which goes
		// with the payload and back to the pool once it is read.
		kept := false
		keep := func(f []byte) bool {
			if len(f) < ownFrames {
				add(f)
				return false
			}
			b.frames = append(b.frames, rxFrame{b: f, owned: true})
			kept = true
			return true
		}
		defer func() { keptLast = kept }()
		switch l.fcsMode.Load() {
		case fcsOnly16:
			d16.feedKeep(p, keep)
		case fcsOnly32:
			d32.feedKeep(p, keep)
		default:
			if !dual {
				// Both decoders read the line from the same point (a
				// frame may be half read), so that they end the same
				// frames.
				dual = true
				d32.follow(&d16)
			}
			if feedDual(&d16, &d32, p, add) {
				b.seen32 = true
				l.fcsMode.Store(fcsOnly32)
			}
		}
		return b
	}
	send := func(b rxBatch) bool {
		select {
		case l.rxCh <- b:
			return true
		case <-l.done:
			return false
		}
	}
	// account takes the decoders' counts into the link's after a batch
	// (b): it notes line errors (exponentially spaced) and marks a batch
	// in which the decoder refused a frame as damaged.
	account := func(b *rxBatch) {
		s16, s32 := d16.Stats(), d32.Stats()
		l.mu.Lock()
		l.decStats = DecoderStats{
			Frames:    s16.Frames + s32.Frames,
			FCSErrors: s16.FCSErrors + s32.FCSErrors,
			Aborts:    s16.Aborts + s32.Aborts,
			TooLong:   s16.TooLong + s32.TooLong,
			TooShort:  s16.TooShort + s32.TooShort,
		}
		l.lineIn = total
		ds := l.decStats
		l.mu.Unlock()
		if n := ds.FCSErrors + ds.Aborts + ds.TooLong + ds.TooShort; n > bad {
			bad, b.damaged = n, true
			if bad >= nextNote {
				nextNote = bad * 2
				b.note = fmt.Sprintf("%d FCS errors, %d aborts, %d too long, %d too short in %d octets so far",
					ds.FCSErrors, ds.Aborts, ds.TooLong, ds.TooShort, total)
			}
		}
	}
	if len(leftover) > 0 {
		// Detection's leftover may hold the originator's first frame,
		// damaged: it ends the wait for its first frame too.
		b := feed(leftover)
		account(&b)
		if (len(b.frames) > 0 || b.damaged) && !send(b) {
			return
		}
	}
	for {
		n, err := l.line.Read(buf)
		if n > 0 {
			total += uint64(n)
			b := feed(buf[:n])
			account(&b)
			if (len(b.frames) > 0 || b.damaged) && !send(b) {
				return
			}
		}
		if err != nil {
			if large != nil {
				putBuf(large)
			}
			d16.Release()
			d32.Release()
			send(rxBatch{err: err})
			return
		}
		switch {
		case large == nil && n == len(buf):
			large = getBuf(largeRead)[:largeRead]
			buf = large
		case large != nil && n < len(large):
			putBuf(large)
			large, buf = nil, small[:]
			fallthrough
		case large == nil:
			d16.Release()
			d32.Release()
		}
	}
}

// feedDual feeds p to both decoders while the FCS changes from FCS-16 to
// FCS-32 after the negotiation (V.42 §8.10): the peer sends FCS-16 frames
// and then only FCS-32 frames. Frames with a good FCS-16 are taken up to
// the first frame with a good FCS-32, and only FCS-32 frames from it on:
// an FCS-32 frame also passes the FCS-16 check once in 65,536 (read with
// two octets of its FCS as information), and that reading must not reach
// the machine. add gets the frames in line order; feedDual reports
// whether an FCS-32 frame arrived.
//
// The decoders must read the line from the same point (Decoder.follow).
// A frame's place in the line is the count of flags before its closing
// flag, the same for both decoders. (Their frame counters are not: d16
// drops a frame too long for both sooner, as its FCS is shorter, possibly
// a read earlier.) Each frame is one that d16 takes, one that d32 takes, or one that
// both drop, and the decoders' counters add up to the line's errors
// counted once: d32 counts the frames both drop, d16's drops are taken
// back (an FCS-32 frame fails the FCS-16 check), and so are d32's drops of
// frames d16 takes (an FCS-16 frame fails the FCS-32 check, and an FCS-16
// supervisory frame is too short for it).
func feedDual(d16, d32 *Decoder, p []byte, add func([]byte)) (seen32 bool) {
	type frame struct {
		at   uint64 // its place in the line: the flags read before its closing flag
		data []byte
	}
	var f16 []frame
	before16 := d16.Stats()
	d16.Feed(p, func(f []byte) {
		f16 = append(f16, frame{d16.flags, append([]byte(nil), f...)})
	})
	d32.Feed(p, func(f []byte) {
		if !seen32 {
			seen32 = true
			for _, g := range f16 {
				if g.at < d32.flags {
					add(g.data)
				}
			}
		}
		add(f)
	})
	if !seen32 {
		for _, g := range f16 {
			add(g.data)
		}
	}
	took16 := d16.st.Frames
	d16.st = before16
	d16.st.Frames = took16
	for _, g := range f16 {
		// The frame as d32 saw it, with its FCS-16.
		f := AppendFCS(append([]byte(nil), g.data...), g.data, FCS16)
		if c := d32.rejects(f); c != nil && *c > 0 {
			*c--
		}
	}
	return seen32
}
