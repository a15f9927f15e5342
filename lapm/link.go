package lapm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// PrivateSetID names the XID private parameter set (group 0xF0, V.42
// §8.10, ISO/IEC 8885) in which ExchangeXID, AcceptXID and RespondXID carry
// the upper layer's payload, split into parameters of at most 255 octets.
const PrivateSetID = "DGAS1"

// DefaultMaxXID is Config.MaxXID when zero: room for a 2048-octet
// upper-layer payload in our private set (format identifier 1, group
// header 3, set ID 7, exchange number 3, nine fragment headers 18, payload
// 2048), the largest Access Security token (docs/access-security.md §1).
const DefaultMaxXID = 2080

// ErrXIDPayload is returned when an XID frame that should carry the upper
// layer's private parameter set does not.
var ErrXIDPayload = errors.New("lapm: XID frame without the private parameter set")

// ErrXIDTooLong is an XID frame received whose information field is
// larger than Config.MaxXID (logged and counted as an invalid frame). A
// command during parameter negotiation is ignored; one after it (an upper
// layer's token) is returned by AcceptXID as this error and still waits
// for its answer (RespondXID: Access Security's REJECT), so that the peer
// hears why instead of retrying it N400 times. A response ends the
// exchange waiting for it.
var ErrXIDTooLong = errors.New("lapm: XID information field too long")

// Logger is the narrow logging interface the link uses.
type Logger interface {
	Printf(format string, args ...any)
}

// Config configures a Link.
type Config struct {
	Role   Role
	Params LinkParams // what we offer in parameter negotiation
	// T401 is the acknowledgement timer; 0 means T401ForRate(LineRate,...)
	// of the negotiated N401 and k (of the V.42 defaults, 128 and 15,
	// until the negotiation ends), DefaultT401 when the line rate is
	// unknown.
	T401 time.Duration
	// T402 is how long an acknowledgement may wait for an I frame to carry
	// it (at most T401/4); 0 means DefaultT402, negative acknowledges
	// every I frame at once (see doc.go, "Delayed acknowledgement").
	T402 time.Duration
	// T403 is the idle timer after which the link polls; 0 means
	// DefaultT403, negative disables idle polling.
	T403 time.Duration
	// N400 is the maximum number of retransmissions; 0 means DefaultN400.
	N400   int
	Logger Logger // nil: silent
	// MaxXID is the largest XID information field accepted, in octets
	// (XID frames are not bound by N401); 0 means DefaultMaxXID.
	MaxXID int
	// LineRate is the line's bit rate if known; 0 = unknown. It sets
	// T401 (T401ForRate) and bounds the I frames the link keeps
	// outstanding to about PacedWindowTime of the line, fewer than the
	// negotiated k when those take longer (see PacedWindowTime).
	LineRate int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FlagWait bounds, for the answerer, how long Open waits for the
	// originator's first frame; 0 or negative means no bound but ctx.
	// After the detection phase set it to FlagWaitAfterADP: an answerer
	// that sent ADP waits for flags up to twice T400, then hangs up
	// (Hayes S141). Open then fails with ErrLinkFailure.
	FlagWait time.Duration
}

// FlagWaitAfterADP is Config.FlagWait for an answerer after detection.
const FlagWaitAfterADP = 2 * T400

// maxPending bounds the encoded line octets the owner goroutine queues
// for the writer. Above it the owner stops taking received frames, so a
// peer that floods commands (polls, REJ, SREJ, XID, TEST) while not
// reading what they provoke is pushed back through the line instead of
// growing memory.
const maxPending = 256 << 10

// Line read buffers: an idle link reads into smallRead octets, takes a
// pooled largeRead buffer when a read fills the small one, and gives it
// back after any read that does not fill it (the reads have caught up
// with the line). With 16 KiB instead of 64 the receiving end of the
// full path spent about 0.35 cycles per octet more, in read system calls
// and wake-ups. A Read holds its buffer while the line stays quiet, so
// giving it back at once is what keeps an idle link that has received a
// paste or an upload small (TestLinkIdleAfterBurstHoldsNoLargeBuffer;
// BenchmarkLinkIdleMemory -idle-burst=40000: 15 KB per link, 50 KB
// when the buffer was kept); in bulk it costs nothing measurable.
// docs/BENCHMARKS.md has the measurements.
const (
	smallRead = 512
	largeRead = 64 << 10
)

// keepOut is the largest output buffer an idle link keeps; larger ones go
// back to the pool once the writer has caught up.
const keepOut = 512

// Link is a V.42 LAPM link over a line carrying the synchronous bit stream
// packed into octets (see V42.md). Open runs the parameter negotiation;
// the upper layer may then exchange its own XID frames (ExchangeXID,
// AcceptXID, RespondXID) and calls Establish to enter the data phase, in
// which Link is an io.ReadWriteCloser.
//
// One goroutine, the owner, holds the link state (the pure machine in
// machine.go) and does no I/O. Around it, with as few hand-offs as the
// design allows (each costs a wake-up on the keystroke path):
//   - a reader goroutine decodes frames from the line and hands them to
//     the owner in batches;
//   - Write seals its payloads and queues them for the owner (sendq) without
//     waiting for it; it blocks only while a window's worth is queued;
//   - the owner encodes the frames it sends into its output buffer and
//     queues the buffer, a batch at a time, for a writer goroutine,
//     started when output waits and none runs, which writes until the
//     queue is empty and then ends (so an idle link parks only the reader
//     and the owner, and a line that blocks blocks the writer, never the
//     owner);
//   - delivered payloads wait in rxChunks for Read (or WriteTo), which
//     wakes the owner only when the machine waits for room (own receiver
//     busy).
//
// All end when the link ends: Close, a peer's release, a link failure or a
// line error. Methods are safe for concurrent use.
type Link struct {
	cfg  Config
	line io.ReadWriteCloser
	logf func(string, ...any)
	now  func() time.Time

	reqCh chan func(now time.Time)
	rxCh  chan rxBatch
	kick  chan struct{} // wakes the owner: writes queued, credit wanted, writer progress
	done  chan struct{} // closed when the owner goroutine has ended
	wg    sync.WaitGroup

	fcsMode atomic.Int32 // reader: fcsOnly16, fcsDual, fcsOnly32

	consumedN  atomic.Int64 // payloads Read has consumed, not yet told to the machine
	wantCredit atomic.Bool  // the machine is busy: Read wakes the owner when it consumes

	wmu    sync.Mutex // serialises Write (sealing order = queue order)
	wbatch [][]byte   // Write's sealed payloads on their way to sendq (under wmu)

	mu         sync.Mutex  // guards the fields below
	rxChunks   []rxPayload // delivered and opened, not yet read
	rxNotify   chan struct{}
	sendq      [][]byte      // sealed payloads from Write, not yet taken by the machine
	sendCap    int           // bound of sendq: the window
	sendWait   bool          // a Write waits for room in sendq
	preempt    atomic.Uint64 // Preempt's count: a Write begun before a change stops waiting
	sendErr    error         // why Write cannot queue (nil in the data phase)
	room       chan struct{} // wakes a Write waiting for room
	endErr     error         // why the link ended (nil until it has)
	closedHere bool
	neg        Negotiated
	transcript []byte
	transform  Transform
	decStats   DecoderStats
	lineIn     uint64
	final      Stats

	breaks chan struct{}

	// Output: the owner encodes into obuf (its own) and moves the
	// buffer to opend, which the writer goroutine takes and writes;
	// guarded by omu (but obuf).
	obuf    []byte
	omu     sync.Mutex
	opend   [][]byte // encoded batches waiting for the writer, in order
	npend   int      // octets in opend
	oqueue  [][]byte // the other queue array, swapped with opend by the writer
	ospare  []byte   // a buffer the writer has written, for the owner's next batch
	writing bool     // a writer goroutine runs
	oerr    error    // the line's write error, if any
	onotify bool     // the owner waits for the writer: wake it on progress
	otrim   bool     // nothing to send for now: the writer trims the buffers when it ends
	lineOut uint64
	maxPend int // largest encoded backlog seen (tests check the bound)

	// Owner-goroutine state (only touched by run and the closures it runs).
	m           *machine
	enc         Encoder
	hbuf        [maxHead]byte // a frame's header while it is encoded (not on the stack: the FCS makes it escape)
	sentFlags   bool
	negotiating bool
	openWait    chan error
	xidWait     chan xidResult
	acceptWait  chan xidResult
	pendingCmd  *xidResult // upper-layer XID command (or ErrXIDTooLong) waiting for AcceptXID
	cmdSeq      byte       // exchange number of the last upper-layer XID command (echoed by RespondXID)
	xidSeq      byte       // exchange number of our last upper-layer XID command
	estWait     chan error
	rxReady     bool // deliver queued payloads: step wakes Read
	wantEst     bool
	offerInfo   []byte

	// T401 is T401ForRate's (Config.T401 0 on a line of known rate),
	// derived again from the negotiated parameters; t402Asked is T402
	// before its bound T401/4.
	t401FromRate bool
	t402Asked    time.Duration
}

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

type xidResult struct {
	payload []byte
	err     error
}

// errBeforeDataPhase is Write's error until Establish has succeeded.
var errBeforeDataPhase = fmt.Errorf("%w: write before the data phase", ErrState)

const (
	fcsOnly16 int32 = iota
	fcsDual
	fcsOnly32
)

// Open starts a link on line after detection (or with detection skipped):
// leftover holds line octets already read that belong to the LAPM phase.
// It runs the parameter negotiation XID exchange (V.42 §8.10): the
// originator sends the command and retransmits it per T401/N400; the
// answerer waits for it, and also accepts SABME straight away from a peer
// that skips XID (then the defaults apply). The returned link is not yet in
// the data phase; call Establish. On error Open closes the line.
// ctx bounds the negotiation only.
func Open(ctx context.Context, line io.ReadWriteCloser, leftover []byte, cfg Config) (*Link, error) {
	l := newLink(line, cfg)
	if cfg.Role != Originator {
		// Before the link's goroutines start, which may take a frame
		// from the leftover (or the line) at once: set after it, the
		// bound outlived the frame that ends it, and the wait for the
		// first frame failed (CI: 1 in 30 runs of
		// TestLinkOpenFlagWaitDamagedFrames).
		l.m.awaitFirstFrame(l.now(), cfg.FlagWait)
	}
	l.start(leftover)
	err := l.call(ctx, func(now time.Time) error {
		if cfg.Role == Originator {
			offer := cfg.Params.Offer()
			l.offerInfo = offer.Append(nil)
			return l.m.sendXID(now, l.offerInfo)
		}
		return nil
	}, func() chan error {
		ch := make(chan error, 1)
		switch {
		case l.m.st.ended():
			ch <- l.writeErr()
		case !l.negotiating:
			ch <- nil // the answerer's negotiation is already over
		default:
			l.openWait = ch
		}
		return ch
	})
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("lapm: open (%s): %w", cfg.Role, err)
	}
	return l, nil
}

func newLink(line io.ReadWriteCloser, cfg Config) *Link {
	if cfg.MaxXID <= 0 {
		cfg.MaxXID = DefaultMaxXID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Params.N401 <= 0 {
		cfg.Params.N401 = 128
	}
	if cfg.Params.K <= 0 {
		cfg.Params.K = 15
	}
	l := &Link{
		cfg:      cfg,
		line:     line,
		now:      cfg.Now,
		reqCh:    make(chan func(time.Time)),
		rxCh:     make(chan rxBatch, 4),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		rxNotify: make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
		sendErr:  errBeforeDataPhase,
		breaks:   make(chan struct{}, 1),
		neg:      DefaultNegotiated(),
	}
	l.negotiating = true
	l.logf = func(string, ...any) {}
	if cfg.Logger != nil {
		l.logf = cfg.Logger.Printf
	}
	t401 := cfg.T401
	if t401 <= 0 {
		// Until the negotiation the V.42 defaults are in force (N401
		// 128, k 15); agree derives T401 again from its result.
		t401 = T401ForRate(cfg.LineRate, DefaultN401, DefaultK)
		l.t401FromRate = cfg.LineRate > 0
	}
	t403 := cfg.T403
	if t403 == 0 {
		t403 = DefaultT403
	} else if t403 < 0 {
		t403 = 0
	}
	t402 := cfg.T402
	if t402 == 0 {
		t402 = DefaultT402
	}
	l.t402Asked = max(t402, 0)
	t402 = min(max(t402, 0), t401/4)
	l.cfg.T401, l.cfg.T402, l.cfg.T403 = t401, t402, t403
	l.m = newMachine(machineConfig{role: cfg.Role, t401: t401, t402: t402, t403: t403, n400: cfg.N400, lineRate: cfg.LineRate, logf: l.logf, xidMatch: xidResponseMatches})
	l.enc.FCS = FCS16
	return l
}

func (l *Link) start(leftover []byte) {
	l.wg.Add(2)
	go l.readLoop(append([]byte(nil), leftover...))
	go l.run()
}

// call runs fn on the owner goroutine and, if wait is non-nil, waits for
// the channel it returns (created on the owner goroutine) or ctx.
func (l *Link) call(ctx context.Context, fn func(now time.Time) error, wait func() chan error) error {
	res := make(chan error, 1)
	var wch chan error
	req := func(now time.Time) {
		err := fn(now)
		if err == nil && wait != nil {
			wch = wait()
		}
		res <- err
	}
	select {
	case l.reqCh <- req:
	case <-l.done:
		return l.endError()
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := <-res; err != nil || wch == nil {
		return err
	}
	select {
	case err := <-wch:
		return err
	case <-l.done:
		select {
		case err := <-wch:
			return err
		default:
		}
		return l.endError()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs fn on the owner goroutine and waits for it.
func (l *Link) do(fn func(now time.Time) error) error {
	return l.call(context.Background(), fn, nil)
}

func (l *Link) endError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.endErr {
	case nil:
		return ErrClosed
	case io.EOF:
		return fmt.Errorf("%w: link released", ErrPeerDisconnected)
	}
	return l.endErr
}

// ---- goroutines ----

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

// wake wakes the owner goroutine if it sleeps (a later wake-up finds
// whatever more there is to do).
func (l *Link) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// output encodes frames and hands them to the writer goroutine (see
// publish), starting one if none runs. Encoding happens outside omu, so a
// writer that finished a write never waits for a batch to be encoded.
func (l *Link) output(frames []Frame) {
	// Room for the batch at once, up to where publish hands it over:
	// growing the buffer frame by frame copied it again at every
	// doubling (with the copy in publish that the queue replaced, 4.2 %
	// of a gateway's cycles sending to 100 callers; docs/BENCHMARKS.md).
	// Each frame gets the stuffing random data needs (about 3 %, n/32)
	// and the batch the worst case of one frame (n/4) on top, so that the
	// buffer is of the size class the encoded batch needs, not of twice
	// it; a batch that stuffs more grows once more.
	room, most := 16, 0
	for _, f := range frames {
		n := maxHead + len(f.Info)
		room += n + n/32 + 16
		most = max(most, n)
	}
	room += most / 4
	l.obuf = l.grow(l.obuf, min(room, publishEarly+8<<10))
	for i, f := range frames {
		// The header is encoded apart from the information field, which
		// is not copied behind it.
		head := f.appendHead(l.hbuf[:0])
		n := len(head) + len(f.Info)
		need := n + n/4 + 16 // worst-case stuffing, FCS, flag
		if !l.sentFlags {
			l.sentFlags = true
			l.obuf = l.enc.AppendFlags(l.grow(l.obuf, need+16), 16)
		}
		l.obuf = l.enc.AppendFrameParts(l.grow(l.obuf, need), head, f.Info)
		l.publish(i == len(frames)-1)
	}
}

// publishEarly is how much of a batch the owner encodes before it hands
// it to an idle writer (see publish). Handing over from the first frame
// on made about a third of a gateway's line writes in bulk transfer a
// single 4 KiB frame, each a write, a writer started and a wake-up at the
// far end for little data; handing over whole batches took about 0.3
// cycles per octet off the full path, caller and gateway together
// (docs/BENCHMARKS.md). It is sized against the bridge's largest Write
// toward a link (bridge/pump.go: unitFrames, 64 payloads of at most 4080
// octets, a little over 256 KiB encoded), so that such a batch goes to
// the writer whole, at its end or with its last frame; only longer
// batches are handed over in parts while the owner encodes the rest.
const publishEarly = 256 << 10

// copyBehind is the largest batch that publish copies behind one the
// writer has not taken yet (one write for both); a larger one is queued
// as it is, not copied.
const copyBehind = 4 << 10

// publish moves the encoded octets in obuf to the writer: when the
// writer has taken everything before, once publishEarly octets of the
// batch are encoded, otherwise at the end of the batch (last). A batch's
// end always goes, so no frame waits for more data (a keystroke, an
// acknowledgement: lapm/latency_test.go).
func (l *Link) publish(last bool) {
	l.omu.Lock()
	defer l.omu.Unlock()
	switch {
	case l.oerr != nil:
		l.obuf = l.obuf[:0] // the line is gone; the owner ends the link
		return
	case l.npend == 0 && (last || len(l.obuf) >= publishEarly) || last && len(l.obuf) > copyBehind:
		l.opend = append(l.opend, l.obuf)
		l.npend += len(l.obuf)
		l.obuf, l.ospare = l.ospare, nil
	case last:
		tail := &l.opend[len(l.opend)-1]
		*tail = append(l.grow(*tail, len(l.obuf)), l.obuf...)
		l.npend += len(l.obuf)
		l.obuf = l.obuf[:0]
	default:
		return
	}
	l.maxPend = max(l.maxPend, l.npend)
	l.otrim = l.m.txIdle()
	if !l.writing {
		l.writing = true
		l.wg.Add(1)
		go l.writeLoop()
	}
}

// grow returns b with room for n more octets, taking a larger buffer
// from the pool (and giving b back) when it has not.
func (l *Link) grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := append(getBuf(len(b)+n), b...)
	putBuf(b)
	return nb
}

// writeLoop is the writer goroutine: it takes the queued batches and
// writes them, in order, until the queue is empty, then ends; after a
// failed write it writes nothing more. It wakes the owner when the owner
// waits for it (backlog, release) and when the line fails.
func (l *Link) writeLoop() {
	defer l.wg.Done()
	var bufs [][]byte
	for {
		l.omu.Lock()
		for _, b := range bufs {
			if l.ospare == nil {
				l.ospare = b[:0]
			} else {
				putBuf(b)
			}
		}
		if bufs != nil {
			clear(bufs) // the queue array must not keep the buffers
			l.oqueue = bufs[:0]
		}
		if l.npend == 0 || l.oerr != nil {
			l.writing = false
			if l.otrim {
				l.trimLocked()
			}
			wake := l.onotify || l.oerr != nil
			l.omu.Unlock()
			if wake {
				l.wake()
			}
			return
		}
		bufs, l.opend, l.oqueue, l.npend = l.opend, l.oqueue, nil, 0
		wake := l.onotify
		l.omu.Unlock()
		if wake {
			l.wake() // the backlog was taken: the owner may go on
		}
		var sent uint64
		var err error
		for _, b := range bufs {
			var n int
			n, err = l.line.Write(b)
			sent += uint64(max(n, 0))
			if err != nil {
				break
			}
		}
		l.omu.Lock()
		l.lineOut += sent
		if err != nil && l.oerr == nil {
			l.oerr = err
		}
		l.omu.Unlock()
	}
}

// trimLocked gives large output buffers back to the pool, so that an idle
// link does not keep those of its last burst. The caller holds omu and no
// writer runs.
func (l *Link) trimLocked() {
	if cap(l.ospare) > keepOut {
		putBuf(l.ospare)
		l.ospare = nil
	}
}

// outputState reports whether the writer is behind by more than
// maxPending octets (the owner then stops taking received frames, and the
// writer wakes it once it took the backlog), the line's write error, and
// lets the writer trim the buffers when nothing more is to be sent for now.
func (l *Link) outputState() (backlogged bool, err error) {
	idle := l.m.txIdle()
	l.omu.Lock()
	defer l.omu.Unlock()
	backlogged = l.writing && l.npend >= maxPending
	l.onotify = backlogged
	l.otrim = idle
	if idle && !l.writing {
		l.trimLocked()
	}
	if idle {
		if cap(l.obuf) > keepOut {
			putBuf(l.obuf)
			l.obuf = nil
		}
	}
	return backlogged, l.oerr
}

// backlogged reports whether the writer is behind by more than
// maxPending octets.
func (l *Link) backlogged() bool {
	l.omu.Lock()
	defer l.omu.Unlock()
	return l.writing && l.npend >= maxPending
}

// run is the owner goroutine: it feeds the machine with frames, timer
// expiries, queued writes and user requests, and hands its output to the
// writer.
func (l *Link) run() {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var armed time.Time // when the timer fires; zero: not armed
	lineDown := false
	now := l.now()
	for {
		// The timer is re-armed only when the machine's deadline comes
		// earlier than the armed one: a deadline that moved later (T403
		// restarts with every frame, T401 with every acknowledgement)
		// lets the timer fire early, which is harmless (see
		// machine.timeout), instead of resetting it per frame.
		if dl := l.m.deadline(); !dl.IsZero() && (armed.IsZero() || dl.Before(armed)) {
			armed = dl
			timer.Reset(max(dl.Sub(now), 0))
		}
		backlogged, werr := l.outputState()
		if werr != nil && !lineDown {
			lineDown = true
			if !l.m.st.ended() {
				l.m.fail(fmt.Errorf("%w: line write: %w", ErrLinkFailure, werr))
			}
		}
		if l.m.st.ended() {
			// The writer may be stuck on a peer that stopped reading:
			// finish bounds the wait for the last frames.
			l.finish(lineDown)
			return
		}
		rxCh := l.rxCh
		if backlogged {
			rxCh = nil // push back: let the writer catch up first
		}
		var (
			b      rxBatch
			gotRx  bool
			fn     func(time.Time)
			expiry bool
		)
		select {
		case b = <-rxCh:
			gotRx = true
		case <-timer.C:
			armed, expiry = time.Time{}, true
		case fn = <-l.reqCh:
		case <-l.kick:
		}
		now = l.now()
		if n := l.consumedN.Swap(0); n > 0 {
			l.m.consumed(now, int(n))
		}
		switch {
		case gotRx:
			lineDown = l.received(now, b) || lineDown
			// Take what else has arrived before answering: fewer,
			// larger writes and one acknowledgement per batch (a few
			// batches at most, so that output stays bounded).
		drain:
			for range 8 {
				select {
				case b := <-l.rxCh:
					lineDown = l.received(now, b) || lineDown
				default:
					break drain
				}
			}
		case expiry:
			l.m.timeout(now)
		case fn != nil:
			fn(now)
		}
		l.step(now)
	}
}

// received feeds a batch from the reader to the machine; it reports
// whether the line is down.
func (l *Link) received(now time.Time, b rxBatch) bool {
	if b.err != nil {
		switch {
		case l.m.st.ended():
		case l.m.st == stateDisconnecting && errors.Is(b.err, io.EOF):
			// The peer hung up after our DISC: its UA was lost on the
			// line, or it went away. The release is over either way
			// (what it had to take was acknowledged before the DISC).
			l.m.finish()
		default:
			l.m.fail(fmt.Errorf("%w: line: %w", ErrLinkFailure, b.err))
		}
		return true
	}
	if b.seen32 {
		l.enc.FCS = FCS32
	}
	l.noteLine(b.note)
	if b.damaged {
		l.m.recvDamaged()
	}
	l.handleFrames(now, b.frames)
	return false
}

// noteLine logs the decoder's error counts (garbage, noise, endless
// aborts), which the reader reports at exponentially spaced counts so that
// a hostile line cannot flood the log.
func (l *Link) noteLine(note string) {
	if note != "" {
		l.logf("lapm: %s: line: %s", l.cfg.Role, note)
	}
}

func (l *Link) handleFrames(now time.Time, frames []rxFrame) {
	for i, raw := range frames {
		frames[i] = rxFrame{}
		f, err := ParseFrame(raw.b)
		if err != nil {
			l.m.recvInvalid(now, raw.b, err)
		} else {
			if raw.owned {
				l.m.rxBuf = raw.b
			}
			l.m.recvFrame(now, f)
		}
		if raw.owned && (err != nil || l.m.rxBuf != nil) {
			// Not delivered: the machine keeps nothing of it.
			l.m.rxBuf = nil
			putBuf(raw.b)
		}
	}
}

// step collects the machine's output after an input: events, delivered
// payloads, queued writes and frames to send.
func (l *Link) step(now time.Time) {
	for range 16 {
		for _, e := range l.m.takeEvents() {
			l.handleEvent(now, e)
		}
		if rx := l.m.takeRx(); len(rx) > 0 {
			l.deliver(now, rx)
		}
		l.takeWrites()
		if out := l.m.flush(now); len(out) > 0 {
			l.output(out)
		}
		if len(l.m.ev) == 0 && len(l.m.rxq) == 0 {
			break
		}
	}
	// Read is woken last, after the output (the acknowledgement of what
	// it gets) went to the writer: the goroutine readied last runs first
	// when the owner waits, so the data goes on (to a backend, to the
	// user) before the writer's system call, not after it.
	if l.rxReady {
		l.rxReady = false
		select {
		case l.rxNotify <- struct{}{}:
		default:
		}
	}
	// Acknowledged payloads go back to the pool for Write to seal into,
	// now that the frames that referred to them have been encoded.
	acked := l.m.takeAcked()
	for _, p := range acked {
		putBuf(p)
	}
	clear(acked)
	// Read wakes the owner for the payloads it consumes only while the
	// machine waits for them; otherwise the owner counts them at its next
	// wake-up. Setting the flag before looking at the count again makes
	// sure one of the two sees every payload.
	busy := l.m.ownBusy && !l.m.st.ended()
	l.wantCredit.Store(busy)
	if busy && l.consumedN.Load() > 0 {
		l.wake()
	}
}

// deliver opens the payloads the machine delivered in order and hands
// them to Read.
// backlogCopy is how many payloads may wait unread before short ones
// are copied out of the arena they were decoded into (deliver).
const backlogCopy = 8

func (l *Link) deliver(now time.Time, rx []rxPayload) {
	l.mu.Lock()
	t := l.transform
	l.mu.Unlock()
	if t != nil {
		for i, p := range rx {
			plain, err := t.Open(p.p[:0], p.p) // in place: the payload is ours
			if err != nil {
				l.m.fail(fmt.Errorf("%w: %w", ErrPayloadRefused, err))
				return
			}
			rx[i].p = plain
		}
	}
	empty := 0
	l.mu.Lock()
	for _, p := range rx {
		if len(p.p) == 0 {
			empty++ // nothing to read: consumed at once
			if p.buf != nil {
				putBuf(p.buf)
			}
			continue
		}
		if p.buf == nil && len(l.rxChunks) >= backlogCopy {
			// A short payload lives in its read's arena (readLoop),
			// which it keeps alive while it waits: a peer sending one
			// short I frame per 64 KiB read of padding, to a reader
			// that does not read, had 2k of them hold 64 KiB each
			// (adversarial trial: 8.8 MB per call, up to 16 MiB). Once
			// a backlog forms, each is copied out.
			p.p = append(make([]byte, 0, len(p.p)), p.p...)
		}
		l.rxChunks = append(l.rxChunks, p)
	}
	l.mu.Unlock()
	clear(rx)
	if empty > 0 {
		l.m.consumed(now, empty)
	}
	l.rxReady = true
}

// takeWrites moves payloads queued by Write into the machine as far as
// its queue has room, and wakes a Write waiting for room.
func (l *Link) takeWrites() {
	room := l.m.txRoom()
	if room <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(room, len(l.sendq))
	if n == 0 {
		return
	}
	for _, p := range l.sendq[:n] {
		l.m.enqueue(p)
	}
	k := copy(l.sendq, l.sendq[n:])
	clear(l.sendq[k:])
	l.sendq = l.sendq[:k]
	if k == 0 && cap(l.sendq) > 4 {
		l.sendq = nil // an idle link keeps no queue array
	}
	if l.sendWait {
		l.sendWait = false
		select {
		case l.room <- struct{}{}:
		default:
		}
	}
}

// stopWrites makes Write fail with err from now on and drops what it
// queued; a waiting Write returns.
func (l *Link) stopWrites(err error) {
	l.mu.Lock()
	if l.sendErr == nil || l.sendErr == errBeforeDataPhase {
		l.sendErr = err
	}
	clear(l.sendq)
	l.sendq = nil
	l.mu.Unlock()
	select {
	case l.room <- struct{}{}:
	default:
	}
}

func (l *Link) writeErr() error {
	err := l.m.err
	if err == nil {
		if l.closedHere {
			return ErrClosed
		}
		return fmt.Errorf("%w: link released", ErrPeerDisconnected)
	}
	return err
}

func (l *Link) handleEvent(now time.Time, e event) {
	switch e.kind {
	case evXIDCommand:
		l.onXIDCommand(now, e.info)
	case evXIDResponse:
		l.onXIDResponse(now, e.info)
	case evSABME:
		if l.negotiating {
			// A peer that skips XID: defaults apply (V.42 §8.10.1).
			l.logf("lapm: %s: SABME without XID negotiation: defaults apply", l.cfg.Role)
			l.agree(DefaultNegotiated(), nil)
		}
		if l.acceptWait != nil {
			l.acceptWait <- xidResult{err: ErrPeerEstablishing}
			l.acceptWait = nil
		}
		if l.wantEst {
			_ = l.m.establish(now)
		}
	case evEstablished:
		l.openWrites()
		if l.estWait != nil {
			l.estWait <- nil
			l.estWait = nil
		}
	case evBreak:
		select {
		case l.breaks <- struct{}{}:
		default:
		}
	case evBreakAck:
	case evEnded:
		l.onEnded()
	}
}

// openWrites lets Write queue payloads: the machine is in the data phase.
// It runs (on the owner goroutine) for the established event and before
// Establish returns, whichever comes first: when the SABME was seen before
// Establish, the machine is connected as soon as Establish's step has
// answered it, before the event is handled.
func (l *Link) openWrites() {
	l.mu.Lock()
	if l.sendErr == errBeforeDataPhase {
		l.sendErr = nil
		l.sendCap = l.m.p.kTx
	}
	l.mu.Unlock()
}

// agree installs the negotiated parameters and wakes Open.
func (l *Link) agree(n Negotiated, transcript []byte) {
	l.negotiating = false
	if l.t401FromRate {
		// T401 covers a window each way of the frames agreed on, not
		// of those offered: a station offering N401 4096 and k 127 at
		// 28,800 bit/s took 148 s for T401 after agreeing on 128 and
		// 15 with a V.42 modem, and each recovery that waits for T401
		// (a lost REJ, the last frame of a burst) stalled the link
		// that long (spandsp interop, answerer on a noisy line).
		t401 := T401ForRate(l.cfg.LineRate, max(n.N401Tx, n.N401Rx), max(n.KTx, n.KRx))
		l.m.setTimers(t401, min(l.t402Asked, t401/4))
	}
	l.m.paramsAgreed(linkParams{n401Tx: n.N401Tx, n401Rx: n.N401Rx, kTx: n.KTx, kRx: n.KRx, srej: n.SREJ})
	l.mu.Lock()
	l.neg = n
	l.transcript = transcript
	l.mu.Unlock()
	l.logf("lapm: %s: negotiated %+v", l.cfg.Role, n)
	if l.openWait != nil {
		l.openWait <- nil
		l.openWait = nil
	}
}

// xidSize is nil if an XID information field received fits MaxXID, else
// why it is refused: the frame decoder takes frames up to the largest of
// MaxXID, N401 and MaxN401, so a larger field reaches the link.
func (l *Link) xidSize(info []byte) error {
	if len(info) > l.cfg.MaxXID {
		return fmt.Errorf("%w: %d octets, more than MaxXID %d", ErrXIDTooLong, len(info), l.cfg.MaxXID)
	}
	return nil
}

func (l *Link) onXIDCommand(now time.Time, info []byte) {
	x, err := ParseXID(info)
	if sizeErr := l.xidSize(info); sizeErr != nil || err != nil {
		l.m.stats.InvalidFrames++
		l.logf("lapm: %s: bad XID command: %v", l.cfg.Role, cmp.Or(sizeErr, err))
		if _, seq, ok := privatePayload(x); ok && err == nil && !l.negotiating {
			// An upper layer's token over the limit: its layer answers
			// it (Access Security's REJECT), under its exchange number.
			l.cmdSeq = seq
			l.takeCommand(xidResult{err: sizeErr})
			return
		}
		l.m.xidAnswerPending = false
		return
	}
	if payload, seq, ok := privatePayload(x); ok && !l.negotiating {
		l.cmdSeq = seq
		l.takeCommand(xidResult{payload: payload})
		return
	}
	// Parameter negotiation (or renegotiation, answered but not applied
	// once the parameters are agreed).
	resp, n := Respond(l.cfg.Params, x)
	respInfo := resp.Append(nil)
	_ = l.m.respondXID(respInfo)
	if l.negotiating {
		l.agree(n, append(append([]byte(nil), info...), respInfo...))
		if n.FCS == FCS32 {
			// Keep sending FCS-16 and accept both until the peer's first
			// FCS-32 frame shows it has our response.
			l.fcsMode.Store(fcsDual)
		}
	}
}

// takeCommand hands an upper-layer XID command to AcceptXID: to the one
// waiting, or to the next.
func (l *Link) takeCommand(r xidResult) {
	if l.acceptWait != nil {
		l.acceptWait <- r
		l.acceptWait = nil
		l.pendingCmd = nil
		return
	}
	l.pendingCmd = &r
}

func (l *Link) onXIDResponse(now time.Time, info []byte) {
	sizeErr := l.xidSize(info)
	if l.negotiating && l.cfg.Role == Originator {
		var x XIDParams
		var n Negotiated
		err := sizeErr
		if err == nil {
			x, err = ParseXID(info)
		}
		if err == nil {
			n, err = Apply(l.cfg.Params, x)
		}
		if err != nil {
			l.m.fail(fmt.Errorf("%w: negotiation: %w", ErrLinkFailure, err))
			return
		}
		l.agree(n, append(append([]byte(nil), l.offerInfo...), info...))
		if n.FCS == FCS32 {
			// Send FCS-32 from now on; accept FCS-16 until the peer's
			// first FCS-32 frame (it may still answer with FCS-16).
			l.enc.FCS = FCS32
			l.fcsMode.Store(fcsDual)
		}
		return
	}
	if l.xidWait == nil {
		return
	}
	var res xidResult
	var x XIDParams
	err := sizeErr
	if err == nil {
		x, err = ParseXID(info)
	}
	if err != nil {
		res.err = fmt.Errorf("lapm: XID response: %w", err)
	} else if p, _, ok := privatePayload(x); ok {
		res.payload = p
	} else {
		res.err = fmt.Errorf("%w: in the XID response", ErrXIDPayload)
	}
	l.xidWait <- res
	l.xidWait = nil
}

func (l *Link) onEnded() {
	err := l.writeErr()
	if l.openWait != nil {
		l.openWait <- err
		l.openWait = nil
	}
	if l.xidWait != nil {
		l.xidWait <- xidResult{err: err}
		l.xidWait = nil
	}
	if l.acceptWait != nil {
		l.acceptWait <- xidResult{err: err}
		l.acceptWait = nil
	}
	if l.estWait != nil {
		l.estWait <- err
		l.estWait = nil
	}
	l.stopWrites(err)
}

// finish ends the owner goroutine: it records the outcome, lets the last
// frames go out (bounded), hangs up the line, which also ends a writer
// stuck on it, and wakes Read.
func (l *Link) finish(lineDown bool) {
	l.onEnded()
	l.wantCredit.Store(false)
	st := l.m.stats
	l.mu.Lock()
	switch {
	case l.m.err == nil && l.closedHere:
		l.endErr = ErrClosed
	case l.m.err == nil:
		l.endErr = io.EOF
	case errors.Is(l.m.err, ErrPeerDisconnected) && !errors.Is(l.m.err, ErrLinkFailure):
		l.endErr = io.EOF
	default:
		l.endErr = l.m.err
	}
	l.final = l.statsLocked(st, l.m.t401())
	l.mu.Unlock()
	if !lineDown {
		// Let the last frames (UA, DM, DISC) go out, but do not wait
		// longer than T401 for a peer that stopped reading.
		t := time.NewTimer(l.m.cfg.t401)
	drain:
		for {
			l.omu.Lock()
			busy := l.writing && l.oerr == nil
			l.onotify = busy
			l.omu.Unlock()
			if !busy {
				break
			}
			select {
			case <-l.kick:
			case <-t.C:
				break drain
			}
		}
		t.Stop()
	}
	l.omu.Lock()
	out := l.lineOut
	l.omu.Unlock()
	l.mu.Lock()
	l.final.LineBytesSent = out
	l.mu.Unlock()
	close(l.done)
	_ = l.line.Close()
	select {
	case l.rxNotify <- struct{}{}:
	default:
	}
}

// abort tears a link down without a release procedure (Open failed).
func (l *Link) abort() {
	select {
	case l.reqCh <- func(time.Time) {
		if !l.m.st.ended() {
			l.m.fail(fmt.Errorf("%w: aborted", ErrClosed))
		}
	}:
	case <-l.done:
	}
	l.wg.Wait()
}

// ---- API ----

// Parameters of our private set PrivateSetID (group 0xF0, PI 0 names it).
const (
	piPayload  = 1 // a piece of the upper layer's payload, up to 255 octets
	piExchange = 2 // exchange number: set by the command, echoed by the response
)

// xidInfo builds an XID information field carrying payload in our private
// parameter set, tagged with exchange number seq.
func xidInfo(payload []byte, seq byte) []byte {
	set := PrivateSet{ID: PrivateSetID, Params: []Param{{PI: piExchange, Value: []byte{seq}}}}
	for len(payload) > 0 {
		n := min(len(payload), 255)
		set.Params = append(set.Params, Param{PI: piPayload, Value: payload[:n]})
		payload = payload[n:]
	}
	x := XIDParams{Private: []PrivateSet{set}}
	return x.Append(nil)
}

// privatePayload reassembles our private set's payload from x and returns
// its exchange number (0 when absent).
func privatePayload(x XIDParams) (payload []byte, seq byte, ok bool) {
	for _, s := range x.Private {
		if s.ID != PrivateSetID {
			continue
		}
		p := []byte{}
		for _, prm := range s.Params {
			switch {
			case prm.PI == piPayload:
				p = append(p, prm.Value...)
			case prm.PI == piExchange && len(prm.Value) == 1:
				seq = prm.Value[0]
			}
		}
		return p, seq, true
	}
	return nil, 0, false
}

// xidResponseMatches reports whether the XID response information field
// resp answers the command cmd: a parameter negotiation (no private set)
// is answered without our private set, and an upper-layer exchange by our
// private set with the same exchange number. The machine discards a
// response that does not match: the late duplicate answer to a
// retransmitted earlier command.
func xidResponseMatches(cmd, resp []byte) bool {
	cx, err := ParseXID(cmd)
	if err != nil {
		return true // not ours to judge; the upper layer sees the error
	}
	rx, err := ParseXID(resp)
	if err != nil {
		return true
	}
	_, cseq, cPrivate := privatePayload(cx)
	_, rseq, rPrivate := privatePayload(rx)
	return cPrivate == rPrivate && cseq == rseq
}

// ExchangeXID sends an XID command carrying payload in the private
// parameter set PrivateSetID, retransmits it per T401/N400 and returns the
// payload of the peer's XID response. Either role may call it; one exchange
// at a time. If both ends send at once, the originator's command wins and
// the answerer's is answered after its retransmission (see machine.go).
func (l *Link) ExchangeXID(ctx context.Context, payload []byte) ([]byte, error) {
	if n := len(xidInfo(payload, 0)); n > l.cfg.MaxXID {
		return nil, fmt.Errorf("lapm: XID payload of %d octets (%d with framing) exceeds MaxXID %d", len(payload), n, l.cfg.MaxXID)
	}
	var wch chan xidResult
	err := l.call(ctx, func(now time.Time) error {
		if l.xidWait != nil {
			return fmt.Errorf("%w: an XID exchange is already running", ErrState)
		}
		l.xidSeq++
		if err := l.m.sendXID(now, xidInfo(payload, l.xidSeq)); err != nil {
			return err
		}
		wch = make(chan xidResult, 1)
		l.xidWait = wch
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("lapm: exchange XID: %w", err)
	}
	select {
	case r := <-wch:
		if r.err != nil {
			return nil, fmt.Errorf("lapm: exchange XID: %w", r.err)
		}
		return r.payload, nil
	case <-ctx.Done():
		_ = l.do(func(time.Time) error {
			if l.xidWait == wch {
				l.xidWait = nil
				l.m.cancelXID()
			}
			return nil
		})
		return nil, fmt.Errorf("lapm: exchange XID: %w", ctx.Err())
	}
}

// AcceptXID waits for the peer's next XID command carrying the private set
// PrivateSetID and returns its payload; answer it with RespondXID. If the
// peer sends SABME instead (an ordinary V.42 modem), it returns
// ErrPeerEstablishing; the caller then calls Establish to accept the link
// or Close to refuse it. A command over MaxXID is returned as an error
// wrapping ErrXIDTooLong, and is to be answered as well.
func (l *Link) AcceptXID(ctx context.Context) ([]byte, error) {
	var wch chan xidResult
	var ready *xidResult
	err := l.call(ctx, func(now time.Time) error {
		switch {
		case l.pendingCmd != nil:
			ready = l.pendingCmd
			l.pendingCmd = nil
		case l.m.sabmeSeen:
			ready = &xidResult{err: ErrPeerEstablishing}
		case l.acceptWait != nil:
			return fmt.Errorf("%w: AcceptXID already waiting", ErrState)
		default:
			wch = make(chan xidResult, 1)
			l.acceptWait = wch
		}
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("lapm: accept XID: %w", err)
	}
	r := ready
	if r == nil {
		select {
		case res := <-wch:
			r = &res
		case <-ctx.Done():
			_ = l.do(func(time.Time) error {
				if l.acceptWait == wch {
					l.acceptWait = nil
				}
				return nil
			})
			return nil, fmt.Errorf("lapm: accept XID: %w", ctx.Err())
		}
	}
	if r.err != nil {
		if errors.Is(r.err, ErrPeerEstablishing) {
			return nil, r.err
		}
		return nil, fmt.Errorf("lapm: accept XID: %w", r.err)
	}
	return r.payload, nil
}

// RespondXID answers the command AcceptXID returned with payload in the
// private set PrivateSetID. A retransmitted command is answered again with
// the same response by the link itself.
func (l *Link) RespondXID(payload []byte) error {
	if n := len(xidInfo(payload, 0)); n > l.cfg.MaxXID {
		return fmt.Errorf("lapm: XID payload of %d octets (%d with framing) exceeds MaxXID %d", len(payload), n, l.cfg.MaxXID)
	}
	if err := l.do(func(time.Time) error { return l.m.respondXID(xidInfo(payload, l.cmdSeq)) }); err != nil {
		return fmt.Errorf("lapm: respond XID: %w", err)
	}
	return nil
}

// NegotiationTranscript returns the information field of the parameter
// negotiation XID command followed by that of the response, as sent on
// the line (empty if the peer skipped negotiation). Access Security binds
// it into its handshake so that the negotiation cannot be altered unseen.
func (l *Link) NegotiationTranscript() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.transcript...)
}

// Negotiated returns the parameters in force.
func (l *Link) Negotiated() Negotiated {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.neg
}

// SetTransform installs the payload transform; call it before Establish.
func (l *Link) SetTransform(t Transform) {
	l.mu.Lock()
	l.transform = t
	l.mu.Unlock()
}

// Establish enters the data phase (V.42 §8.3): the originator sends SABME
// and waits for UA (DM means ErrRefused; N400 unanswered tries mean
// ErrLinkFailure); the answerer accepts the peer's SABME, already received
// or the next one, with UA.
func (l *Link) Establish(ctx context.Context) error {
	err := l.call(ctx, func(now time.Time) error {
		if l.m.st == stateConnected {
			l.openWrites()
			return nil
		}
		if l.estWait != nil {
			return fmt.Errorf("%w: Establish already waiting", ErrState)
		}
		if l.cfg.Role == Originator || l.m.sabmeSeen {
			return l.m.establish(now)
		}
		l.wantEst = true
		return nil
	}, func() chan error {
		if l.m.st == stateConnected {
			l.openWrites()
			ch := make(chan error, 1)
			ch <- nil
			return ch
		}
		l.estWait = make(chan error, 1)
		return l.estWait
	})
	if err != nil {
		return fmt.Errorf("lapm: establish (%s): %w", l.cfg.Role, err)
	}
	return nil
}

func (l *Link) maxPlain() int {
	l.mu.Lock()
	n, t := l.neg.N401Tx, l.transform
	l.mu.Unlock()
	if n <= 0 {
		n = 128
	}
	if t != nil {
		n -= t.Overhead()
	}
	return max(n, 1)
}

// PayloadSize is the most octets of Write's data one I frame carries in
// the data phase: N401 less the transform's overhead. A writer that can
// choose its chunk size (a relay's read buffer) fills whole frames with a
// multiple of it, instead of sending a short frame after each chunk.
func (l *Link) PayloadSize() int { return l.maxPlain() }

// Write sends p in I frames of at most N401 octets (less the transform's
// overhead). It seals the payloads and queues them for the link without
// waiting for it; it blocks while a window's worth of payloads is queued
// (on top of the window in flight), which is how a slow peer pushes back,
// and returns once every octet is queued. After the link ended it returns
// ErrPeerDisconnected, ErrLinkFailure or ErrClosed (wrapped), and before
// the data phase ErrState.
func (l *Link) Write(p []byte) (int, error) {
	gen := l.preempt.Load()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	chunk := l.maxPlain()
	l.mu.Lock()
	t := l.transform
	l.mu.Unlock()
	written := 0
	var sealErr error
	for len(p) > 0 {
		room, err := l.sendRoom(gen)
		if err != nil {
			return written, fmt.Errorf("lapm: write: %w", err)
		}
		// Only the owner takes from sendq, and Writes are serialised:
		// the room can only grow until these are queued.
		batch, sizes := l.wbatch[:0], 0
		for len(p) > 0 && len(batch) < room {
			n := min(chunk, len(p))
			// Into a pooled buffer (the link gives it back once the
			// peer acknowledged the frame): large payloads are sealed
			// without allocating.
			if t != nil {
				buf := getBuf(n + t.Overhead())
				sealed := t.Seal(buf, p[:n])
				if sealed == nil {
					// The transform can seal no more (counter
					// exhausted, or wiped as the call ends): never
					// send an empty or unsealed frame. What it did
					// seal is queued below, in order.
					putBuf(buf)
					sealErr = fmt.Errorf("lapm: write: the transform refused to seal: %w", ErrTransform)
					break
				}
				batch = append(batch, sealed)
			} else {
				batch = append(batch, append(getBuf(n), p[:n]...))
			}
			sizes += n
			p = p[n:]
		}
		err = l.queue(batch)
		clear(batch)
		l.wbatch = batch[:0]
		if cap(l.wbatch) > 4 {
			l.wbatch = nil
		}
		if err != nil {
			return written, fmt.Errorf("lapm: write: %w", err)
		}
		written += sizes
		if sealErr != nil {
			return written, sealErr
		}
	}
	return written, nil
}

// sendRoom waits until sendq has room and returns for how many payloads;
// ErrPreempted once Preempt's count is no longer gen.
func (l *Link) sendRoom(gen uint64) (int, error) {
	for {
		l.mu.Lock()
		if err := l.sendErr; err != nil {
			l.mu.Unlock()
			return 0, err
		}
		if room := l.sendCap - len(l.sendq); room > 0 {
			l.mu.Unlock()
			return room, nil
		}
		if l.preempt.Load() != gen {
			l.mu.Unlock()
			return 0, ErrPreempted
		}
		l.sendWait = true
		l.mu.Unlock()
		select {
		case <-l.room:
		case <-l.done:
		}
	}
}

// Preempt ends the Writes begun before it that wait for room, with what
// they queued and ErrPreempted; later Writes are not affected, and what
// was queued is still sent. For a bridge that ends a session: the copy
// toward the caller stops waiting for a slow peer (a paced line), and the
// gateway's last words queue behind what it had written (BBS trial: at
// 9,600 bit/s the copy still waited when the caller was hung up, and the
// words were never sent).
func (l *Link) Preempt() {
	l.preempt.Add(1)
	select {
	case l.room <- struct{}{}:
	default:
	}
}

// queue appends sealed payloads to sendq and wakes the owner if the queue
// was empty (otherwise it has not yet taken the earlier ones and will
// take these with them).
func (l *Link) queue(batch [][]byte) error {
	l.mu.Lock()
	if err := l.sendErr; err != nil {
		l.mu.Unlock()
		return err
	}
	wasEmpty := len(l.sendq) == 0
	l.sendq = append(l.sendq, batch...)
	l.mu.Unlock()
	if wasEmpty {
		l.wake()
	}
	return nil
}

// Read reads data delivered in order. It returns io.EOF after the peer
// released the link in order and everything it sent was read; the link's
// error after a failure; ErrClosed after Close.
func (l *Link) Read(p []byte) (int, error) {
	for {
		l.mu.Lock()
		if len(l.rxChunks) > 0 {
			n, done := 0, 0
			for n < len(p) && done < len(l.rxChunks) {
				c := &l.rxChunks[done]
				k := copy(p[n:], c.p)
				n += k
				if k < len(c.p) {
					c.p = c.p[k:]
					break
				}
				if c.buf != nil {
					putBuf(c.buf) // copied out: the array can be reused
				}
				done++
			}
			if done > 0 {
				k := copy(l.rxChunks, l.rxChunks[done:])
				clear(l.rxChunks[k:])
				l.rxChunks = l.rxChunks[:k]
				if k == 0 && cap(l.rxChunks) > 4 {
					l.rxChunks = nil // an idle link keeps no queue array
				}
			}
			l.mu.Unlock()
			if done > 0 {
				l.consumedN.Add(int64(done))
				if l.wantCredit.Load() {
					l.wake()
				}
			}
			return n, nil
		}
		err := l.endErr
		l.mu.Unlock()
		if err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("lapm: read: %w", err)
		}
		select {
		case <-l.rxNotify:
		case <-l.done:
		}
	}
}

var _ io.WriterTo = (*Link)(nil)

// WriteTo gathers runs of payloads shorter than gatherBelow into one
// write of at most gatherMax octets: a backend write per 128-octet
// payload would cost more than the copy.
const (
	gatherBelow = 1 << 10
	gatherMax   = 16 << 10
)

// WriteTo writes the data delivered in order to w until the link ends,
// handing w the delivered payloads themselves (io.Copy from a Link uses
// it and so skips Read's copy; short payloads are gathered into one
// write). A payload counts as consumed, for the window and the
// own-receiver-busy condition, once w has taken all of it, as with Read.
// It returns nil after the peer released the link in order and everything
// it sent was written; the link's error (as Read) after a failure or
// Close; and w's error, or io.ErrShortWrite, when w fails: the data w did
// not take stays for the next Read or WriteTo.
func (l *Link) WriteTo(w io.Writer) (n int64, err error) {
	var spare []rxPayload // the array of the last batch, for the next
	var gather []byte     // pooled while short payloads flow
	defer func() { putBuf(gather) }()
	for {
		l.mu.Lock()
		if len(l.rxChunks) == 0 {
			err := l.endErr
			l.mu.Unlock()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, fmt.Errorf("lapm: read: %w", err)
			}
			if cap(spare) > keepWindow {
				spare = nil // an idle link keeps no batch array
			}
			putBuf(gather)
			gather = nil
			select {
			case <-l.rxNotify:
			case <-l.done:
			}
			continue
		}
		chunks := l.rxChunks
		l.rxChunks = spare[:0]
		l.mu.Unlock()
		for i := 0; i < len(chunks); {
			// chunks[i:j] go out in this write.
			data, j := chunks[i].p, i+1
			if len(data) < gatherBelow {
				if gather == nil {
					gather = getBuf(gatherMax)
				}
				gather = append(gather[:0], data...)
				for j < len(chunks) && len(chunks[j].p) < gatherBelow && len(gather)+len(chunks[j].p) <= gatherMax {
					gather = append(gather, chunks[j].p...)
					j++
				}
				data = gather
			}
			k, werr := w.Write(data)
			n += int64(k)
			if werr == nil && k < len(data) {
				werr = io.ErrShortWrite
			}
			for ; i < j && k >= len(chunks[i].p); i++ {
				k -= len(chunks[i].p)
				l.written(&chunks[i])
			}
			if werr != nil {
				if i < j {
					chunks[i].p = chunks[i].p[k:]
				}
				l.unwrite(chunks[i:])
				return n, werr
			}
		}
		spare = chunks[:0]
	}
}

// written counts a payload WriteTo has written as consumed.
func (l *Link) written(c *rxPayload) {
	if c.buf != nil {
		putBuf(c.buf)
	}
	*c = rxPayload{}
	l.consumedN.Add(1)
	if l.wantCredit.Load() {
		l.wake()
	}
}

// unwrite puts payloads WriteTo took but could not write back in front
// of those delivered meanwhile.
func (l *Link) unwrite(rest []rxPayload) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rxChunks = append(append([]rxPayload(nil), rest...), l.rxChunks...)
}

// Close releases the link: in the data phase, after everything written is
// acknowledged, DISC/UA (V.42 §8.7), bounded by T401 x N400 for each
// step (the drain's bound runs from the last acknowledgement of
// something new, so a slow line that is moving drains, but no longer
// than N400 x T401 for each window's worth queued at Close); then it hangs up
// the line and waits for the link's goroutines. It returns an error
// wrapping ErrLinkFailure if the release went unanswered, one wrapping
// ErrUnconfirmed if what was written was not all acknowledged first
// (nothing for N400 x T401), and nil otherwise (also when the link had
// already ended).
func (l *Link) Close() error {
	err := l.do(func(now time.Time) error {
		// What Write queued before Close is sent before the release;
		// a Write from now on fails (in the same critical section: a
		// payload queued after the queue was taken would be dropped
		// while its Write reports success).
		l.mu.Lock()
		l.closedHere = true
		queued := l.sendq
		l.sendq = nil
		if l.sendErr == nil || l.sendErr == errBeforeDataPhase {
			l.sendErr = ErrClosed
		}
		l.mu.Unlock()
		if l.m.st == stateConnected {
			l.m.enqueueFinal(queued)
		}
		l.stopWrites(ErrClosed)
		l.m.close(now)
		return nil
	})
	if err == nil {
		<-l.done
	}
	l.wg.Wait()
	l.wipeTransform()
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(l.endErr, ErrLinkFailure) && err == nil {
		return fmt.Errorf("lapm: close: %w", l.endErr)
	}
	// The link's goroutines have ended (wg): the machine is ours to read.
	if n := l.m.releaseDropped; n > 0 && err == nil {
		return fmt.Errorf("lapm: close: %w: %d payloads were dropped after N400 x T401 without an acknowledgement (the peer may not have them)", ErrUnconfirmed, n)
	}
	return nil
}

// wipeTransform drops the transform's keys (a Transform with a Wipe
// method) once the link's goroutines have ended, so that no Open runs,
// and no Write is sealing: one under way has ended with the link (it
// holds wmu until then), and a later one fails before it seals.
func (l *Link) wipeTransform() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	t := l.transform
	l.mu.Unlock()
	if w, ok := t.(interface{ Wipe() }); ok {
		w.Wipe()
	}
}

// Hangup releases the link now, for the end of a call whose peer no longer
// takes data (its receiver busy, or too slow for the last words to reach
// it in time): DISC goes out at once (V.42 §8.7), what is queued or not yet
// acknowledged is dropped, and a Write waiting for room returns ErrClosed.
// Close, which would first wait for the queue to drain (until N400 x T401
// pass without an acknowledgement),
// then waits for the peer's UA (at most N400 x T401 as well) and hangs up
// the line; so does the link on its own.
func (l *Link) Hangup() {
	_ = l.do(func(now time.Time) error {
		l.mu.Lock()
		l.closedHere = true
		l.mu.Unlock()
		l.stopWrites(ErrClosed)
		l.m.hangup(now)
		return nil
	})
}

// Break sends a break signal to the peer (UI BRK, V.42 §8.13); it is
// retransmitted until acknowledged. Only in the data phase.
func (l *Link) Break() error {
	if err := l.do(func(now time.Time) error { return l.m.sendBreak(now) }); err != nil {
		return fmt.Errorf("lapm: break: %w", err)
	}
	return nil
}

// Breaks receives a value for each break the peer sends. Sends never
// block: breaks arriving while one is unread are merged. The channel is
// never closed.
func (l *Link) Breaks() <-chan struct{} { return l.breaks }

// Unacknowledged returns how many payloads Write has queued that the peer
// has not acknowledged yet: waiting in the queue, waiting for the window,
// or sent and in flight (retransmissions pending included). 0 once the
// link has ended, and before the data phase.
func (l *Link) Unacknowledged() int {
	// sendq first: a payload the owner moves from it to the machine in
	// between is counted twice, never missed.
	l.mu.Lock()
	queued := len(l.sendq)
	l.mu.Unlock()
	n := 0
	if err := l.do(func(time.Time) error {
		if l.m.st == stateConnected {
			n = queued + len(l.m.txq) + seqDiff(l.m.vs, l.m.va)
		}
		return nil
	}); err != nil {
		return 0
	}
	return n
}

// Delivered returns how many octets of Write's data the peer has
// acknowledged since Open, also after the link ended. A writer that
// counts what Write took can tell how much of it the end of the link may
// have lost: the rest was queued, in flight or unacknowledged (the
// browser's V.42 caller names it, as the text login's page does).
func (l *Link) Delivered() int64 {
	st := l.Stats()
	l.mu.Lock()
	t := l.transform
	l.mu.Unlock()
	n := int64(st.BytesAcked)
	if t != nil {
		n -= int64(st.IFramesAcked) * int64(t.Overhead())
	}
	return n
}

// Stats returns the counters so far.
func (l *Link) Stats() Stats {
	var st Stats
	var t401 time.Duration
	// The machine's fields (the counters, the round-trip estimate that
	// T401 follows) belong to the run goroutine: read them there.
	if err := l.do(func(time.Time) error { st, t401 = l.m.stats, l.m.t401(); return nil }); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.final
	}
	l.omu.Lock()
	out := l.lineOut
	l.omu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	st = l.statsLocked(st, t401)
	st.LineBytesSent = out
	return st
}

// statsLocked completes st (the machine's counters) and T401 with what the
// link keeps under l.mu.
func (l *Link) statsLocked(st Stats, t401 time.Duration) Stats {
	st.FCSErrors = l.decStats.FCSErrors
	st.Aborts = l.decStats.Aborts
	st.TooLong = l.decStats.TooLong
	st.TooShort = l.decStats.TooShort
	st.LineBytesRecv = l.lineIn
	st.Negotiated = l.neg
	st.T401 = t401
	return st
}

// Refuse answers the peer's SABME with DM (V.42 §8.3.2): the answerer's
// policy rejects a peer without Access Security. The link ends with
// ErrRefused; Close it to wait for its goroutines.
func (l *Link) Refuse() error {
	err := l.do(func(now time.Time) error {
		if !l.m.sabmeSeen {
			return fmt.Errorf("%w: no SABME to refuse", ErrState)
		}
		l.m.refuse()
		return nil
	})
	if err != nil {
		return fmt.Errorf("lapm: refuse: %w", err)
	}
	<-l.done
	return nil
}
