package lapm

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// TestTwoWaySlowReaderNoDiscards: both ends send at once over a lossless
// line and one end's reader pauses now and then, as a gateway's backend
// does. Its receiver goes busy; the RNR must reach the peer although
// acknowledgements ride on its own I frames, so the peer stops at one
// window and no frame is discarded, rejected or resent. (Before, the
// busy end's I frames acknowledged without an RNR, the peer sent a second
// window into the full receiver, and a 100 MB transfer each way resent
// about a thousand frames.)
func TestTwoWaySlowReaderNoDiscards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := linesim.NewPair(linesim.Config{Seed: 3, Buffer: 256 << 10})
		p := LinkParams{N401: 4096, K: 127, FCS32: true}
		la, lb := openPair(t, ctx, a, b, Config{Params: p}, Config{Params: p})
		establishPair(t, ctx, la, lb)
		const size = 16 << 20
		var wg sync.WaitGroup
		for _, l := range []*Link{la, lb} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				buf := make([]byte, 32<<10)
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := l.Write(buf); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for n := 0; n < size; {
					k, err := l.Read(buf)
					if err != nil {
						t.Error(err)
						return
					}
					n += k
					if l == lb && n%(1<<20) < k {
						time.Sleep(30 * time.Millisecond) // the slow reader
					}
				}
			}()
		}
		wg.Wait()
		sa, sb := la.Stats(), lb.Stats()
		if sb.RNRSent == 0 {
			t.Error("the slow reader never went busy: the test did not test")
		}
		if sa.Retransmitted+sb.Retransmitted+sa.REJSent+sb.REJSent+sb.Duplicates != 0 {
			t.Errorf("lossless line: %d/%d retransmitted, %d/%d REJ, %d duplicates (RNR sent %d)",
				sa.Retransmitted, sb.Retransmitted, sa.REJSent, sb.REJSent, sb.Duplicates, sb.RNRSent)
		}
		la.Close()
		lb.Close()
	})
}

// TestLinkCloseLostUA: the peer answers our DISC with a UA that the line
// loses, and hangs up. The release is over (the peer had everything
// before the DISC), so Close reports no link failure; it said "link
// failure: line: EOF", about once in twenty runs of TestSimBulkImpaired.
// The line loses the peer's acknowledgement too, so Close says that
// what was written went unconfirmed (ErrUnconfirmed).
func TestLinkCloseLostUA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := linesim.NewPair(linesim.Config{Seed: 5})
		mute := &muteLine{ReadWriteCloser: b}
		la, lb := openPair(t, ctx, a, mute, Config{}, Config{})
		establishPair(t, ctx, la, lb)
		if _, err := la.Write([]byte("all of it")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 9)
		if _, err := io.ReadFull(lb, got); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mute.muted.Store(true) // from here on the answerer's frames are lost
		if err := la.Close(); !errors.Is(err, ErrUnconfirmed) || errors.Is(err, ErrLinkFailure) {
			t.Errorf("Close after the peer hung up on our DISC: %v, want ErrUnconfirmed only", err)
		}
		lb.Close()
	})
}

// muteLine loses every write once muted.
type muteLine struct {
	io.ReadWriteCloser
	muted atomic.Bool
}

func (m *muteLine) Write(p []byte) (int, error) {
	if m.muted.Load() {
		return len(p), nil
	}
	return m.ReadWriteCloser.Write(p)
}
