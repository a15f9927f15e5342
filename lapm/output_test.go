package lapm

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// heldLine is a line whose writes wait while the test holds it, and
// which records the length of every write.
type heldLine struct {
	io.ReadWriteCloser
	hold    sync.RWMutex // Write takes it for reading; the test holds it to stall writes
	mu      sync.Mutex
	entered int   // writes begun
	lens    []int // lengths of the writes done
}

func (h *heldLine) Write(p []byte) (int, error) {
	h.mu.Lock()
	h.entered++
	h.mu.Unlock()
	h.hold.RLock()
	defer h.hold.RUnlock()
	n, err := h.ReadWriteCloser.Write(p)
	h.mu.Lock()
	h.lens = append(h.lens, len(p))
	h.mu.Unlock()
	return n, err
}

func (h *heldLine) state() (entered int, lens []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entered, append([]int(nil), h.lens...)
}

// TestLinkQueuesBatchesBehindBusyWriter: while the writer is stuck in a
// line write, the owner's next batches wait whole, each in its own
// buffer, not copied behind one another (publish, copyBehind), and a
// keystroke-sized batch joins the one before it; everything reaches the
// line in order once it moves again (the peer needs no recovery, which
// would hide a reordering), every octet written is counted, and an idle
// link's queue arrays keep no buffer the pool has taken back.
func TestLinkQueuesBatchesBehindBusyWriter(t *testing.T) {
	testutil.CheckGoroutines(t)
	checkBufs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 7})
	held := &heldLine{ReadWriteCloser: a}
	// T401 long enough that nothing is sent again while the line is held.
	cfg := Config{Params: LinkParams{N401: 4096, K: 127, FCS32: true}, T401: 10 * time.Second}
	la, lb := openPair(t, ctx, held, b, cfg, cfg)
	defer la.Close()
	defer lb.Close()
	establishPair(t, ctx, la, lb)

	var want []byte
	write := func(p []byte) {
		t.Helper()
		if _, err := la.Write(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
		// The owner takes a Write's payloads before it serves do, so
		// after this the batch is encoded and published.
		_ = la.do(func(time.Time) error { return nil })
	}
	before, _ := held.state()
	held.hold.Lock()
	write(pattern(40_000)) // the writer takes it and sticks in the line
	for {
		if entered, _ := held.state(); entered > before {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the writer never wrote the first batch")
		case <-time.After(time.Millisecond):
		}
	}
	write(pattern(30_000)[7:])  // queued whole
	write(pattern(30_000)[11:]) // queued whole behind it
	write([]byte("k"))          // joins the one before
	held.hold.Unlock()

	got := make([]byte, len(want))
	if _, err := io.ReadFull(lb, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer received other octets than were written")
	}
	_, lens := held.state()
	for len(lens) > 0 && lens[0] < 1000 {
		lens = lens[1:] // acknowledgements sent before the test held the line
	}
	if len(lens) < 3 {
		t.Fatalf("line writes %v for three batches: the ones queued behind a busy writer were joined", lens)
	}
	if last := lens[len(lens)-1]; last < 1000 {
		t.Errorf("line writes %v: the keystroke went alone, not behind the batch it followed", lens)
	}
	sa, sb := la.Stats(), lb.Stats()
	if sa.Retransmitted != 0 || sb.REJSent != 0 || sb.SREJSent != 0 || sb.InvalidFrames != 0 || sb.FRMRSent != 0 {
		t.Errorf("frames reached the line out of order: retransmitted %d, the peer sent REJ %d, SREJ %d, FRMR %d, saw %d invalid",
			sa.Retransmitted, sb.REJSent, sb.SREJSent, sb.FRMRSent, sb.InvalidFrames)
	}
	_, all := held.state()
	total := 0
	for _, n := range all {
		total += n
	}
	if sa.LineBytesSent != uint64(total) {
		t.Errorf("LineBytesSent %d, the line's writes %d octets", sa.LineBytesSent, total)
	}

	// One more batch, then idle: the queue arrays must not keep buffers
	// that went back to the pool.
	write(pattern(3000))
	if _, err := io.ReadFull(lb, make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	for {
		_ = la.do(func(time.Time) error { return nil })
		la.omu.Lock()
		idle := !la.writing && la.npend == 0 && la.ospare == nil
		stale := 0
		for _, q := range [][][]byte{la.opend, la.oqueue} {
			for _, b := range q[:cap(q)] {
				if b != nil {
					stale++
				}
			}
		}
		la.omu.Unlock()
		if idle {
			if stale != 0 {
				t.Errorf("idle link: the queue arrays still reference %d buffers", stale)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the link never went idle")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
