package lapm

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
)

// Seeds in testdata/fuzz/<FuzzName>/ run in every plain `go test`.

// FuzzFrame: ParseFrame never panics, and whatever it accepts re-encodes
// to the same octets.
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0x03, 0x7F})
	f.Add([]byte{0x01, 0x06, 0x09, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		if got := fr.Append(nil); !bytes.Equal(got, b) {
			t.Fatalf("% x parsed as %v re-encodes as % x", b, fr, got)
		}
	})
}

// FuzzXID: ParseXID never panics or reads past its input, and whatever it
// accepts re-encodes to a field that parses to the same values.
func FuzzXID(f *testing.F) {
	f.Add(spandspXID)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Parse a copy with no spare capacity: a read past the end
		// panics instead of reading a neighbour's bytes.
		x, err := ParseXID(slices.Clip(slices.Clone(b)))
		if err != nil {
			return
		}
		if err := x.Validate(); err != nil {
			t.Fatalf("parsed field does not validate: %v", err)
		}
		y, err := ParseXID(x.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded field does not parse: %v", err)
		}
		if !reflect.DeepEqual(normXID(x), normXID(y)) {
			t.Fatalf("round trip\n got %+v\nwant %+v", y, x)
		}
		// Negotiation on any parsed field stays within bounds.
		resp, n := Respond(ours, x)
		if n.N401Tx < 1 || n.N401Tx > MaxN401 || n.KTx < 1 || n.KTx > MaxK || n.N401Rx > MaxN401 || n.KRx > MaxK {
			t.Fatalf("Respond: %+v", n)
		}
		if _, err := ParseXID(resp.Append(nil)); err != nil {
			t.Fatalf("response does not parse: %v", err)
		}
		if n, err := Apply(ours, x); err == nil && (n.N401Tx > MaxN401 || n.KRx > MaxK) {
			t.Fatalf("Apply: %+v", n)
		}
	})
}

// normXID makes empty private values and parameter lists comparable.
func normXID(x XIDParams) XIDParams {
	x.Private = slices.Clone(x.Private)
	for i, s := range x.Private {
		ps := slices.Clone(s.Params)
		for j := range ps {
			if len(ps[j].Value) == 0 {
				ps[j].Value = nil
			}
		}
		if len(ps) == 0 {
			ps = nil
		}
		x.Private[i].Params = ps
	}
	if len(x.Private) == 0 {
		x.Private = nil
	}
	return x
}

// FuzzDeframe: the Decoder never panics on arbitrary line octets, keeps
// its memory bounded, agrees with the bit-at-a-time reference, and passes
// an arbitrary frame through the Encoder unchanged.
func FuzzDeframe(f *testing.F) {
	f.Add([]byte{0x7E, 0x03, 0x7F, 0x5F, 0xAE, 0x7E}, byte(1), false)
	f.Fuzz(checkDeframe)
}

// FuzzDeframeFrames is FuzzDeframe on a line built from a script
// (lineFromScript, as FuzzFeedDualFrames's), so that the Decoder and the
// bit-at-a-time reference meet frames that pass their FCS check between
// garbage, aborts and flags, which raw octets from the fuzzer almost
// never hold.
func FuzzDeframeFrames(f *testing.F) {
	f.Add([]byte{0, 3, AddrCR1, 0xAF, 1, 2, 3, 0x7E, 0xFF, 0x01, 0, 2, AddrCR1, 0x7F}, byte(3), false)
	f.Add([]byte{1, 4, AddrCR1, 0x00, 0x00, 'x', 3, 0, 1, 40, 4, 0}, byte(7), true)
	f.Fuzz(func(t *testing.T, script []byte, chunk byte, fcs32 bool) {
		checkDeframe(t, lineFromScript(script), chunk, fcs32)
	})
}

// checkDeframe is FuzzDeframe's check of one line read chunk octets at a
// time (modulo 16, plus one).
func checkDeframe(t *testing.T, line []byte, chunk byte, fcs32 bool) {
	k := FCS16
	if fcs32 {
		k = FCS32
	}
	const max = 64
	d := Decoder{FCS: k, MaxFrame: max}
	ref := refDecoder{fcs: k, maxFrame: max}
	var got, want [][]byte
	step := int(chunk%16) + 1
	for p := line; len(p) > 0; {
		n := min(step, len(p))
		d.Feed(p[:n], func(f []byte) {
			if len(f) > max {
				t.Fatalf("frame of %d octets passed MaxFrame %d", len(f), max)
			}
			got = append(got, slices.Clone(f))
		})
		if cap(d.buf) > max+4+24 {
			t.Fatalf("decoder buffer grew to %d", cap(d.buf))
		}
		p = p[n:]
	}
	// Two flags resolve the bits the decoder still holds back as
	// lookahead, so both have seen the same bits when compared.
	d.Feed([]byte{flag, flag}, func(f []byte) { got = append(got, slices.Clone(f)) })
	ref.feed(append(slices.Clone(line), flag, flag), func(f []byte) { want = append(want, slices.Clone(f)) })
	if d.Stats() != ref.st || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoder %+v %d frames, reference %+v %d frames", d.Stats(), len(got), ref.st, len(want))
	}

	// feedKeep, keeping every other frame without copying it: the
	// same frames, and a kept frame is never written to again.
	dk := Decoder{FCS: k, MaxFrame: max}
	var kept, all [][]byte
	keepFrame := func(f []byte) bool {
		keep := len(all)%2 == 0
		if keep {
			kept = append(kept, f)
			all = append(all, f)
		} else {
			all = append(all, slices.Clone(f))
		}
		return keep
	}
	for p := line; len(p) > 0; {
		n := min(step, len(p))
		dk.feedKeep(p[:n], keepFrame)
		p = p[n:]
	}
	dk.feedKeep([]byte{flag, flag}, keepFrame)
	if dk.Stats() != ref.st || !reflect.DeepEqual(all, want) {
		t.Fatalf("feedKeep %+v %d frames, reference %+v %d frames", dk.Stats(), len(all), ref.st, len(want))
	}
	for i, f := range kept {
		if !bytes.Equal(f, want[2*i]) {
			t.Fatalf("kept frame %d changed after it was kept", 2*i)
		}
	}

	// Round trip: line as a frame.
	e := Encoder{FCS: k}
	enc := e.AppendFrame(nil, line)
	d2 := Decoder{FCS: k, MaxFrame: max}
	var out [][]byte
	d2.Feed(enc, func(f []byte) { out = append(out, slices.Clone(f)) })
	d2.Feed([]byte{0x7E}, func(f []byte) { out = append(out, slices.Clone(f)) })
	switch {
	case len(line) < 2:
		if len(out) != 0 || d2.Stats().TooShort != 1 {
			t.Fatalf("short frame: %d out, %+v", len(out), d2.Stats())
		}
	case len(line) > max:
		if len(out) != 0 || d2.Stats().TooLong != 1 {
			t.Fatalf("long frame: %d out, %+v", len(out), d2.Stats())
		}
	default:
		if len(out) != 1 || !bytes.Equal(out[0], line) || d2.Stats() != (DecoderStats{Frames: 1}) {
			t.Fatalf("round trip: %d frames, %+v", len(out), d2.Stats())
		}
	}
}

// FuzzDetect: the Detector never panics, reports consumed within its
// input, stays decided, and never holds more than its bound.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("\x11\x91\x11\x91"), false, byte(3))
	f.Fuzz(func(t *testing.T, in []byte, answerer bool, chunk byte) {
		r := Originator
		if answerer {
			r = Answerer
		}
		d := NewDetector(r)
		d.Start(dt0)
		var decided DetectResult
		step := int(chunk%8) + 1
		for p := in; len(p) > 0; {
			n := min(step, len(p))
			send, res, consumed := d.Receive(dt0, p[:n])
			if consumed < 0 || consumed > n {
				t.Fatalf("consumed %d of %d", consumed, n)
			}
			if decided != 0 && (res != decided || consumed != 0 || len(send) != 0) {
				t.Fatalf("decision changed: %v then %v (consumed %d)", decided, res, consumed)
			}
			if res == 0 && consumed != n {
				t.Fatalf("undecided but consumed %d of %d", consumed, n)
			}
			if len(send) > 0 && (r != Answerer || res != DetectLAPM) {
				t.Fatalf("unexpected send % x", send)
			}
			if res == DetectLAPM && len(d.Held()) > 1 {
				t.Fatalf("LAPM with held octets % x", d.Held())
			}
			if len(d.Held()) > maxHeld {
				t.Fatalf("held %d octets", len(d.Held()))
			}
			decided = res
			p = p[n:]
		}
		if _, res, _ := d.Timeout(dt0.Add(T400)); decided == 0 && res != DetectTimeout || decided != 0 && res != decided {
			t.Fatalf("timeout: %v after %v", res, decided)
		}
	})
}
