package tcp

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary octets to the telnet decoder in both modes.
// It checks that the decoder never panics, never produces more data than
// it got, gives the same data and the same negotiations, commands and
// subnegotiations (with their octets) however the input is split, keeps
// subnegotiations within bounds, and that encoding then decoding the input
// as data returns it unchanged (and that the gathered encoding of a
// vectored write is the same octets). The seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("hello\r\n"), uint16(3))
	f.Add([]byte{255, 251, 1, 255, 253, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240}, uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		for _, binary := range []bool{false, true} {
			var whole recorder
			d := decoder{BinaryIn: binary, MaxSubneg: 64}
			out := d.Decode(nil, in, &whole)
			if len(out) > len(in) {
				t.Fatalf("decoded %d octets from %d", len(out), len(in))
			}
			if len(d.sb) > 64 {
				t.Fatalf("subnegotiation buffer grew to %d", len(d.sb))
			}

			cut := 0
			if len(in) > 0 {
				cut = int(split) % (len(in) + 1)
			}
			var parts recorder
			d2 := decoder{BinaryIn: binary, MaxSubneg: 64}
			out2 := d2.Decode(nil, in[:cut], &parts)
			out2 = d2.Decode(out2, in[cut:], &parts)
			if !bytes.Equal(out, out2) || !slices.Equal(whole.items, parts.items) {
				t.Fatalf("split at %d changes the result: %x/%q vs %x/%q", cut, out, whole.items, out2, parts.items)
			}

			// In place gives the same data.
			buf := append([]byte(nil), in...)
			d3 := decoder{BinaryIn: binary, MaxSubneg: 64}
			if got := d3.Decode(buf[:0], buf, &recorder{}); !bytes.Equal(got, out) {
				t.Fatalf("in-place decode differs: %x vs %x", got, out)
			}

			// Round trip of the input as data.
			enc := appendEncoded(nil, in, binary)
			var rt recorder
			d4 := decoder{BinaryIn: binary}
			if got := d4.Decode(nil, enc, &rt); !bytes.Equal(got, in) || len(rt.items) != 0 || d4.Pending() {
				t.Fatalf("round trip: %x -> %x -> %x", in, enc, got)
			}
			// The gathered encoding is the same octets.
			if pieces, ok := appendEncodedPieces(nil, in, binary, len(enc)-len(in)); !ok || !bytes.Equal(bytes.Join(pieces, nil), enc) {
				t.Fatalf("pieces of %x: %x (ok %v), want %x", in, bytes.Join(pieces, nil), ok, enc)
			}
		}
	})
}

// FuzzSession feeds arbitrary octets to a server and a client telnet
// session and then lets each talk to a correct peer: replies stay
// proportional to the input, and the exchange settles (no negotiation
// loop) whatever garbage came first.
func FuzzSession(f *testing.F) {
	f.Add([]byte{255, 253, 1, 255, 251, 24, 255, 250, 24, 0, 'v', 't', 255, 240})
	f.Add([]byte{255, 246, 255, 243, 255, 250, 31, 255, 255, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, server := range []bool{false, true} {
			a := newTelnet(server, Options{TermType: "ansi"})
			a.start()
			opening := len(a.out)
			a.decode(nil, in)
			// Each input octet yields at most an AYT answer or a
			// negotiation reply, plus a TTYPE/NAWS subnegotiation.
			if limit := opening + 16*len(in) + 64; len(a.out) > limit {
				t.Fatalf("%d reply octets for %d input octets", len(a.out), len(in))
			}
			a.finish()
			b := newTelnet(!server, Options{TermType: "ansi"})
			b.start()
			a.out = a.out[:0] // garbage-provoked replies would confuse b
			for round := 0; len(a.out)+len(b.out) > 0; round++ {
				if round > 10 {
					t.Fatalf("negotiation loops after garbage %x", in)
				}
				ao, bo := a.out, b.out
				a.out, b.out = nil, nil
				b.decode(nil, ao)
				a.decode(nil, bo)
			}
		}
	})
}
