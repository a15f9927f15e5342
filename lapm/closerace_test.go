package lapm

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestLinkWriteCloseCount: Writes racing with Close. Every octet a Write
// reports written was queued before Close took the queue, so the peer
// reads exactly that many (Close sends what Write queued before it), no
// more and no less.
func TestLinkWriteCloseCount(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := pattern(1 << 20)
	p := LinkParams{N401: 128, K: 63}
	for i := range 200 {
		a, b := linesim.NewPair(linesim.Config{Seed: int64(i)})
		la, lb := openPair(t, ctx, a, b, Config{Params: p}, Config{Params: p})
		establishPair(t, ctx, la, lb)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(lb)
			got <- b
		}()
		written := make(chan int, 1)
		go func() {
			n := 0
			for n < len(data) {
				k, err := la.Write(data[n:min(n+1000, len(data))])
				n += k
				if err != nil {
					break
				}
			}
			written <- n
		}()
		time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
		if err := la.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		n := <-written
		if b := <-got; !bytes.Equal(b, data[:n]) {
			t.Fatalf("try %d: peer read %d octets, Write reported %d written", i, len(b), n)
		}
		lb.Close()
	}
}
