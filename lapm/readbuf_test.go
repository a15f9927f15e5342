package lapm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// TestLinkIdleAfterBurstHoldsNoLargeBuffer: once a burst has been
// received and the line is quiet, neither end holds a buffer of largeRead
// octets or more. The reader waits for the line's next octets in a Read
// that holds its buffer for as long as the line stays quiet: after a
// burst whose last read brought a few KiB (4 KiB or more), it used
// to wait in the 64 KiB buffer, which every idle link that had received
// a paste or an upload then kept (BenchmarkLinkIdleMemory with such
// bursts: about 15 -> 50 KB per link).
func TestLinkIdleAfterBurstHoldsNoLargeBuffer(t *testing.T) {
	for _, size := range []int{4 << 10, 16 << 10, 40 << 10, 300 << 10} {
		t.Run(fmt.Sprintf("%dKiB", size>>10), func(t *testing.T) {
			bc := checkBufs(t)
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				a, b := linesim.NewPair(linesim.Config{Seed: int64(size)})
				p := LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
				cfg := Config{Params: p, T403: -1}
				la, lb := openPair(t, ctx, a, b, cfg, cfg)
				establishPair(t, ctx, la, lb)
				data := pattern(size)
				wrote := make(chan error, 1)
				go func() {
					_, err := la.Write(data)
					wrote <- err
				}()
				got := make([]byte, size)
				if _, err := io.ReadFull(lb, got); err != nil {
					t.Fatal(err)
				}
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("data corrupted")
				}
				// Let the delayed acknowledgements go (fake time), then
				// wait until everything that can move has moved.
				time.Sleep(time.Second)
				synctest.Wait()
				if n := bc.heldAtLeast(largeRead); n != 0 {
					t.Errorf("after a %d-octet burst the idle links hold %d buffers of %d octets or more", size, n, largeRead)
				}
				la.Close()
				lb.Close()
			})
		})
	}
}

// TestBacklogCopiesShortPayloads: payloads decoded into a read's arena
// keep it alive while they wait unread; once backlogCopy wait, deliver
// copies short ones out, so that a peer padding each short I frame with
// a 64 KiB read cannot have 2k of them hold 64 KiB each (adversarial
// trial: 8.8 MB per call).
func TestBacklogCopiesShortPayloads(t *testing.T) {
	var l Link
	const n = 3 * backlogCopy
	arenas := make([][]byte, n)
	for i := range n {
		arenas[i] = bytes.Repeat([]byte{byte(i)}, 64<<10)
		l.deliver(time.Time{}, []rxPayload{{p: arenas[i][100:110:110]}})
	}
	if len(l.rxChunks) != n {
		t.Fatalf("%d chunks queued, want %d", len(l.rxChunks), n)
	}
	for i, c := range l.rxChunks {
		shares := &c.p[0] == &arenas[i][100]
		if want := i < backlogCopy; shares != want {
			t.Errorf("chunk %d shares its arena: %v, want %v", i, shares, want)
		}
		if !bytes.Equal(c.p, bytes.Repeat([]byte{byte(i)}, 10)) {
			t.Errorf("chunk %d holds %x", i, c.p)
		}
	}
	// Payloads in buffers of their own (long frames) are not copied.
	own := getBuf(4096)[:4096]
	l.deliver(time.Time{}, []rxPayload{{p: own[3:], buf: own}})
	if last := l.rxChunks[len(l.rxChunks)-1]; &last.p[0] != &own[3] {
		t.Error("an owned payload was copied")
	}
}
