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

// TestLinkFCSErrorsCountLineErrors: a clean call that switches to FCS-32
// reports no FCS (or other line) errors on either end, although while the
// FCS changes each end decodes with both and each decoder rejects the
// other's frames; a noisy line still reports them.
func TestLinkFCSErrorsCountLineErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		im    linesim.Impairments
		noisy bool
	}{
		{"clean", linesim.Impairments{}, false},
		{"noisy", linesim.Impairments{BitErrorRate: 1e-4}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			a, b := linesim.NewPair(linesim.Config{Seed: 3, Impairments: c.im})
			p := LinkParams{N401: 256, K: 15, FCS32: true, SREJ: true}
			cfg := Config{Params: p, T401: 50 * time.Millisecond, N400: 50}
			la, lb := openPair(t, ctx, a, b, cfg, cfg)
			defer la.Close()
			defer lb.Close()
			if n := la.Negotiated(); n.FCS != FCS32 {
				t.Fatalf("negotiated %v, want FCS-32", n.FCS)
			}
			establishPair(t, ctx, la, lb)
			data := pattern(200_000)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := la.Write(data); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := lb.Write(data[:20_000]); err != nil {
					t.Error(err)
				}
			}()
			gotB := make([]byte, len(data))
			if _, err := io.ReadFull(lb, gotB); err != nil || !bytes.Equal(gotB, data) {
				t.Fatalf("answerer read: %v", err)
			}
			gotA := make([]byte, 20_000)
			if _, err := io.ReadFull(la, gotA); err != nil || !bytes.Equal(gotA, data[:20_000]) {
				t.Fatalf("originator read: %v", err)
			}
			wg.Wait()
			sa, sb := la.Stats(), lb.Stats()
			bad := func(s Stats) uint64 { return s.FCSErrors + s.Aborts + s.TooLong + s.TooShort }
			t.Logf("originator: %d FCS errors, %d aborts, %d too long, %d too short", sa.FCSErrors, sa.Aborts, sa.TooLong, sa.TooShort)
			t.Logf("answerer: %d FCS errors, %d aborts, %d too long, %d too short", sb.FCSErrors, sb.Aborts, sb.TooLong, sb.TooShort)
			if c.noisy {
				if sa.FCSErrors == 0 || sb.FCSErrors == 0 {
					t.Errorf("noisy line: FCS errors %d / %d, want some on both ends", sa.FCSErrors, sb.FCSErrors)
				}
			} else if bad(sa) != 0 || bad(sb) != 0 {
				t.Errorf("clean line: line errors %+v / %+v, want none", sa, sb)
			}
		})
	}
}

// TestFeedDualCountsLineErrorsOnce: while the reader decodes with both
// FCSs, a frame either decoder takes is no error, a frame both drop is
// one, and the FCS-16 frames before the first FCS-32 frame are taken
// although the FCS-16 decoder has read the line for longer; this holds
// wherever the FCS-32 decoder joins (even within a frame) and however
// the octets come in reads.
func TestFeedDualCountsLineErrorsOnce(t *testing.T) {
	enc16, enc32 := Encoder{FCS: FCS16}, Encoder{FCS: FCS32}
	p0 := []byte{AddrCR1, 0xAF, 'p'}               // before the switch-over
	a := []byte{AddrCR0, 0x01, 0x02}               // FCS-16 RR: too short for FCS-32
	b := []byte{AddrCR1, 0xAF, 'b', 'b', 'b', 'b'} // FCS-16
	x := []byte{AddrCR1, 0x7F, 'x'}                // FCS-32
	y := []byte{AddrCR1, 0x00, 0x00, 'y'}          // FCS-32
	// The negotiation's frames, then the switch-over.
	line := enc16.AppendFlags(nil, 2)
	for range 4 {
		line = enc16.AppendFrame(line, p0)
	}
	switchAt := len(line)
	line = enc16.AppendFrame(line, a)
	line = enc16.AppendFrame(line, b)
	line = enc32.AppendFrame(line, x)
	// A frame both decoders drop: one bit flipped among zeros (no flag
	// can appear there).
	bad := enc32.AppendFrame(nil, make([]byte, 16))
	bad[len(bad)/2] ^= 0x08
	line = append(line, bad...)
	line = enc32.AppendFrame(line, y)
	line = enc32.AppendFlags(line, 2)
	want := [][]byte{p0, p0, p0, p0, a, b, x, y}

	for cut := switchAt - 6; cut <= switchAt+6; cut++ { // where the FCS-32 decoder joins
		for _, chunk := range []int{len(line), 7, 3, 1} {
			var d16, d32 Decoder
			d16.FCS, d32.FCS = FCS16, FCS32
			var got [][]byte
			add := func(f []byte) { got = append(got, append([]byte(nil), f...)) }
			d16.Feed(line[:cut], add)
			d32.follow(&d16)
			seen := false
			for rest := line[cut:]; len(rest) > 0; {
				n := min(chunk, len(rest))
				seen = feedDual(&d16, &d32, rest[:n], add) || seen
				rest = rest[n:]
			}
			if !seen {
				t.Fatalf("cut %d, reads of %d: no FCS-32 frame seen", cut, chunk)
			}
			if len(got) != len(want) {
				t.Fatalf("cut %d, reads of %d: frames % x, want % x", cut, chunk, got, want)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("cut %d, reads of %d: frame %d is % x, want % x", cut, chunk, i, got[i], want[i])
				}
			}
			s16, s32 := d16.Stats(), d32.Stats()
			errs := func(s DecoderStats) uint64 {
				return s.FCSErrors + s.Aborts + s.TooLong + s.TooShort + s.Misaligned
			}
			if e := errs(s16) + errs(s32); e != 1 {
				t.Fatalf("cut %d, reads of %d: %d line errors (%+v / %+v), want 1", cut, chunk, e, s16, s32)
			}
		}
	}
}
