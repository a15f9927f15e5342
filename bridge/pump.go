package bridge

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// backendLinger is how long, after the caller hung up and the backend was
// told (CloseWrite), the gateway waits for the backend to finish before
// closing it. It keeps a TCP backend from being reset while the last
// octets the caller sent are still on their way.
const backendLinger = 2 * time.Second

// callerWriteGrace is how long the backend->caller copy may go on writing
// after the backend was closed for it (a stop, the linger, a backend that
// failed under our writes) before the caller's line is hung up. A caller
// that stopped reading (its TCP window full) would otherwise keep that
// Write, the call and the gateway's Shutdown waiting for ever; a caller
// that reads gets the write in progress.
const callerWriteGrace = 2 * time.Second

// Buffers of each direction of a bridge. A direction reads into its own
// small buffer; when a read fills it (bulk data is flowing) it takes a
// large buffer from bulkPools, and gives it back as soon as a read returns
// less than a full large buffer (the source has run dry, so the next Read
// is likely to wait). An idle session thus waits in Read on the small
// buffer only: thousands of idle callers do not each pin 2 x 32 KiB. The
// small buffer is 512 octets (a keystroke or a typed line fits; a
// screenful moves to a bulk buffer after its first read), which keeps an
// idle session 3 KiB smaller than 2 KiB did.
//
// The bulk size is what one Write hands the destination. 64 KiB cost the
// raw path 16 % more CPU per octet than 32 KiB (BenchmarkTextPathTCP
// 0.86 -> 0.99 ns, p=0.008), so a plain destination gets 32 KiB. A LAPM
// link (a destination with payload units) gets unitFrames payloads (at
// most unitBufSize): each Write
// is a batch of I frames for the link (sealed, queued, encoded and
// written together), and fewer, larger batches cost the gateway less per
// octet: 256 KiB instead of 32 KiB took the gateway's CPU per octet on
// the full path down by about 0.3 cycles (benchpeer run -bulk-only full,
// four interleaved rounds of five 256 MiB transfers: 6.18-6.81 ->
// 6.03-6.48; 128 KiB: 6.15-6.56). The link queues a window (k payloads)
// per Write anyway, so the buffer adds little to what a session moving
// bulk data holds, and it goes back to the pool when the data stops.
//
// A Write toward a link is also at most unitFrames payloads until the
// line has proven fast as a plain destination's must (see below): what
// the backend sent and the gateway read is committed to the line, and an
// interrupt the backend obeys (a BBS user's Ctrl-C) cannot call it back.
// 64 payloads of 4080 octets (N401 4096 with the AEAD tag) fill
// unitBufSize. On a proven fast line the reads toward a link grow to
// twice and four times as many payloads (1 MiB at most, a few
// milliseconds there), so that a Write fills the link's window (k 127)
// and its writer writes the window in one system call: with the link's
// larger hand-over and line reads (lapm: publishEarly, largeRead) that
// took the full path from 6.3-6.7 to 5.8-6.0 cycles per octet, caller
// and gateway together (benchpeer run -bulk-only full, 1 GiB transfers,
// twenty-seventh session; docs/BENCHMARKS.md). On a paced line (line_rate) every destination gets
// about a second of the line at most (lineCommit, in whole payloads
// toward a link: 240 octets at 2,400 bit/s, 3,360 at 33,600): 64
// payloads of 240 octets (N401 256 by default) were 15 KiB, 4.6 s at
// 33,600 bit/s but 64 s at 2,400.
//
// A destination that sends larger messages whole (a WebSocket line in
// binary: 64 KiB, as websockify) says so (writeSizer) and gets reads of
// that size, up to wideBufSize: a WebSocket line sends one message per
// Write, and half the messages saved the gateway and the caller about
// 0.3 cycles per octet each (benchpeer run -bulk-only ws).
//
// A plain destination (a telnet or raw TCP line, a backend) gets
// bulkBufSize reads (a link unitFrames payloads) until it shows that it
// drains them at once. A write
// that returns quickly proves little by itself: it only found room in
// the kernel's socket buffers, which on a slow line (a modem behind a
// telnet-modem server) take megabytes before a write blocks. So the line
// first has to take provenRun octets in writes of full reads that each
// return within fastWrite, at provenRate or more over the whole run, more
// than any socket buffer holds and faster than any modem; then each
// further such write doubles the reads, up to plainWideSize (64, 128,
// 256, 512 KiB, then 1 MiB: a session that moves a screenful or two never
// takes the larger ones), and a write that takes longer than slowWrite
// brings them back to bulkBufSize and starts the proof again. On a fast
// line fewer, larger reads and writes cost less (AMD Zen 4 VM, benchpeer
// run -bulk-only raw: the gateway 2.2-2.5 -> 1.5-1.8 cycles per octet
// with 256 KiB reads and telnet writes in the fourteenth session, and
// about 0.2 less again with 1 MiB in the twenty-seventh, where the
// backend's socket held megabytes the gateway had not read yet: the
// gateway is the slowest stage of that path; docs/BENCHMARKS.md),
// while a slow one (a real modem behind a telnet-modem server, a paced
// line) never has more than bulkBufSize of the backend's output committed
// in one write, as before: what the gateway has read cannot be called
// back by an interrupt the backend obeys.
const (
	smallBufSize  = 512
	bulkBufSize   = 32 << 10
	wideBufSize   = 64 << 10
	unitFrames    = 64
	unitBufSize   = unitFrames * lapm.MaxN401 // 256 KiB
	plainWideSize = 1 << 20
	fastWrite     = time.Millisecond
	slowWrite     = 5 * time.Millisecond
	provenRun     = 16 << 20
	provenRate    = 50e6 // octets per second
)

// plainLevels are the read sizes of a plain destination, from bulkBufSize
// to plainWideSize (see readLevels), each twice the one before.
var plainLevels = []int{bulkBufSize, wideBufSize, 128 << 10, unitBufSize, 512 << 10, plainWideSize}

// bulkPools hold the large buffers of the directions moving bulk data, a
// pool for each size of plainLevels (see bulkSize, poolFor).
var bulkPools = func() []*sync.Pool {
	pools := make([]*sync.Pool, len(plainLevels))
	for i, size := range plainLevels {
		pools[i] = &sync.Pool{New: func() any {
			b := make([]byte, size)
			return &b
		}}
	}
	return pools
}()

// endSide says which side ended a bridged session.
type endSide int

const (
	endBackend endSide = iota + 1 // backend closed (or failed)
	endCaller                     // caller hung up (or the line failed)
	endStopped                    // the gateway stopped the call (shutdown)
)

// pumpResult is how a bridged session ended.
type pumpResult struct {
	side       endSide
	backendErr error // non-nil when the backend failed rather than closed
	callerErr  error
	// upDone, when not nil, is the caller->backend copy still reading
	// from the caller: the call flow hangs up the caller, which ends it,
	// and then receives from upDone.
	upDone <-chan error
}

// counters are the octets bridged, updated as they move.
type counters struct {
	in, out atomic.Int64 // caller->backend, backend->caller
}

// pump copies caller input (r) to the backend and backend output to the
// caller (w) until either side ends or ctx is done. It does not hang up
// the caller; the call flow does, after telling the caller why. On return
// the backend is closed and every goroutine pump started has ended,
// except the caller->backend copy when the result's upDone says so.
//
// The backend->caller copy runs in the goroutine that calls pump and the
// caller->backend copy in one of its own, so an idle session parks two
// goroutines for its data, not three (a goroutine waiting in a select
// for the copies would cost a stack of its own). Whatever ends the
// session first (the backend, the caller's line, ctx) closes the backend
// if it has to, which ends the backend->caller copy, and is the result:
//
//   - the backend ends (EOF or a read error) or the caller's line fails
//     under the backend's output: the backend->caller copy returns after
//     writing everything the backend sent; the backend is closed.
//   - the caller hangs up (or its line fails while read): everything it
//     sent has been written to the backend, which is told (CloseWrite)
//     and given backendLinger to finish; what it sends meanwhile still
//     reaches the caller.
//   - a write to the backend fails: the backend is closed.
//   - ctx is done: the backend is closed (which also ends a write to a
//     backend that does not read); pump returns once the backend->caller
//     copy has.
//
// Whenever the backend is closed for the backend->caller copy (a stop,
// the linger, a backend write failure) and that copy is blocked writing
// to a caller that does not read, the caller is hung up callerWriteGrace
// later, so that no ending waits on the caller: by hangUp if not nil
// (call.cutOff), else by closing its line.
func pump(ctx context.Context, r io.Reader, w io.Writer, hangUp func(), line transport.Line, be BackendConn, cnt *counters) pumpResult {
	if hangUp == nil {
		hangUp = func() { _ = line.Close() }
	}
	p := &pumpEnd{be: be, line: line, hangUpCaller: hangUp}
	// Control forwarding uses the backend (Resize); it stops when the
	// backend is closed (closeBackend), a Resize meanwhile failing.
	p.stopCtl = startControl(line, be)

	upDone := make(chan error, 1)
	go func() { upDone <- p.up(r, &cnt.in) }()
	stopDone := make(chan struct{})
	unwatchCtx := context.AfterFunc(ctx, func() {
		defer close(stopDone)
		p.end(pumpResult{side: endStopped}, false)
		p.closeBackend()
		if pw, ok := w.(preempter); ok {
			// A paced line's write drains at the line rate (32 KiB:
			// 10 s at 33,600 bit/s): cut short once the session's end
			// is known, so that the caller hears why within the last
			// words' time (BBS trial). A V.42 link's frames are not.
			pw.Preempt()
		}
	})

	err := copyCount(w, be, &cnt.out)
	p.downEnded()
	var down pumpResult
	if we := (writeError{}); errors.As(err, &we) {
		// The caller's line failed under our writes.
		down = pumpResult{side: endCaller, callerErr: we.err}
	} else {
		// The backend ended (or was closed): everything it sent has been
		// written to the caller (copyCount returns after the last Write).
		down = pumpResult{side: endBackend, backendErr: errNotEOF(err)}
	}
	p.end(down, false)
	if !unwatchCtx() {
		// The stop runs, or ran: wait for it, so that its Preempt
		// cannot cut the last words the call writes after pump
		// returns (review).
		<-stopDone
	}

	res, byUp := p.result()
	if byUp {
		// The caller->backend copy ended the session and has finished
		// with the backend (told it or closed it) before sending.
		<-upDone
		if p.linger != nil {
			p.linger.Stop()
		}
	} else {
		res.upDone = upDone
	}
	p.closeBackend()
	return res
}

// preempter is a caller's writer whose writes in progress can be cut
// short at a burst's end (a text call's paced line, pace.Line).
type preempter interface{ Preempt() }

// pumpEnd is what the two copies of one pump and its stop share: how the
// session ended (the first end reported wins) and the backend's close.
type pumpEnd struct {
	be           BackendConn
	line         transport.Line
	hangUpCaller func()
	stopCtl      func()
	ctlOnce      sync.Once
	beOnce       sync.Once

	// linger closes the backend backendLinger after the caller hung up;
	// set by the caller->backend copy before it returns.
	linger *time.Timer

	mu   sync.Mutex
	res  pumpResult // side 0 until the session has ended
	byUp bool       // res was reported by the caller->backend copy
	// downDone: the backend->caller copy has returned. Until then a
	// close of the backend arms hangUp, which hangs up the caller's line
	// callerWriteGrace later if that copy is still writing to it.
	downDone bool
	hangUp   *time.Timer
	hungUp   chan struct{} // closed when hangUp's function has returned
}

// downEnded records that the backend->caller copy has returned and
// disarms the caller's hang-up.
// If the hang-up has already started, it waits until the line is hung
// up, so that nothing pump started outlives it.
func (p *pumpEnd) downEnded() {
	p.mu.Lock()
	p.downDone = true
	t := p.hangUp
	p.mu.Unlock()
	if t != nil && !t.Stop() {
		<-p.hungUp
	}
}

// end reports how the session ended; only the first report counts, and
// end tells whether this one did.
func (p *pumpEnd) end(res pumpResult, byUp bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res.side != 0 {
		return false
	}
	p.res, p.byUp = res, byUp
	return true
}

// result is the first end reported.
func (p *pumpEnd) result() (pumpResult, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res, p.byUp
}

// stopControl stops control forwarding; it returns once nothing
// forwards to the backend any more.
func (p *pumpEnd) stopControl() { p.ctlOnce.Do(p.stopCtl) }

// closeBackend stops control forwarding and closes the backend, once;
// a second caller returns when the first is done. It is safe from any
// goroutine (the linger timer, ctx's stop). The close ends the
// backend->caller copy's reads, not a Write to a caller that does not
// read: unless that copy has returned, the caller is hung up
// callerWriteGrace later.
func (p *pumpEnd) closeBackend() {
	p.beOnce.Do(func() {
		// Close first: a forwarder stuck in Resize behind an upload
		// write to a backend that does not read (the write lock of a
		// telnet backend) is freed only by the close, and waiting for
		// it first hung every ending (review: the idle timeout, an
		// operator's hang-up and the drain never ended such a call).
		_ = p.be.Close()
		p.stopControl()
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.downDone {
			p.hungUp = make(chan struct{})
			p.hangUp = time.AfterFunc(callerWriteGrace, func() {
				defer close(p.hungUp)
				p.hangUpCaller()
			})
		}
	})
}

// up copies the caller's octets to the backend and, if that ends the
// session, tells the backend: CloseWrite and a linger timer when the
// caller hung up, Close when the backend failed under our writes.
func (p *pumpEnd) up(r io.Reader, n *atomic.Int64) error {
	var dst io.Writer = p.be
	if ps, ok := lineAs[peerStater](p.line); ok {
		// While a write to the backend blocks, nothing reads the
		// caller's line: ask the line whether the caller hung up.
		sw := &stallWatch{w: p.be, peer: ps.PeerState, ended: func() {
			if p.end(pumpResult{side: endCaller}, false) {
				p.closeBackend() // ends the blocked write
			}
		}}
		defer sw.stop()
		dst = sw
	}
	err := copyCount(dst, r, n)
	if we := (writeError{}); errors.As(err, &we) {
		// The backend failed under our writes; what it still has may
		// reach the caller until the close ends its reads.
		if p.end(pumpResult{side: endBackend, backendErr: we.err}, true) {
			p.closeBackend()
		}
		return err
	}
	if p.end(pumpResult{side: endCaller, callerErr: errNotEOF(err)}, true) {
		// The caller hung up: what it sent is with the backend. Let the
		// backend finish (its EOF ends the backend->caller copy), then
		// close it.
		p.stopControl()
		_ = p.be.CloseWrite()
		p.linger = time.AfterFunc(backendLinger, p.closeBackend)
	}
	return err
}

// stallCheck is how long a write of the caller's octets to the backend
// may block before the pump asks whether the caller hung up meanwhile,
// and how often it asks while the write still blocks; halfCloseGrace is
// how long the write must have blocked before a caller that sent FIN
// counts as gone (variables for tests).
var (
	stallCheck     = 2 * time.Second
	halfCloseGrace = 30 * time.Second
)

// peerStater is a caller's line that tells, without being read, whether
// the caller closed or reset its end (tcp.Line, ws.Line).
type peerStater interface{ PeerState() sockstate.State }

// lineAs finds a T in l or the lines it wraps (Unwrap: a paced line).
func lineAs[T any](l transport.Line) (T, bool) {
	for range 8 {
		if x, ok := l.(T); ok {
			return x, true
		}
		u, ok := l.(interface{ Unwrap() transport.Line })
		if !ok {
			break
		}
		l = u.Unwrap()
	}
	var zero T
	return zero, false
}

// stallWatch is the backend as the caller->backend copy writes to it.
// That copy is the only reader of the caller's line, so while a write to
// a backend that does not read blocks, a caller's hang-up (its FIN or
// reset, a WebSocket close, a V.42 DISC and the TCP close after it) went
// unseen until idle_timeout, holding the line slot (hostile-peer trial:
// 33 minutes). A write that blocks for stallCheck starts asking the
// line's socket every stallCheck until it returns; a caller whose
// connection is reset ends the session (ended) at once, one that sent
// FIN once the write has blocked for halfCloseGrace: a caller that only
// closed its sending side, its upload still unread behind a backend
// that is slow but reading, keeps the rest of its session.
type stallWatch struct {
	w     io.Writer
	peer  func() sockstate.State
	ended func()

	mu      sync.Mutex
	writing bool
	since   time.Time // when the write in progress began
	done    bool
	t       *time.Timer
}

func (s *stallWatch) Write(b []byte) (int, error) {
	s.mu.Lock()
	s.writing, s.since = true, time.Now()
	if s.t == nil {
		s.t = time.AfterFunc(stallCheck, s.tick)
	} else {
		s.t.Reset(stallCheck)
	}
	s.mu.Unlock()
	n, err := s.w.Write(b)
	s.mu.Lock()
	s.writing = false
	s.t.Stop()
	s.mu.Unlock()
	return n, err
}

// tick runs while a write blocks. It holds the lock through its check,
// so that stop returns only once no tick runs.
func (s *stallWatch) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.writing || s.done {
		return
	}
	switch st := s.peer(); {
	case st == sockstate.Gone, st == sockstate.HalfClosed && time.Since(s.since) >= halfCloseGrace:
		s.done = true
		s.ended() // closes the backend, which ends the write
		return
	}
	s.t.Reset(stallCheck)
}

// stop ends the watch once no tick runs.
func (s *stallWatch) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.t != nil {
		s.t.Stop()
	}
}

// writeError marks a copy that ended because its destination failed.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

// payloadSizer is implemented by destinations that send data in units
// (lapm.Link: the payload of one I frame).
type payloadSizer interface{ PayloadSize() int }

// writeSizer is implemented by destinations that send what one Write
// hands them as one message of at most WriteSize octets (ws.Line).
type writeSizer interface{ WriteSize() int }

// bulkSize is how much of a bulk buffer copyCount reads into for dst,
// and the pool of those buffers: for a destination with units,
// unitFrames of them, so that
// each Write fills whole I frames (with 32 KiB reads and 4080-octet
// payloads, one frame in nine was a short one, with a frame's fixed
// costs on both ends for a few octets), in a bulkBufSize buffer when
// they fit one; for a destination with messages larger than
// bulkBufSize, one message (up to wideBufSize); otherwise bulkBufSize.
func bulkSize(dst io.Writer) (int, *sync.Pool) {
	n, pool := bulkSizeUnbound(dst)
	return commitBound(dst, n), pool
}

// commitSizer is a caller's writer on a paced line, which bounds how
// much of the backend's output the relay reads at once (lineCommit).
type commitSizer interface{ CommitSize() int }

// commitBound is n bounded by dst's CommitSize, if it has one, in whole
// payloads (at least one) toward a destination with payload units.
func commitBound(dst io.Writer, n int) int {
	cs, ok := dst.(commitSizer)
	if !ok || cs.CommitSize() <= 0 || cs.CommitSize() >= n {
		return n
	}
	c := cs.CommitSize()
	if ps, ok := dst.(payloadSizer); ok {
		if u := ps.PayloadSize(); u > 0 && u <= lapm.MaxN401 {
			return min(n, max(u, c/u*u))
		}
	}
	return c
}

// bulkSizeUnbound is bulkSize before the commit bound.
func bulkSizeUnbound(dst io.Writer) (int, *sync.Pool) {
	if ps, ok := dst.(payloadSizer); ok {
		if u := ps.PayloadSize(); u > 0 && u <= lapm.MaxN401 {
			n := unitFrames * u
			if n <= bulkBufSize {
				return n, poolFor(bulkBufSize)
			}
			return n, poolFor(unitBufSize)
		}
	}
	if ws, ok := dst.(writeSizer); ok {
		if n := ws.WriteSize(); n > bulkBufSize {
			return min(n, wideBufSize), poolFor(wideBufSize)
		}
	}
	return bulkBufSize, poolFor(bulkBufSize)
}

// copyCount copies src to dst like io.Copy, counting octets as they are
// written. A write failure ends the copy without reading more. It reads
// into a small buffer while data trickles and into a pooled large one
// while a read fills the small one (see smallBufSize).
func copyCount(dst io.Writer, src io.Reader, n *atomic.Int64) error {
	return copyCountClock(dst, src, n, time.Now)
}

// copyCountClock is copyCount with the clock that times the writes of a
// destination whose reads grow on a fast line (see readLevels).
func copyCountClock(dst io.Writer, src io.Reader, n *atomic.Int64, now func() time.Time) error {
	size, pool := bulkSize(dst)
	// On a paced line every read is bounded (math.MaxInt: no bound), the
	// small buffer's too (512 octets are 2 s at 2,400 bit/s).
	limit := commitBound(dst, math.MaxInt)
	small := make([]byte, min(smallBufSize, limit))
	levels := readLevels(dst)
	pace := linePace{top: len(levels) - 1}
	var bulk *[]byte // from pool
	take := func() {
		if levels != nil {
			size = min(levels[pace.level], limit)
			pool = poolFor(size)
		}
		bulk = pool.Get().(*[]byte)
	}
	defer func() {
		if bulk != nil {
			pool.Put(bulk)
		}
	}()
	buf := small
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			var start time.Time
			if levels != nil && bulk != nil {
				start = now()
			}
			nw, werr := dst.Write(buf[:nr])
			n.Add(int64(nw))
			if werr != nil {
				return writeError{werr}
			}
			if nw < nr {
				return writeError{io.ErrShortWrite}
			}
			if levels != nil && bulk != nil {
				pace.wrote(start, now(), nr, nr == len(buf))
			}
		}
		if rerr != nil {
			return rerr
		}
		switch {
		case bulk == nil && nr == len(buf):
			take()
			buf = (*bulk)[:size]
		case bulk != nil && nr < len(buf):
			pool.Put(bulk)
			bulk, buf = nil, small
		case levels != nil && bulk != nil && size != min(levels[pace.level], limit):
			// The line's pace changed: reads of another size.
			pool.Put(bulk)
			take()
			buf = (*bulk)[:size]
		}
	}
}

// readLevels are the sizes dst's bulk reads take on a line that proves
// fast (see plainWideSize), from the first: plainLevels for a plain
// destination; unitFrames payloads, then twice and four times as many
// toward a LAPM link (see unitFrames); nil for a destination that sends
// messages, whose reads keep their size.
func readLevels(dst io.Writer) []int {
	if ps, ok := dst.(payloadSizer); ok {
		if u := ps.PayloadSize(); u > 0 && u <= lapm.MaxN401 {
			return []int{unitFrames * u, 2 * unitFrames * u, 4 * unitFrames * u}
		}
	}
	if isPlain(dst) {
		return plainLevels
	}
	return nil
}

// poolFor is the pool of the smallest bulk buffers that hold n octets (n
// is at most plainWideSize).
func poolFor(n int) *sync.Pool {
	for i, size := range plainLevels {
		if size >= n {
			return bulkPools[i]
		}
	}
	return bulkPools[len(bulkPools)-1]
}

// linePace follows how fast a plain destination takes its writes (see
// plainWideSize): its read size is the level'th of its readLevels.
type linePace struct {
	level    int       // of the read sizes
	top      int       // the last level
	run      int       // octets in fast writes of full reads since runStart
	runStart time.Time // (see provenRun)
}

// wrote records a write of n octets that lasted from start to end; full:
// they were a full read.
func (p *linePace) wrote(start, end time.Time, n int, full bool) {
	switch d := end.Sub(start); {
	case d > slowWrite:
		p.level, p.run = 0, 0
	case d < fastWrite && full:
		if p.run == 0 {
			p.runStart = start
		}
		p.run += n
		switch {
		case p.run < provenRun:
		case float64(p.run) >= provenRate*end.Sub(p.runStart).Seconds():
			p.level = min(p.level+1, p.top)
		default:
			p.run = 0 // too slow over the run: prove it again
		}
	}
}

// isPlain reports whether dst is a plain destination: one without payload
// units or messages (see plainWideSize).
func isPlain(dst io.Writer) bool {
	if ps, ok := dst.(payloadSizer); ok && ps.PayloadSize() > 0 {
		return false
	}
	_, msgs := dst.(writeSizer)
	return !msgs
}

func errNotEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// interrupts reports whether a line's event e is for the backend's
// Interrupter: an interrupt, a break or an abort output (an AYT is the
// line's own to answer).
func interrupts(e transport.Event) bool {
	return e == transport.EventInterrupt || e == transport.EventBreak || e == transport.EventAbortOutput
}

// controlFuncs is implemented by lines that hand window sizes and events
// to functions called as they arrive (transport/tcp's Line), so that no
// goroutine waits on their channels for the whole session.
type controlFuncs interface {
	SetControlFuncs(win func(transport.WindowSize), ev func(transport.Event))
}

// startControl forwards window-size changes and interrupts from the line
// to the backend until the returned stop function is called (it returns
// once nothing touches the backend any more). Lines with control
// functions need no goroutine; lines with channels get one; other lines
// carry nothing to forward.
func startControl(line transport.Line, be BackendConn) (stop func()) {
	intr, _ := be.(Interrupter)
	if cf, ok := line.(controlFuncs); ok {
		cf.SetControlFuncs(func(w transport.WindowSize) { _ = be.Resize(w) }, func(e transport.Event) {
			if intr != nil && interrupts(e) {
				_ = intr.Interrupt(e)
			}
		})
		return func() { cf.SetControlFuncs(nil, nil) }
	}
	var win <-chan transport.WindowSize
	var ev <-chan transport.Event
	if wn, ok := line.(transport.WindowNotifier); ok {
		win = wn.WindowChanges()
	}
	if en, ok := line.(transport.EventNotifier); ok {
		ev = en.Events()
	}
	if win == nil && ev == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopCh := make(chan struct{})
	go func() {
		defer close(done)
		forwardControl(win, ev, be, intr, stopCh)
	}()
	return func() {
		close(stopCh)
		<-done
	}
}

// forwardControl forwards window-size changes and interrupts from the
// channels to the backend until stop is closed or the channels close.
func forwardControl(win <-chan transport.WindowSize, ev <-chan transport.Event, be BackendConn, intr Interrupter, stop <-chan struct{}) {
	for win != nil || ev != nil {
		select {
		case <-stop:
			return
		case w, ok := <-win:
			if !ok {
				win = nil
				continue
			}
			_ = be.Resize(w)
		case e, ok := <-ev:
			if !ok {
				ev = nil
				continue
			}
			if intr != nil && interrupts(e) {
				_ = intr.Interrupt(e)
			}
		}
	}
	<-stop
}
