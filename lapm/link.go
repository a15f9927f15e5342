package lapm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

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

// errBeforeDataPhase is Write's error until Establish has succeeded.
var errBeforeDataPhase = fmt.Errorf("%w: write before the data phase", ErrState)

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
