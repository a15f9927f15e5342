package lapm

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkLinkEchoTCP: one op is a 1-octet round trip between two sealed
// links on a loopback TCP connection (N401 4096, k 63, FCS-32, SREJ): the
// originator writes an octet, the answerer's echo goroutine reads it and
// writes it back, the originator reads it. It measures the goroutine
// hand-offs and system calls on the keystroke path, with delayed
// acknowledgements (T402, the default: the echo carries the keystroke's
// acknowledgement) and without (an RR each way); frames/op counts the
// frames both links sent.
func BenchmarkLinkEchoTCP(b *testing.B) {
	for _, c := range []struct {
		name string
		t402 time.Duration
	}{{"T402", 0}, {"immediate", -1}} {
		b.Run(c.name, func(b *testing.B) { benchLinkEcho(b, c.t402) })
	}
}

func benchLinkEcho(b *testing.B, t402 time.Duration) {
	ctx := context.Background()
	ca, cb := tcpPair(b)
	p := LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
	cfg := Config{Params: p, T402: t402}
	la, lb := openPair(b, ctx, ca, cb, cfg, cfg)
	la.SetTransform(newAEADTransform())
	lb.SetTransform(newAEADTransform())
	establishPair(b, ctx, la, lb)
	echoed := make(chan error, 1)
	go func() {
		var c [1]byte
		for {
			if _, err := io.ReadFull(lb, c[:]); err != nil {
				echoed <- nil // la closed
				return
			}
			if _, err := lb.Write(c[:]); err != nil {
				echoed <- err
				return
			}
		}
	}()
	var c [1]byte
	frames0 := la.Stats().FramesSent + lb.Stats().FramesSent
	b.ResetTimer()
	for i := range b.N {
		c[0] = byte(i)
		if _, err := la.Write(c[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(la, c[:]); err != nil || c[0] != byte(i) {
			b.Fatalf("echo %d: %v, got %d", i, err, c[0])
		}
	}
	b.StopTimer()
	frames := la.Stats().FramesSent + lb.Stats().FramesSent - frames0
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
	la.Close()
	lb.Close()
	ca.Close()
	cb.Close()
	if err := <-echoed; err != nil {
		b.Fatal(err)
	}
}
