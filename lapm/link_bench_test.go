package lapm

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// BenchmarkLinkThroughput: one-way bulk transfer between two Links over a
// perfect, unthrottled in-memory line, N401 4096, k 63, FCS-32.
func BenchmarkLinkThroughput(b *testing.B) {
	ctx := context.Background()
	la0, lb0 := linesim.NewPair(linesim.Config{Seed: 1, Buffer: 1 << 20})
	p := LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
	la, lb := openPair(b, ctx, la0, lb0, Config{Params: p}, Config{Params: p})
	defer lb.Close()
	establishPair(b, ctx, la, lb)
	buf := make([]byte, 256<<10)
	done := make(chan error, 1)
	total := int64(b.N) * int64(len(buf))
	go func() {
		_, err := io.CopyN(io.Discard, lb, total)
		done <- err
	}()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := la.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	la.Close()
}

// BenchmarkLinkThroughputWriteTo is BenchmarkLinkThroughput with the
// receiver draining the link by WriteTo (io.Copy to a backend) instead of
// Read: the payloads go to the writer without a copy.
func BenchmarkLinkThroughputWriteTo(b *testing.B) {
	ctx := context.Background()
	la0, lb0 := linesim.NewPair(linesim.Config{Seed: 1, Buffer: 1 << 20})
	p := LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
	la, lb := openPair(b, ctx, la0, lb0, Config{Params: p}, Config{Params: p})
	defer lb.Close()
	establishPair(b, ctx, la, lb)
	buf := make([]byte, 256<<10)
	sink := &countWriter{want: int64(b.N) * int64(len(buf)), done: make(chan struct{})}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(sink, lb)
		copied <- err
	}()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := la.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	<-sink.done
	b.StopTimer()
	la.Close()
	if err := <-copied; err != nil {
		b.Fatal(err)
	}
}

// countWriter discards what it is given and closes done once it has
// taken want octets.
type countWriter struct {
	n, want int64
	done    chan struct{}
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.n >= w.want && w.n-int64(len(p)) < w.want {
		close(w.done)
	}
	return len(p), nil
}

// physicalLimit is the payload rate, in octets per second, of a line of
// bitRate bit/s carrying back-to-back I frames of n401 random octets with
// the given FCS: the line rate minus flags, address, control, FCS, inserted
// zero bits and octet padding, measured by encoding sample frames.
func physicalLimit(bitRate, n401 int, fcs FCSKind) float64 {
	enc := Encoder{FCS: fcs}
	r := rand.New(rand.NewPCG(1, 2))
	frame := make([]byte, 3+n401)
	var line int
	const samples = 200
	for range samples {
		for i := range frame {
			frame[i] = byte(r.Uint32())
		}
		line += len(enc.AppendFrame(nil, frame))
	}
	return float64(bitRate) / 8 * float64(n401*samples) / float64(line)
}

// BenchmarkLinkGoodput33600 transfers random data one way over a line
// capped at 33,600 bit/s (synchronous: 8 bits per octet) with BER 1e-5 and
// 30 ms one-way latency, in real time, and reports the goodput as a
// percentage of the physical limit (physicalLimit). Each iteration moves
// 48 KiB (about 12 s); run with -benchtime=1x.
func BenchmarkLinkGoodput33600(b *testing.B) {
	const (
		rate = 33600
		size = 48 << 10
	)
	p := LinkParams{N401: 256, K: 31, FCS32: true, SREJ: true}
	var pct, bps float64
	for i := range b.N {
		ctx := context.Background()
		im := linesim.Impairments{BitErrorRate: 1e-5, BitRate: rate, BitsPerChar: 8, Latency: 30 * time.Millisecond}
		a, c := linesim.NewPair(linesim.Config{Seed: int64(100 + i), Impairments: im})
		cfg := Config{Params: p, LineRate: rate}
		la, lb := openPair(b, ctx, a, c, cfg, cfg)
		establishPair(b, ctx, la, lb)
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(uint64(i), 3))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		got := make([]byte, size)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := io.ReadFull(lb, got)
			done <- err
		}()
		if _, err := la.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		if !bytes.Equal(got, data) {
			b.Fatal("data corrupted")
		}
		n := la.Negotiated()
		bps = float64(size) / el.Seconds()
		pct = 100 * bps / physicalLimit(rate, n.N401Tx, n.FCS)
		st := la.Stats()
		b.Logf("%d octets in %v: %.0f octets/s = %.1f%% of the physical limit %.0f octets/s; FCS errors at peer %d, retransmitted %d, T401 expiries %d",
			size, el, bps, pct, physicalLimit(rate, n.N401Tx, n.FCS), lb.Stats().FCSErrors, st.Retransmitted, st.T401Expiries)
		la.Close()
		lb.Close()
	}
	b.ReportMetric(pct, "%physical")
	b.ReportMetric(bps, "octets/s")
}
