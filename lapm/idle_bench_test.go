package lapm

import (
	"context"
	goflag "flag"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

var idleBurst = goflag.Int("idle-burst", 4096, "BenchmarkLinkIdleMemory: octets of the burst each link carries each way before it is left idle")

// BenchmarkLinkIdleMemory reports the heap and stack bytes one idle,
// established link holds (B/link): pairs of Links over in-memory lines,
// N401 4096, k 63, FCS-32, SREJ (what the gateway offers), each having
// carried one burst each way (-idle-burst octets, 4 KiB by default; a
// paste or an upload is larger), then left idle. The lines themselves
// are created before the baseline is taken, so they are not counted.
func BenchmarkLinkIdleMemory(b *testing.B) {
	const pairs = 100
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
	burst := make([]byte, *idleBurst)
	var perLink float64
	for range b.N {
		lines := make([][2]io.ReadWriteCloser, pairs)
		for i := range lines {
			x, y := linesim.NewPair(linesim.Config{Seed: int64(i + 1)})
			lines[i] = [2]io.ReadWriteCloser{x, y}
		}
		before := heapAndStack()
		links := make([][2]*Link, pairs)
		for i, ln := range lines {
			la, lb := openPair(b, ctx, ln[0], ln[1], Config{Params: p, T403: -1}, Config{Params: p, T403: -1})
			establishPair(b, ctx, la, lb)
			for _, d := range [][2]*Link{{la, lb}, {lb, la}} {
				if _, err := d[0].Write(burst); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(d[1], make([]byte, len(burst))); err != nil {
					b.Fatal(err)
				}
			}
			links[i] = [2]*Link{la, lb}
		}
		time.Sleep(50 * time.Millisecond) // let the last acknowledgements settle
		after := heapAndStack()
		perLink = float64(after-before) / (2 * pairs)
		for _, l := range links {
			l[0].Close()
			l[1].Close()
		}
		runtime.KeepAlive(lines)
	}
	b.ReportMetric(perLink, "B/link")
}

func heapAndStack() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}
