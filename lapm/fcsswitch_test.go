package lapm

import (
	"bytes"
	"testing"
)

// falseFCS16Frame returns a frame whose FCS-32 form also passes the FCS-16
// check (read with two octets of its FCS as information), as one FCS-32
// frame in 65,536 does.
func falseFCS16Frame() []byte {
	for i := uint32(0); ; i++ {
		c := []byte{AddrCR1, 0xAF, byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}
		if checkFCS(AppendFCS(append([]byte(nil), c...), c, FCS32), FCS16) {
			return c
		}
	}
}

// TestFeedDualTooLongAcrossReads: a frame too long for both decoders is
// dropped by the FCS-16 decoder sooner (its limit counts a shorter FCS),
// so the two decoders may drop it in different reads. The FCS-16 reading
// of the first FCS-32 frame (one frame in 65,536 passes both checks) must
// still be placed at that frame and dropped, not before it: otherwise the
// machine gets the frame twice, once with two octets of its FCS as
// information.
func TestFeedDualTooLongAcrossReads(t *testing.T) {
	x := falseFCS16Frame()
	enc16, enc32 := Encoder{FCS: FCS16}, Encoder{FCS: FCS32}
	const maxFrame = 20
	found := false
	for n := maxFrame + 1; n < maxFrame+40; n++ {
		long := make([]byte, n)
		for i := range long {
			long[i] = byte(0x11 * i) // no run of five 1s: no inserted zeros to count
		}
		line := enc16.AppendFrame(enc16.AppendFlags(nil, 2), long)
		line = enc32.AppendFrame(line, x)
		line = enc32.AppendFlags(line, 2)
		for cut := 1; cut < len(line); cut++ {
			// Only the splits where the decoders drop the long frame in
			// different reads are the case; the others must pass too.
			var a16, a32 Decoder
			a16.FCS, a32.FCS = FCS16, FCS32
			a16.MaxFrame, a32.MaxFrame = maxFrame, maxFrame
			a16.Feed(line[:cut], func([]byte) {})
			a32.Feed(line[:cut], func([]byte) {})
			if a16.Stats().TooLong != a32.Stats().TooLong {
				found = true
			}

			var d16, d32 Decoder
			d16.FCS, d32.FCS = FCS16, FCS32
			d16.MaxFrame, d32.MaxFrame = maxFrame, maxFrame
			var got [][]byte
			add := func(f []byte) { got = append(got, append([]byte(nil), f...)) }
			seen := feedDual(&d16, &d32, line[:cut], add)
			seen = feedDual(&d16, &d32, line[cut:], add) || seen
			if !seen {
				t.Fatalf("long frame of %d, cut %d: FCS-32 frame not seen", n, cut)
			}
			if len(got) != 1 || !bytes.Equal(got[0], x) {
				t.Fatalf("long frame of %d, cut %d: frames % x, want only % x", n, cut, got, x)
			}
		}
	}
	if !found {
		t.Fatal("no split where the decoders drop the long frame in different reads: the test tests nothing")
	}
}
