package modem

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/pace"
)

// TestWriteDTEPacedUnderXONXOFF: under in-band XON/XOFF, output to a
// paced DTE is cut into xoffGranule pieces, and the bucket is charged for
// the octets written, not for a whole burst per piece: at 115,200 bit/s
// (bursts of 230 characters) the output keeps the DTE rate. Before, each
// 64-octet piece was charged 230 characters, which slowed the output to
// 64/230 of the rate.
func TestWriteDTEPacedUnderXONXOFF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, total = 115200, 23040 // two seconds of output at the rate
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		m := &modem{
			opts:   Options{PaceDTE: true, Interp: Config{DTERate: rate}},
			now:    time.Now,
			ctx:    ctx,
			dteOut: make(chan dteChunk, 1),
		}
		m.inband.Store(true)
		start := time.Now()
		m.dteOut <- dteChunk{b: make([]byte, total)}
		close(m.dteOut)
		m.writeDTE(io.Discard)
		burst := pace.DefaultBurst(rate, 10)
		want := time.Duration(total-burst) * time.Second / time.Duration(rate/10)
		if d := time.Since(start); d < want-time.Millisecond || d > want+time.Millisecond {
			t.Errorf("%d octets at %d bit/s took %v, want %v", total, rate, d, want)
		}
	})
}
