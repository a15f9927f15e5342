package lapm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// allKinds lists every valid frame kind with whether it may carry an
// information field.
var allKinds = []struct {
	k    Kind
	info bool
}{
	{KindI, true}, {KindRR, false}, {KindRNR, false}, {KindREJ, false}, {KindSREJ, true},
	{KindSABME, false}, {KindUA, false}, {KindDISC, false}, {KindDM, false},
	{KindFRMR, true}, {KindXID, true}, {KindTEST, true}, {KindUI, true},
}

func minLen(k Kind) int {
	if k == KindI || k.IsSupervisory() {
		return 3
	}
	return 2
}

func TestFrameRoundTripEveryKind(t *testing.T) {
	for _, c := range allKinds {
		for _, addr := range []byte{AddrCR0, AddrCR1} {
			for _, pf := range []bool{false, true} {
				for _, seq := range []uint8{0, 1, 64, 127} {
					f := Frame{Addr: addr, Kind: c.k, PF: pf}
					if c.k == KindI {
						f.NS, f.NR = seq, 127-seq
					} else if c.k.IsSupervisory() {
						f.NR = seq
					}
					if c.info {
						f.Info = []byte{0x40, seq, 0xFF}
					}
					b := f.Append(nil)
					if len(b) != minLen(c.k)+len(f.Info) {
						t.Fatalf("%v: %d octets", f, len(b))
					}
					got, err := ParseFrame(b)
					if err != nil {
						t.Fatalf("%v: %v", f, err)
					}
					if !sameFrame(got, f) {
						t.Fatalf("round trip %v -> % x -> %v", f, b, got)
					}
					// Every strict prefix shorter than the header is
					// rejected; longer ones are the same frame with less
					// information.
					for n := range len(b) {
						p, err := ParseFrame(b[:n])
						switch {
						case n < minLen(c.k):
							if !errors.Is(err, ErrFrameShort) {
								t.Fatalf("%v: prefix %d: %v", f, n, err)
							}
						case err != nil || p.Kind != c.k || len(p.Info) != n-minLen(c.k):
							t.Fatalf("%v: prefix %d: %v %v", f, n, p, err)
						}
					}
					// Trailing octets are rejected where no information
					// field is allowed.
					_, err = ParseFrame(append(b, 0))
					if c.info != (err == nil) {
						t.Fatalf("%v with a trailing octet: %v", f, err)
					}
					if !c.info && !errors.Is(err, ErrFrameInfo) {
						t.Fatalf("%v with a trailing octet: %v", f, err)
					}
				}
			}
		}
	}
}

func sameFrame(a, b Frame) bool {
	a.Info, b.Info = bytes.Clone(a.Info), bytes.Clone(b.Info)
	if len(a.Info) == 0 {
		a.Info = nil
	}
	if len(b.Info) == 0 {
		b.Info = nil
	}
	return reflect.DeepEqual(a, b)
}

func TestFrameWireValues(t *testing.T) {
	for _, c := range []struct {
		f    Frame
		want []byte
	}{
		{Frame{Addr: AddrCR1, Kind: KindSABME, PF: true}, []byte{0x03, 0x7F}},
		{Frame{Addr: AddrCR1, Kind: KindUA, PF: true}, []byte{0x03, 0x73}},
		{Frame{Addr: AddrCR0, Kind: KindDISC}, []byte{0x01, 0x43}},
		{Frame{Addr: AddrCR0, Kind: KindDM, PF: true}, []byte{0x01, 0x1F}},
		{Frame{Addr: AddrCR1, Kind: KindXID, Info: []byte{0x82}}, []byte{0x03, 0xAF, 0x82}},
		{Frame{Addr: AddrCR1, Kind: KindUI, Info: []byte{0x40}}, []byte{0x03, 0x03, 0x40}},
		{Frame{Addr: AddrCR1, Kind: KindFRMR, PF: true}, []byte{0x03, 0x97}},
		{Frame{Addr: AddrCR1, Kind: KindTEST}, []byte{0x03, 0xE3}},
		{Frame{Addr: AddrCR1, Kind: KindRR, NR: 5, PF: true}, []byte{0x03, 0x01, 0x0B}},
		{Frame{Addr: AddrCR1, Kind: KindRNR, NR: 127}, []byte{0x03, 0x05, 0xFE}},
		{Frame{Addr: AddrCR1, Kind: KindREJ, NR: 1}, []byte{0x03, 0x09, 0x02}},
		{Frame{Addr: AddrCR1, Kind: KindSREJ, NR: 2}, []byte{0x03, 0x0D, 0x04}},
		{Frame{Addr: AddrCR0, Kind: KindI, NS: 3, NR: 4, PF: true, Info: []byte("x")}, []byte{0x01, 0x06, 0x09, 'x'}},
		// Sequence numbers are masked to 7 bits.
		{Frame{Addr: AddrCR0, Kind: KindI, NS: 0x83, NR: 0x84}, []byte{0x01, 0x06, 0x08}},
	} {
		if got := c.f.Append(nil); !bytes.Equal(got, c.want) {
			t.Errorf("%v: % x, want % x", c.f, got, c.want)
		}
	}
}

func TestFrameInvalidKindNeverParses(t *testing.T) {
	for _, k := range []Kind{KindInvalid, Kind(14), Kind(255)} {
		f := Frame{Addr: AddrCR1, Kind: k}
		if _, err := ParseFrame(f.Append(nil)); !errors.Is(err, ErrFrameControl) {
			t.Errorf("kind %v: %v", k, err)
		}
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestFrameBadAddress(t *testing.T) {
	for _, a := range []byte{0x00, 0x02, 0x05, 0x07, 0xFF, 0xFD} {
		if _, err := ParseFrame([]byte{a, ctlUA}); !errors.Is(err, ErrFrameAddress) {
			t.Errorf("address %02x: %v", a, err)
		}
	}
}

func TestFrameBadControl(t *testing.T) {
	valid := map[byte]bool{}
	for _, c := range []byte{ctlSABME, ctlUA, ctlDISC, ctlDM, ctlFRMR, ctlXID, ctlTEST, ctlUI} {
		valid[c], valid[c|pfBitU] = true, true
	}
	for c := range 256 {
		b := byte(c)
		var err error
		switch {
		case b&1 == 0: // I frame: any control octet
			continue
		case b&3 == 1:
			_, err = ParseFrame([]byte{AddrCR1, b, 0})
			if (b == ctlRR || b == ctlRNR || b == ctlREJ || b == ctlSREJ) != (err == nil) {
				t.Errorf("S control %02x: %v", b, err)
			}
		default:
			_, err = ParseFrame([]byte{AddrCR1, b})
			if valid[b] != (err == nil) {
				t.Errorf("U control %02x: %v", b, err)
			}
		}
		if err != nil && !errors.Is(err, ErrFrameControl) {
			t.Errorf("control %02x: %v", b, err)
		}
	}
}

func TestRoleAddresses(t *testing.T) {
	// Commands from the originator and responses from the answerer carry
	// C/R=1 (V.42 §8.1.2.2).
	if Originator.CommandAddr() != AddrCR1 || Answerer.ResponseAddr() != AddrCR1 ||
		Answerer.CommandAddr() != AddrCR0 || Originator.ResponseAddr() != AddrCR0 {
		t.Fatal("address octets")
	}
	for _, r := range []Role{Originator, Answerer} {
		peer := Answerer
		if r == Answerer {
			peer = Originator
		}
		if !r.IsCommandFrom(peer.CommandAddr()) || r.IsCommandFrom(peer.ResponseAddr()) {
			t.Fatalf("%v misreads the peer's C/R", r)
		}
	}
	if Originator.String() != "originator" || Answerer.String() != "answerer" {
		t.Fatal("Role.String")
	}
}

func TestFrameString(t *testing.T) {
	for _, c := range []struct {
		f    Frame
		want string
	}{
		{Frame{Kind: KindI, NS: 1, NR: 2, Info: []byte{1}}, "I(ns=1 nr=2 p=false len=1)"},
		{Frame{Kind: KindRR, NR: 3, PF: true}, "RR(nr=3 pf=true)"},
		{Frame{Kind: KindXID, Info: []byte{1, 2}}, "XID(pf=false len=2)"},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
