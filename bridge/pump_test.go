package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// sizedReader returns, per Read, the next of its answers (octets, capped
// at len(p)) and records len(p).
type sizedReader struct {
	answers []int
	sizes   []int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if len(r.answers) == 0 {
		return 0, io.EOF
	}
	n := min(r.answers[0], len(p))
	r.answers = r.answers[1:]
	return n, nil
}

// pacedWriter is a plain destination whose writes take the given times
// on a fake clock (the last one for any further write).
type pacedWriter struct {
	bytes.Buffer
	clock *time.Time
	takes []time.Duration
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	*w.clock = w.clock.Add(w.takes[0])
	if len(w.takes) > 1 {
		w.takes = w.takes[1:]
	}
	return w.Buffer.Write(p)
}

// copyTimed runs copyCountClock from r to w on w's clock.
func copyTimed(t *testing.T, w *pacedWriter, r io.Reader) int64 {
	t.Helper()
	var n atomic.Int64
	if err := copyCountClock(w, r, &n, func() time.Time { return *w.clock }); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	return n.Load()
}

// TestCopyCountBuffers: a direction reads into its small buffer, takes a
// bulk buffer once a read fills the small one, and gives it back as soon
// as a read comes back short, so an idle session waits on the small one.
// (Its writes take 2 ms: neither fast nor slow, see
// TestCopyCountPlainFastLine: toward a plain destination (a telnet or
// raw TCP line), reads grow only after the line has taken provenRun
// octets in fast writes of full reads at provenRate or more; then each
// further fast write of a full read doubles them, up to plainWideSize. A
// write slower than slowWrite brings them back to bulkBufSize and starts
// the proof again, one in between changes nothing, a short read still
// gives the buffer back, and the next bulk episode starts at the size
// last reached. Reads never grow on a slow line: one whose writes are
// all slow (a paced line), one whose writes are quick until the socket
// buffers fill and then block (a real modem behind a telnet-modem server:
// the review's case), or one that is quick but slower than provenRate.
func TestCopyCountPlainFastLine(t *testing.T) {
	ms := time.Millisecond
	const k = 1 << 10
	proof := provenRun / bulkBufSize // fast full writes that prove the line
	var answers, want []int
	var takes []time.Duration
	add := func(n, answer, size int, take time.Duration) {
		for range n {
			answers, want, takes = append(answers, answer), append(want, size), append(takes, take)
		}
	}
	answers, want = []int{smallBufSize}, []int{smallBufSize} // small: fills it
	takes = []time.Duration{ms / 2}
	add(proof, 32*k, 32*k, ms/2)  // 0.5 ms per 32 KiB, 65 MB/s: proven, 64 KiB next
	add(1, 64*k, 64*k, ms/2)      // 128 KiB next
	add(1, 128*k, 128*k, ms/2)    // 256 KiB
	add(1, 256*k, 256*k, ms/2)    // 512 KiB
	add(1, 512*k, 512*k, ms/2)    // 1 MiB
	add(1, 1024*k, 1024*k, ms/2)  // stays
	add(1, 1024*k, 1024*k, 10*ms) // slow: 32 KiB, the proof again
	add(1, 32*k, 32*k, 2*ms)      // no change
	add(1, 32*k, 32*k, ms/2)      // fast, but not proven again yet
	add(1, 100, 32*k, ms/2)       // short: back to small
	answers, want = append(answers, smallBufSize, 10), append(want, smallBufSize, 32*k, smallBufSize)
	r := &sizedReader{answers: answers}
	w := &pacedWriter{clock: new(time.Time), takes: takes}
	got := copyTimed(t, w, r)
	if !slicesEqual(r.sizes, want) {
		t.Errorf("read sizes %v, want %v", compact(r.sizes), compact(want))
	}
	total := 0
	for _, a := range answers {
		total += a
	}
	if got != int64(total) || w.Len() != total {
		t.Errorf("copied %d (counted %d), want %d", w.Len(), got, total)
	}
	for i, size := range plainLevels {
		if b := bulkPools[i].Get().(*[]byte); len(*b) != size || (i > 0 && size != 2*plainLevels[i-1]) {
			t.Errorf("plainLevels[%d]: %d octets in buffers of %d", i, size, len(*b))
		}
	}

	slow := func(name string, takes []time.Duration, writes int) {
		t.Helper()
		answers := []int{smallBufSize}
		for range writes {
			answers = append(answers, bulkBufSize)
		}
		r := &sizedReader{answers: append(answers, 10)}
		w := &pacedWriter{clock: new(time.Time), takes: takes}
		copyTimed(t, w, r)
		for i, size := range r.sizes[1 : len(r.sizes)-1] {
			if size != bulkBufSize {
				t.Fatalf("%s: read %d of %d KiB, want %d", name, i+1, size>>10, bulkBufSize>>10)
			}
		}
	}
	// A paced line: every bulk write takes 10 ms.
	slow("paced line", []time.Duration{10 * ms}, 10)
	// Socket buffers of 4 MiB fill at once, then each write waits for
	// 32 KiB to go out at 33,600 bit/s (7.8 s), again and again.
	var fill []time.Duration
	for range 3 {
		for range 4 << 20 / bulkBufSize {
			fill = append(fill, 10*time.Microsecond)
		}
		for range 50 {
			fill = append(fill, 7800*ms)
		}
	}
	slow("slow line behind socket buffers", fill, len(fill)+10)
	// Quick writes at 0.9 ms per 32 KiB, 36 MB/s: below provenRate.
	slow("36 MB/s line", []time.Duration{9 * ms / 10}, 3*proof)
}

// compact shortens a list of read sizes for a message: runs of one
// size as size*count.
func compact(sizes []int) string {
	var b strings.Builder
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		fmt.Fprintf(&b, "%d*%d ", sizes[i], j-i)
		i = j
	}
	return b.String()
}

// unitWriter records its writes' sizes and has a payload size (as
// lapm.Link has).
type unitWriter struct {
	unit   int
	writes []int
}

func (w *unitWriter) PayloadSize() int { return w.unit }

func (w *unitWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return len(p), nil
}

// TestCopyCountWholeFrames: towards a destination with a payload size
// (a LAPM link), bulk reads are a whole number of payloads, so each Write
// of bulk data fills whole I frames and none ends in a short one.
func TestCopyCountWholeFrames(t *testing.T) {
	const unit = 4080 // N401 4096 less a 16-octet AEAD tag
	whole := unitBufSize / unit * unit
	r := &sizedReader{answers: []int{smallBufSize, unitBufSize, unitBufSize, 100}}
	w := &unitWriter{unit: unit}
	var n atomic.Int64
	if err := copyCount(w, r, &n); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	want := []int{smallBufSize, whole, whole, 100}
	if !slicesEqual(w.writes, want) {
		t.Errorf("write sizes %v, want %v (reads %v)", w.writes, want, r.sizes)
	}
	for _, c := range []struct{ unit, want int }{
		{0, bulkBufSize}, {-1, bulkBufSize}, {unitBufSize, bulkBufSize}, {lapm.MaxN401 + 1, bulkBufSize},
		{4096, unitBufSize}, {4080, 64 * 4080}, {1000, 64000}, {100, 6400},
	} {
		got, pool := bulkSize(&unitWriter{unit: c.unit})
		if got != c.want {
			t.Errorf("bulkSize with payload size %d = %d, want %d", c.unit, got, c.want)
		}
		if b := pool.Get().(*[]byte); len(*b) < got || (got <= bulkBufSize && len(*b) != bulkBufSize) {
			t.Errorf("bulkSize with payload size %d: %d octets in buffers of %d", c.unit, got, len(*b))
		}
	}
	if got, _ := bulkSize(io.Discard); got != bulkBufSize {
		t.Errorf("bulkSize without payload size = %d, want %d", got, bulkBufSize)
	}
}

// messageWriter is a destination that sends each Write as messages of
// at most size octets (a WebSocket line).
type messageWriter struct {
	size   int
	writes []int
}

func (w *messageWriter) WriteSize() int { return w.size }

func (w *messageWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return len(p), nil
}

// TestCopyCountWholeMessages: towards a destination that sends larger
// messages (a WebSocket line in binary, 64 KiB), bulk reads are one
// message, up to wideBufSize; smaller message sizes keep bulkBufSize.
// (A paced line is a pace.Line, which passes no message size on: its
// Writes stay short enough for an interrupt, see unitFrames.)
func TestCopyCountWholeMessages(t *testing.T) {
	r := &sizedReader{answers: []int{smallBufSize, wideBufSize, wideBufSize, 100}}
	w := &messageWriter{size: wideBufSize}
	var n atomic.Int64
	if err := copyCount(w, r, &n); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	if want := []int{smallBufSize, wideBufSize, wideBufSize, 100}; !slicesEqual(w.writes, want) {
		t.Errorf("write sizes %v, want %v (reads %v)", w.writes, want, r.sizes)
	}
	for _, c := range []struct{ size, want int }{
		{0, bulkBufSize}, {16 << 10, bulkBufSize}, {bulkBufSize, bulkBufSize},
		{48 << 10, 48 << 10}, {wideBufSize, wideBufSize}, {1 << 20, wideBufSize},
	} {
		got, pool := bulkSize(&messageWriter{size: c.size})
		if got != c.want {
			t.Errorf("bulkSize with messages of %d = %d, want %d", c.size, got, c.want)
		}
		if b := pool.Get().(*[]byte); len(*b) < got {
			t.Errorf("bulkSize with messages of %d: %d octets in buffers of %d", c.size, got, len(*b))
		}
	}
}

// TestCopyCountPacedLine: on a paced line (line_rate: N401 256 by
// default, 240 octets of payload with the AEAD tag) one Write toward the
// link is at most unitFrames payloads, 15 KiB or 4.6 s of the line at
// 33,600 bit/s, however much the backend has sent: what the gateway has
// read is committed to the caller's line, where a user's interrupt at
// the backend can no longer stop it. With a whole 256 KiB buffer that
// was 78 s of output.
func TestCopyCountPacedLine(t *testing.T) {
	const unit = 240
	r := &sizedReader{answers: []int{smallBufSize, unitBufSize, unitBufSize, 100}}
	w := &unitWriter{unit: unit}
	var n atomic.Int64
	if err := copyCount(w, r, &n); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	const most = unitFrames * unit
	for i, size := range w.writes {
		if size > most {
			t.Errorf("write %d: %d octets (%.1f s at 33,600 bit/s), want at most %d", i, size, float64(size)*10/33600, most)
		}
		if i > 0 && size < most && i < len(w.writes)-1 {
			t.Errorf("write %d: %d octets, want %d while the backend has more (reads %v)", i, size, most, r.sizes)
		}
	}
	if n.Load() != int64(smallBufSize+2*most+100) {
		t.Errorf("counted %d octets, want %d", n.Load(), smallBufSize+2*most+100)
	}
}

// pacedUnitWriter is a LAPM link (a destination with a payload size)
// whose writes take the given times on a fake clock.
type pacedUnitWriter struct {
	pacedWriter
	unit int
}

func (w *pacedUnitWriter) PayloadSize() int { return w.unit }

// TestCopyCountLinkFastLine: toward a LAPM link, reads grow as toward a
// plain destination (TestCopyCountPlainFastLine) once the line has taken
// provenRun octets in fast writes of full reads at provenRate or more:
// from unitFrames payloads to twice and four times as many (about 1 MiB
// at 4,080 octets), always whole payloads; a slow write brings them back
// to unitFrames payloads. On a slow line they never grow, so a Write
// there still commits at most unitFrames payloads (TestCopyCountPacedLine).
func TestCopyCountLinkFastLine(t *testing.T) {
	ms := time.Millisecond
	const unit = 4080
	first := unitFrames * unit
	proof := provenRun/first + 1
	var answers, want []int
	var takes []time.Duration
	add := func(n, size int, take time.Duration) {
		for range n {
			answers, want, takes = append(answers, size), append(want, size), append(takes, take)
		}
	}
	answers, want = []int{smallBufSize}, []int{smallBufSize}
	takes = []time.Duration{ms / 2}
	add(proof, first, ms/2)                                                // 0.5 ms per 255 KiB: proven, 128 payloads next
	add(1, 2*first, ms/2)                                                  // 256 payloads next
	add(2, 4*first, ms/2)                                                  // stays
	add(1, 4*first, 10*ms)                                                 // slow: unitFrames payloads, the proof again
	add(1, first, ms/2)                                                    // not proven again yet
	answers, want = append(answers, 10), append(want, first, smallBufSize) // short: back to small
	r := &sizedReader{answers: answers}
	w := &pacedUnitWriter{pacedWriter{clock: new(time.Time), takes: takes}, unit}
	var n atomic.Int64
	if err := copyCountClock(w, r, &n, func() time.Time { return *w.clock }); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	if !slicesEqual(r.sizes, want) {
		t.Errorf("read sizes %v, want %v", compact(r.sizes), compact(want))
	}
	if most := plainLevels[len(plainLevels)-1]; most < 4*unitFrames*lapm.MaxN401 {
		t.Errorf("the largest reads toward a link (%d octets) exceed the largest bulk buffers (%d)", 4*unitFrames*lapm.MaxN401, most)
	}

	// A slow line: every write takes 10 ms.
	answers = []int{smallBufSize}
	for range 3 * proof {
		answers = append(answers, first)
	}
	r = &sizedReader{answers: append(answers, 10)}
	w = &pacedUnitWriter{pacedWriter{clock: new(time.Time), takes: []time.Duration{10 * ms}}, unit}
	if err := copyCountClock(w, r, &n, func() time.Time { return *w.clock }); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	for i, size := range r.sizes[1 : len(r.sizes)-1] {
		if size != first {
			t.Fatalf("slow line: read %d of %d octets, want %d", i+1, size, first)
		}
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestIdleSessionGoroutines: an idle bridged session on a telnet line
// costs the gateway two goroutines (the call, which copies backend output
// to the caller, and the caller->backend copy): no goroutine waits for
// window changes or for the copies to end.
func TestIdleSessionGoroutines(t *testing.T) {
	testutil.CheckGoroutines(t)
	const calls = 8
	held := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) { <-held }) // one goroutine per backend connection
	defer close(held)
	c := testConfig(t, config.Backend{Name: "idle", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.MaxConcurrent = calls
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	g, err := Start(t.Context(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"i": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(t.Context())
	before := runtime.NumGoroutine()
	for range calls {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		login(t, conn, "i", "pw")
	}
	// Settle: every call bridged, the login's helpers gone (a third
	// goroutine per session in the gateway never goes).
	deadline := time.Now().Add(10 * time.Second)
	for g.ActiveCalls() != calls || runtime.NumGoroutine()-before > calls*3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls, %d goroutines more than before", g.ActiveCalls(), runtime.NumGoroutine()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if per := float64(runtime.NumGoroutine()-before) / calls; per > 3 {
		t.Errorf("%.2f goroutines per idle session (gateway and backend), want 3", per)
	}
}

// pipeBackend is a BackendConn over in-memory pipes. The test plays the
// backend: it writes the backend's output to out (out.Close is the
// backend's EOF) and reads what the pump wrote to the backend from in
// (EOF there is CloseWrite). Pipes do not buffer: a backend the test does
// not read from blocks the pump's writes.
type pipeBackend struct {
	rd  *io.PipeReader // the backend's output, read by the pump
	wr  *io.PipeWriter // the pump's writes to the backend
	out *io.PipeWriter
	in  *io.PipeReader

	closeWrites, closes atomic.Int32
}

func newPipeBackend() *pipeBackend {
	b := &pipeBackend{}
	b.rd, b.out = io.Pipe()
	b.in, b.wr = io.Pipe()
	return b
}

func (b *pipeBackend) Read(p []byte) (int, error)  { return b.rd.Read(p) }
func (b *pipeBackend) Write(p []byte) (int, error) { return b.wr.Write(p) }
func (b *pipeBackend) Resize(transport.WindowSize) error {
	return nil
}

func (b *pipeBackend) CloseWrite() error {
	b.closeWrites.Add(1)
	return b.wr.Close()
}

func (b *pipeBackend) Close() error {
	b.closes.Add(1)
	b.rd.CloseWithError(net.ErrClosed)
	b.wr.CloseWithError(net.ErrClosed)
	return nil
}

// plainLine is a caller's line with no control notifications; pump only
// looks at the line's abilities, it reads and writes r and w.
type plainLine struct{ io.ReadWriteCloser }

func (plainLine) Info() transport.LineInfo { return transport.LineInfo{Transport: "test"} }

// lockedBuffer is the caller's side of the pump's output.
type lockedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	err error // returned by every Write when set
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pumpRig runs pump between a caller (callerW writes the caller's octets,
// callerW.Close is its hang-up; toCaller collects what the pump wrote to
// it) and a pipeBackend, inside a synctest bubble: every goroutine the
// pump starts must end before the test does, and timers run on the
// bubble's clock.
type pumpRig struct {
	ctx      context.Context
	cancel   context.CancelFunc
	callerW  *io.PipeWriter
	callerR  *io.PipeReader
	toCaller *lockedBuffer
	be       *pipeBackend
	cnt      counters
	done     chan pumpResult
}

func startPump(t *testing.T, callerIn io.Reader) *pumpRig {
	rig := &pumpRig{toCaller: &lockedBuffer{}, be: newPipeBackend(), done: make(chan pumpResult, 1)}
	rig.ctx, rig.cancel = context.WithCancel(t.Context())
	t.Cleanup(rig.cancel)
	rig.callerR, rig.callerW = io.Pipe()
	if callerIn == nil {
		callerIn = rig.callerR
	}
	go func() { rig.done <- pump(rig.ctx, callerIn, rig.toCaller, nil, plainLine{}, rig.be, &rig.cnt) }()
	return rig
}

// hangUpCaller does what the call flow does after pump returned a result
// with upDone: it hangs up the caller and waits for the copy to end.
func (rig *pumpRig) hangUpCaller(t *testing.T, res pumpResult) {
	t.Helper()
	if res.upDone == nil {
		t.Fatal("result without upDone, but the caller->backend copy was still reading")
	}
	rig.callerR.CloseWithError(net.ErrClosed)
	<-res.upDone
}

// TestPumpBackendEnds: everything the backend sent before its EOF reaches
// the caller; the session ends on the backend's side, the backend is
// closed, and the caller->backend copy is left to the call flow.
func TestPumpBackendEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		go func() {
			io.WriteString(rig.callerW, "typed")
		}()
		got := make([]byte, 5)
		if _, err := io.ReadFull(rig.be.in, got); err != nil || string(got) != "typed" {
			t.Fatalf("backend read %q, %v", got, err)
		}
		io.WriteString(rig.be.out, "last words")
		rig.be.out.Close()
		res := <-rig.done
		if res.side != endBackend || res.backendErr != nil {
			t.Errorf("result %+v, want the backend's end", res)
		}
		if got := rig.toCaller.String(); got != "last words" {
			t.Errorf("caller got %q", got)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
		rig.hangUpCaller(t, res)
		if rig.cnt.in.Load() != 5 || rig.cnt.out.Load() != 10 {
			t.Errorf("counted %d in, %d out", rig.cnt.in.Load(), rig.cnt.out.Load())
		}
	})
}

// TestPumpCallerHangsUp: what the caller sent before hanging up reaches
// the backend, followed by CloseWrite; what the backend sends after that,
// until its EOF, still reaches the caller.
func TestPumpCallerHangsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		go func() {
			io.WriteString(rig.callerW, "bye")
			rig.callerW.Close()
		}()
		if got, err := io.ReadAll(rig.be.in); err != nil || string(got) != "bye" {
			t.Fatalf("backend read %q, %v", got, err)
		}
		if rig.be.closeWrites.Load() != 1 {
			t.Errorf("%d CloseWrites, want 1", rig.be.closeWrites.Load())
		}
		io.WriteString(rig.be.out, "see you")
		rig.be.out.Close()
		res := <-rig.done
		if res.side != endCaller || res.callerErr != nil || res.upDone != nil {
			t.Errorf("result %+v, want the caller's end and nothing left to wait for", res)
		}
		if got := rig.toCaller.String(); got != "see you" {
			t.Errorf("caller got %q", got)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
	})
}

// TestPumpLingerExpires: a backend that never ends after the caller hung
// up is closed backendLinger later.
func TestPumpLingerExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		rig.callerW.Close()
		go io.Copy(io.Discard, rig.be.in)
		start := time.Now()
		res := <-rig.done
		if res.side != endCaller || res.upDone != nil {
			t.Errorf("result %+v, want the caller's end", res)
		}
		// The bubble's clock: exact.
		if d := time.Since(start); d != backendLinger {
			t.Errorf("backend closed after %v, want %v", d, backendLinger)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
	})
}

// TestPumpStopped: cancelling the context ends an idle session at once
// (no time passes on the bubble's clock) with "stopped", the backend
// closed and the caller->backend copy left to the call flow.
func TestPumpStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		synctest.Wait()
		start := time.Now()
		rig.cancel()
		res := <-rig.done
		if res.side != endStopped {
			t.Errorf("result %+v, want stopped", res)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("stopping took %v", d)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
		rig.hangUpCaller(t, res)
	})
}

// TestPumpStoppedBackendNotReading: a backend that does not read does not
// keep a stop from ending the session; the caller->backend copy blocked
// in its write ends too.
func TestPumpStoppedBackendNotReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, endless{}) // a caller that types forever
		synctest.Wait()                // the copy is blocked writing to the backend
		rig.cancel()
		res := <-rig.done
		if res.side != endStopped {
			t.Errorf("result %+v, want stopped", res)
		}
		if err := <-res.upDone; err == nil {
			t.Error("caller->backend copy ended without an error")
		}
	})
}

// TestPumpStoppedWhileLingering: a stop during the linger after the
// caller hung up closes the backend at once; the session still ended on
// the caller's side.
func TestPumpStoppedWhileLingering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		rig.callerW.Close()
		io.ReadAll(rig.be.in) // CloseWrite
		start := time.Now()
		rig.cancel()
		res := <-rig.done
		if res.side != endCaller {
			t.Errorf("result %+v, want the caller's end", res)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("stopping took %v", d)
		}
	})
}

// TestPumpBackendWriteFails: a backend that fails under our writes ends
// the session on the backend's side with that error.
func TestPumpBackendWriteFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		broken := errors.New("backend broke")
		rig.be.in.CloseWithError(broken)
		go io.WriteString(rig.callerW, "x")
		res := <-rig.done
		if res.side != endBackend || !errors.Is(res.backendErr, broken) || res.upDone != nil {
			t.Errorf("result %+v, want the backend's failure", res)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
	})
}

// TestPumpCallerWriteFails: a caller's line that fails under the
// backend's output ends the session on the caller's side.
func TestPumpCallerWriteFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := startPump(t, nil)
		gone := errors.New("line dropped")
		rig.toCaller.err = gone
		go io.WriteString(rig.be.out, "news")
		res := <-rig.done
		if res.side != endCaller || !errors.Is(res.callerErr, gone) {
			t.Errorf("result %+v, want the caller's line failure", res)
		}
		if rig.be.closes.Load() == 0 {
			t.Error("backend not closed")
		}
		rig.hangUpCaller(t, res)
	})
}

// stalledCaller is a caller's line that takes no output: a Write blocks
// until the line is hung up (a peer that stopped reading, its TCP window
// full). Close is the hang-up.
type stalledCaller struct {
	hungUp chan struct{}
	once   sync.Once
	closes atomic.Int32
}

func newStalledCaller() *stalledCaller { return &stalledCaller{hungUp: make(chan struct{})} }

func (s *stalledCaller) Read(p []byte) (int, error) {
	<-s.hungUp
	return 0, net.ErrClosed
}

func (s *stalledCaller) Write(p []byte) (int, error) {
	<-s.hungUp
	return 0, net.ErrClosed
}

func (s *stalledCaller) Close() error {
	s.closes.Add(1)
	s.once.Do(func() { close(s.hungUp) })
	return nil
}

func (s *stalledCaller) Info() transport.LineInfo { return transport.LineInfo{Transport: "test"} }

// startStalledPump runs pump towards a caller that reads nothing, with the
// backend's output pending: the backend->caller copy is blocked in its
// Write to the caller when the test goes on.
func startStalledPump(t *testing.T, ctx context.Context) (*stalledCaller, *pipeBackend, chan pumpResult) {
	caller := newStalledCaller()
	be := newPipeBackend()
	done := make(chan pumpResult, 1)
	var cnt counters
	go func() { done <- pump(ctx, caller, caller, nil, caller, be, &cnt) }()
	go io.WriteString(be.out, "a screenful the caller never reads")
	synctest.Wait()
	return caller, be, done
}

// TestPumpStoppedCallerNotReading: a stop (shutdown after the drain time,
// idle timeout, session limit) ends a session whose caller does not read
// while backend output is pending: the backend is closed at once and,
// since the caller does not take the write in progress, the caller's line
// is hung up callerWriteGrace later. Before, pump waited for that write
// for ever: the call never ended and Shutdown never returned.
func TestPumpStoppedCallerNotReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		caller, be, done := startStalledPump(t, ctx)
		start := time.Now()
		cancel()
		res := <-done
		if res.side != endStopped {
			t.Errorf("result %+v, want stopped", res)
		}
		if d := time.Since(start); d != callerWriteGrace {
			t.Errorf("stopping took %v, want %v", d, callerWriteGrace)
		}
		if be.closes.Load() == 0 || caller.closes.Load() == 0 {
			t.Errorf("backend closed %d times, caller hung up %d times", be.closes.Load(), caller.closes.Load())
		}
		if res.upDone != nil {
			<-res.upDone
		}
	})
}

// TestPumpLingerCallerNotReading: a caller that sent EOF and reads
// nothing more does not hold the session after the linger either.
func TestPumpLingerCallerNotReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		caller := newStalledCaller()
		be := newPipeBackend()
		done := make(chan pumpResult, 1)
		var cnt counters
		go func() { done <- pump(t.Context(), strings.NewReader("bye"), caller, nil, caller, be, &cnt) }()
		if got, err := io.ReadAll(be.in); err != nil || string(got) != "bye" {
			t.Fatalf("backend read %q, %v", got, err)
		}
		go io.WriteString(be.out, "output nobody reads")
		start := time.Now()
		res := <-done
		if res.side != endCaller || res.upDone != nil {
			t.Errorf("result %+v, want the caller's end", res)
		}
		if d := time.Since(start); d != backendLinger+callerWriteGrace {
			t.Errorf("session ended after %v, want %v", d, backendLinger+callerWriteGrace)
		}
	})
}

// TestPumpBackendEndsCallerSlow: when the backend ends by itself, its
// last output is not cut short, however long the caller takes to read
// it: no grace applies to an ordinary end.
func TestPumpBackendEndsCallerSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		callerR, callerW := io.Pipe()
		defer callerW.Close()
		out, toCaller := io.Pipe()
		be := newPipeBackend()
		done := make(chan pumpResult, 1)
		var cnt counters
		go func() { done <- pump(t.Context(), callerR, toCaller, nil, plainLine{}, be, &cnt) }()
		go func() {
			io.WriteString(be.out, "last words")
			be.out.Close()
		}()
		time.Sleep(10 * callerWriteGrace) // the caller reads late
		got := make([]byte, len("last words"))
		if _, err := io.ReadFull(out, got); err != nil || string(got) != "last words" {
			t.Fatalf("caller read %q, %v", got, err)
		}
		res := <-done
		if res.side != endBackend {
			t.Errorf("result %+v, want the backend's end", res)
		}
		callerR.CloseWithError(net.ErrClosed)
		<-res.upDone
	})
}

// TestV42BulkFromBackendThenCloseCounted: a TCP backend that sends a few
// MiB (not a whole number of the bridge's batches toward the link) and
// closes at once, mid-batch, over the full path (detection, LAPM with
// 4096-octet frames, Access Security, sealed payloads): the caller reads
// every octet, then the closing message and the release, and the call
// record's bytes_out is exactly what the backend sent.
func TestV42BulkFromBackendThenCloseCounted(t *testing.T) {
	testutil.CheckGoroutines(t)
	const size = 3<<20 + 12345
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	addr := tcpBackendServer(t, func(c net.Conn) {
		_, _ = c.Write(data) // then an immediate close, nothing read
	})
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "bulk", Type: config.BackendTCP, Address: config.HostPort(addr)})
	offer := lapm.LinkParams{N401: 4096, K: 127, FCS32: true, SREJ: true}
	link, done, err := v42DialOffer(t, s, "vic", "pw", key.Public, offer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(link)
	link.Close()
	<-done
	if err != nil {
		t.Fatalf("read %d octets: %v", len(got), err)
	}
	if len(got) < size || !bytes.Equal(got[:size], data) {
		t.Fatalf("read %d octets, want the backend's %d intact", len(got), size)
	}
	if rest := string(got[size:]); rest != msgBackendEnd {
		t.Errorf("after the data: %q, want %q", rest, msgBackendEnd)
	}
	recs := records(t, st)
	if len(recs) != 1 || recs[0].BytesOut != size || recs[0].BytesIn != 0 || recs[0].Reason != "backend closed" {
		t.Fatalf("records %+v, want one with bytes_out %d, bytes_in 0, backend closed", recs, size)
	}
}

// TestCopyCountPacedLineWithIdleLimit: on a paced line with an idle limit
// the relay writes through activityWriter, which passes the link's
// payload size on: bulk reads are still whole payloads, one second of
// the line (lineCommit) at most.
func TestCopyCountPacedLineWithIdleLimit(t *testing.T) {
	const unit = 240
	w := &unitWriter{unit: unit}
	watch := &sessionWatch{granule: time.Second}
	dst := watch.callerWriter(w, 33600)
	if _, ok := dst.(activityWriter); !ok {
		t.Fatalf("callerWriter on a paced line is %T, want activityWriter", dst)
	}
	if size, _ := bulkSize(dst); size != 3360/unit*unit {
		t.Errorf("bulk reads of %d octets through the idle watch, want %d (whole payloads, 1 s of the line)", size, 3360/unit*unit)
	}
	if size, _ := bulkSize(watch.callerWriter(io.Discard, 33600)); size != 3360 {
		t.Errorf("bulk reads of %d octets for a destination without payloads, want %d", size, 3360)
	}
	// The watch cuts Writes into pieces of line time: whole payloads, so
	// no piece ends in a short I frame (0.25 s at 33,600 bit/s is 840
	// octets, 3.5 payloads of 240).
	w = &unitWriter{unit: unit}
	watch = &sessionWatch{granule: 250 * time.Millisecond}
	var n atomic.Int64
	r := &sizedReader{answers: []int{smallBufSize, unitBufSize, 100}}
	if err := copyCount(watch.callerWriter(w, 33600), r, &n); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	// The first read is the small buffer's (typing-sized), the last the
	// backend's last 100 octets; the bulk ones between are cut.
	for i, size := range w.writes[1 : len(w.writes)-1] {
		if size%unit != 0 {
			t.Errorf("write %d of %v: %d octets, not whole payloads of %d", i, w.writes, size, unit)
		}
	}
}

// TestCopyCountPacedCommit: on a paced line (line_rate), with or without
// an idle limit, the relay reads about a second of the line's output at
// a time (lineCommit), in whole payloads toward a LAPM link: what it has
// read is committed to the caller, and a Ctrl-C the backend obeys stops
// the output only after it. With 4 KiB pty reads a Ctrl-C at 2,400
// bit/s took 21 s to show (and 37 s toward a link with 64 payloads per
// Write), where a modem holds a few hundred octets (slow-lines trial).
func TestCopyCountPacedCommit(t *testing.T) {
	for _, c := range []struct {
		rate, unit int
		idle       time.Duration
		most       int
	}{
		{2400, 0, 0, 240},
		{2400, 0, 30 * time.Minute, 240},
		{9600, 0, 0, 960},
		{2400, 240, 0, 240},   // one payload
		{9600, 240, 0, 960},   // four
		{33600, 240, 0, 3360}, // fourteen
		{1200, 240, time.Minute, 240},
	} {
		var watch *sessionWatch
		if c.idle > 0 {
			watch = &sessionWatch{granule: c.idle / idleGranules}
		}
		w := &unitWriter{unit: c.unit}
		r := &sizedReader{answers: []int{smallBufSize, 4 << 10, bulkBufSize, bulkBufSize, 100}}
		var n atomic.Int64
		if err := copyCount(watch.callerWriter(w, c.rate), r, &n); err != io.EOF {
			t.Fatalf("copyCount: %v", err)
		}
		for i, size := range r.sizes {
			if size > c.most {
				t.Errorf("%d bit/s, payload %d, idle limit %v: read %d asked for %d octets (%.1f s of the line), want at most %d (reads %v)",
					c.rate, c.unit, c.idle, i, size, float64(size)*10/float64(c.rate), c.most, compact(r.sizes))
				break
			}
		}
		if c.unit > 0 { // the first read is the small buffer's, the last the backend's last
			for i, size := range w.writes[1 : len(w.writes)-1] {
				if size%c.unit != 0 {
					t.Errorf("%d bit/s: write %d of %d octets, not whole payloads of %d", c.rate, i, size, c.unit)
					break
				}
			}
		}
	}
}

// TestCallerHangUpWhileBackendDoesNotRead: a caller (a real TCP line)
// that uploads into a backend that never reads, until its writes block,
// and then hangs up, is noticed and recorded "caller hung up"; before,
// nothing read its line while the copy was blocked and the call held its
// line until idle_timeout (hostile-peer trial). A reset is taken at
// once; a FIN (which may be a half-close) once the write has blocked for
// halfCloseGrace.
func TestCallerHangUpWhileBackendDoesNotRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset bool
		grace time.Duration
	}{
		{"reset", true, time.Hour},
		{"fin", false, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			defer func(d, g time.Duration) { stallCheck, halfCloseGrace = d, g }(stallCheck, halfCloseGrace)
			stallCheck, halfCloseGrace = 50*time.Millisecond, tc.grace
			hold := make(chan struct{})
			defer close(hold)
			addr := tcpBackendServer(t, func(c net.Conn) { <-hold; c.Close() }) // never reads
			c := testConfig(t, config.Backend{Name: "hole", Type: config.BackendTCP, Address: config.HostPort(addr)})
			g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"u": "pw"}})
			conn := dialGateway(t, g)
			login(t, conn, "u", "pw")
			// Upload until the gateway's copy blocks (every buffer on
			// the way full).
			chunk := make([]byte, 64<<10)
			for {
				_ = conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := conn.Write(chunk); err != nil {
					break
				}
			}
			if tc.reset {
				conn.(*net.TCPConn).SetLinger(0) // close sends RST
			}
			conn.Close()
			// Without the watch the call would end at idle_timeout (30
			// min), long after waitRecords gives up.
			recs := waitRecords(t, g.Store, 1)
			if r := recs[0]; r.Result != store.ResultCompleted || r.Reason != "caller hung up" {
				t.Errorf("record: %+v", r)
			}
		})
	}
}

// zeroes reads endless zeros: a caller uploading without end.
type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// resizingLine is a caller's line that only announces window sizes.
type resizingLine struct {
	win    chan transport.WindowSize
	closed chan struct{}
	once   sync.Once
}

func (l *resizingLine) Read([]byte) (int, error) { <-l.closed; return 0, net.ErrClosed }
func (l *resizingLine) Write(p []byte) (int, error) {
	return len(p), nil
}
func (l *resizingLine) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}
func (l *resizingLine) Info() transport.LineInfo                   { return transport.LineInfo{} }
func (l *resizingLine) WindowChanges() <-chan transport.WindowSize { return l.win }

// TestStopWithResizeBehindBlockedUpload: a caller resizes while its
// upload to a telnet backend that does not read is blocked; stopping
// the session (idle timeout, an operator's hang-up, the drain) ends it.
// Before, closeBackend waited for the control forwarder, stuck in Resize
// behind the upload's write lock, which only the close would free.
func TestStopWithResizeBehindBlockedUpload(t *testing.T) {
	testutil.CheckGoroutines(t)
	hold := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) { <-hold; c.Close() }) // never reads
	defer close(hold)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	be := &telnetConn{Line: tcp.NewLine(c, false, tcp.Options{Telnet: true})}
	line := &resizingLine{win: make(chan transport.WindowSize, 1), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var cnt counters
	done := make(chan pumpResult, 1)
	go func() { done <- pump(ctx, zeroes{}, line, nil, line, be, &cnt) }()
	// Until the upload blocks: the count stops growing.
	for last := int64(-1); ; {
		time.Sleep(100 * time.Millisecond)
		if n := cnt.in.Load(); n == last && n > 0 {
			break
		} else {
			last = n
		}
	}
	line.win <- transport.WindowSize{Cols: 100, Rows: 30}
	time.Sleep(100 * time.Millisecond) // the forwarder takes it and waits for the write lock
	cancel()
	select {
	case r := <-done:
		line.Close()
		if r.upDone != nil {
			<-r.upDone
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the session did not end after its stop")
	}
}

// TestV42CallerHangUpWhileBackendDoesNotRead: a V.42 caller over a real
// TCP line that releases the link (DISC) and closes while its upload to a
// backend that never reads is blocked is noticed: the gateway's link
// closes the line under it, which then reads as gone (before, its socket
// could no longer be asked, and the call held its line until
// idle_timeout).
func TestV42CallerHangUpWhileBackendDoesNotRead(t *testing.T) {
	testutil.CheckGoroutines(t)
	defer func(d time.Duration) { stallCheck = d }(stallCheck)
	stallCheck = 50 * time.Millisecond
	hold := make(chan struct{})
	defer close(hold)
	addr := tcpBackendServer(t, func(c net.Conn) { <-hold; c.Close() }) // never reads
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "hole", Type: config.BackendTCP, Address: config.HostPort(addr)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HandleLine("test", tcp.NewLine(sc, true, tcp.Options{}))
	}()
	caller := tcp.NewLine(cc, false, tcp.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	link := v42Originate(ctx, t, caller, lapm.LinkParams{})
	cr, err := v42Login(ctx, link, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	link.SetTransform(cr.Transform)
	if err := link.Establish(ctx); err != nil {
		t.Fatal(err)
	}
	// Upload until the link's window stays full (the gateway's copy is
	// blocked behind the backend).
	wrote := make(chan struct{}, 1)
	go func() {
		chunk := make([]byte, 4096)
		for {
			if _, err := link.Write(chunk); err != nil {
				return
			}
			select {
			case wrote <- struct{}{}:
			default:
			}
		}
	}()
	for quiet := 0; quiet < 10; {
		select {
		case <-wrote:
			quiet = 0
		case <-time.After(100 * time.Millisecond):
			quiet++
		}
	}
	link.Close() // DISC, then the line
	caller.Close()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the call did not end after the caller released the link")
	}
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultCompleted || r[0].User != "vic" {
		t.Errorf("records: %+v", r)
	}
}

// preemptProbe is a caller writer with Preempt (as a paced line has) that
// counts the Preempts made after pump returned.
type preemptProbe struct {
	returned *atomic.Bool
	late     *atomic.Int32
}

func (p preemptProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p preemptProbe) Preempt() {
	if p.returned.Load() {
		p.late.Add(1)
	}
}

// TestPumpStopPreemptsBeforeReturn: a stop that comes as the session
// ends otherwise (the backend's EOF) preempts the caller's writer, if at
// all, before pump returns: after it, the call writes its last words,
// which a later Preempt would cut. Regression (review): the stop's
// callback ran on after pump returned, and cut 198 of 200 such words.
func TestPumpStopPreemptsBeforeReturn(t *testing.T) {
	testutil.CheckGoroutines(t)
	var late atomic.Int32
	for range 200 {
		var returned atomic.Bool
		be := newPipeBackend()
		callerR, _ := io.Pipe()
		ctx, cancel := context.WithCancel(t.Context())
		go be.out.Close()
		go cancel()
		res := pump(ctx, callerR, preemptProbe{&returned, &late}, nil, plainLine{}, be, &counters{})
		returned.Store(true)
		callerR.CloseWithError(net.ErrClosed)
		if res.upDone != nil {
			<-res.upDone
		}
		cancel()
	}
	time.Sleep(50 * time.Millisecond) // for a stop still running
	if n := late.Load(); n != 0 {
		t.Errorf("%d of 200 stops preempted the caller's writer after pump returned", n)
	}
}
