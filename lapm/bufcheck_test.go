package lapm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// checkBufs replaces the buffer pools with a bufChecker for the rest of
// the test (which must not run in parallel with others): every buffer is
// poisoned when it is put and checked when it is taken again, so a
// payload or frame buffer used after it went back shows up as corrupt
// data or as a recorded violation. It returns the checker; at the end of
// the test (after the links are closed) any violation fails the test.
func checkBufs(t *testing.T) *bufChecker {
	t.Helper()
	c := newBufChecker()
	if !bufCheck.CompareAndSwap(nil, c) {
		t.Fatal("checkBufs: a checker is already installed")
	}
	t.Cleanup(func() {
		bufCheck.Store(nil)
		fails, reused := c.errors()
		for _, f := range fails {
			t.Errorf("pooled buffers: %s", f)
		}
		t.Logf("pooled buffers: %d reused", reused)
	})
	return c
}

// TestBufCheckerCatches: the checker itself sees a read and a write after
// putBuf and a double put.
func TestBufCheckerCatches(t *testing.T) {
	c := checkBufs(t)
	b := append(getBuf(2000), "secret"...)
	putBuf(b)
	if string(b[:6]) == "secret" {
		t.Fatal("putBuf did not poison the buffer")
	}
	b[0] = 'x' // a write after putBuf
	putBuf(b)  // and a second put
	_ = getBuf(2000)
	fails, reused := c.errors()
	if len(fails) != 2 || reused != 1 {
		t.Fatalf("checker saw %q, %d reused; want a double put and a write after put", fails, reused)
	}
	c.mu.Lock()
	c.fails = nil
	c.mu.Unlock()
}

// flakyWriter hashes what it takes; every fifth write it takes only part
// and fails (or reports a short write), and once it holds limit octets it
// ends WriteTo with errEnough.
type flakyWriter struct {
	h     io.Writer
	n     int
	limit int
	calls int
	rng   *rand.Rand
}

var errFlaky = errors.New("flaky writer")
var errEnough = errors.New("enough")

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.calls++
	k := min(len(p), w.limit-w.n)
	var err error
	if w.calls%5 == 0 && k > 0 {
		k = w.rng.IntN(k)
		if w.calls%10 == 0 {
			err = errFlaky // otherwise a short write without an error
		}
	}
	w.h.Write(p[:k])
	w.n += k
	if err == nil && w.n == w.limit {
		err = errEnough
	}
	return k, err
}

// poisonTap passes a link's line writes on and notes a run of poison
// octets in them (at any bit offset: an I field is bit-stuffed after a
// header of any length, and poisonOctet has no five 1s in a row, so its
// run shows as a run of one of its rotations). Sealed payloads are
// random, so such a run means a frame was encoded from a buffer after
// putBuf: a retransmission that is not byte-identical, which a peer that
// already has the frame discards unseen.
type poisonTap struct {
	io.ReadWriteCloser
	mu   sync.Mutex
	last byte
	run  int
	seen bool
}

func (p *poisonTap) Write(b []byte) (int, error) {
	p.mu.Lock()
	for _, c := range b {
		if c != p.last {
			p.last, p.run = c, 0
		}
		p.run++
		if p.run == 32 {
			for k := range 8 {
				p.seen = p.seen || c == bits.RotateLeft8(poisonOctet, k)
			}
		}
	}
	p.mu.Unlock()
	return p.ReadWriteCloser.Write(b)
}

func (p *poisonTap) poisoned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// TestLinkPoolPoisoned sends sealed data both ways at once over a line
// with bit errors, dropped and duplicated octets (so REJ or SREJ
// recovery, T401 retransmissions and duplicate frames all happen) with
// payloads and received frames in pooled buffers, while every buffer put
// back is poisoned and handed out again first: a payload given back while
// still queued for a retransmission, or a received frame given back
// before it was read, corrupts the data (SHA-256 compared) or the AEAD
// fails. The reader reads in odd sizes (Read) or through WriteTo with a
// writer that fails and writes short.
func TestLinkPoolPoisoned(t *testing.T) {
	for _, tc := range []struct {
		n401    int
		srej    bool
		writeTo bool
	}{
		{4096, true, false},
		{4096, false, true},
		{1024, true, true},
		{1024, false, false},
	} {
		t.Run(fmt.Sprintf("N401=%d/srej=%v/writeTo=%v", tc.n401, tc.srej, tc.writeTo), func(t *testing.T) {
			testutil.CheckGoroutines(t)
			bc := checkBufs(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			im := linesim.Impairments{BitErrorRate: 2e-5, DropRate: 2e-6, DupRate: 2e-6}
			a, b := linesim.NewPair(linesim.Config{Seed: int64(tc.n401) + 1, Impairments: im})
			ta, tb := &poisonTap{ReadWriteCloser: a}, &poisonTap{ReadWriteCloser: b}
			cfg := Config{Params: LinkParams{N401: tc.n401, K: 15, FCS32: true, SREJ: tc.srej}, T401: 50 * time.Millisecond, N400: 50}
			la, lb := sealedPair(t, ctx, ta, tb, cfg)
			const size = 512 << 10
			sums := make([][2][32]byte, 2)
			errs := make([]error, 4)
			var wg sync.WaitGroup
			for i, l := range []*Link{la, lb} {
				wg.Add(2)
				go func() { // writer: random lengths, random data
					defer wg.Done()
					h := sha256.New()
					r := rand.New(rand.NewPCG(uint64(i), 3))
					buf := make([]byte, 20_000)
					for sent := 0; sent < size; {
						n := min(1+r.IntN(len(buf)), size-sent)
						for j := range buf[:n] {
							buf[j] = byte(r.Uint32())
						}
						h.Write(buf[:n])
						if _, err := l.Write(buf[:n]); err != nil {
							errs[2*i] = err
							return
						}
						sent += n
					}
					copy(sums[i][0][:], h.Sum(nil))
				}()
				go func() { // reader
					defer wg.Done()
					h := sha256.New()
					if tc.writeTo {
						w := &flakyWriter{h: h, limit: size, rng: rand.New(rand.NewPCG(uint64(i), 5))}
						for w.n < size {
							_, err := l.WriteTo(w)
							if err != nil && !errors.Is(err, errFlaky) && !errors.Is(err, errEnough) && !errors.Is(err, io.ErrShortWrite) {
								errs[2*i+1] = err
								return
							}
						}
					} else {
						buf := make([]byte, 777)
						for got := 0; got < size; {
							n, err := l.Read(buf[:min(len(buf), size-got)])
							h.Write(buf[:n])
							got += n
							if err != nil {
								errs[2*i+1] = err
								return
							}
						}
					}
					copy(sums[i][1][:], h.Sum(nil))
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if sums[0][0] != sums[1][1] || sums[1][0] != sums[0][1] {
				t.Fatal("SHA-256 of received data differs from what was sent")
			}
			if ta.poisoned() || tb.poisoned() {
				t.Error("a frame was encoded from a buffer after it went back to the pool (poison on the line)")
			}
			sa, sb := la.Stats(), lb.Stats()
			if sa.Retransmitted+sb.Retransmitted == 0 {
				t.Error("no retransmissions: the test does not exercise recovery")
			}
			if _, reused := bc.errors(); reused == 0 {
				t.Error("no pooled buffer was reused: the check checks nothing")
			}
		})
	}
}

// TestLinkPoolPoisonedClose: what Write queued before Close (most of it
// still in the queues behind a small window) goes out intact before the
// release, with large sealed payloads in poisoned pooled buffers.
func TestLinkPoolPoisonedClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	bc := checkBufs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 33, Impairments: linesim.Impairments{BitErrorRate: 1e-5}})
	p := LinkParams{N401: 4096, K: 2, FCS32: true, SREJ: true}
	cfg := Config{Params: p, T401: 50 * time.Millisecond, N400: 50}
	la, lb := openPair(t, ctx, a, b, cfg, cfg)
	la.SetTransform(newAEADTransform())
	lb.SetTransform(newAEADTransform())
	establishPair(t, ctx, la, lb)
	data := pattern(256 << 10)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(lb)
		got <- b
	}()
	for i := 0; i < 4; i++ {
		if _, err := la.Write(data[i*len(data)/4 : (i+1)*len(data)/4]); err != nil {
			t.Fatal(err)
		}
	}
	if err := la.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("peer read %d octets, want the %d written before Close", len(b), len(data))
	}
	lb.Close()
	if _, reused := bc.errors(); reused == 0 {
		t.Error("no pooled buffer was reused: the check checks nothing")
	}
}
