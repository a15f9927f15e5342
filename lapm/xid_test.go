package lapm

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// spandspXID is the XID field spandsp 0.0.6 sends (transmit_xid in v42.c):
// a four-octet PI 3 with bits 2, 4, 8, 9, 12 and 16, N401 128 (1024 bits)
// and k 15 both ways. It sends the same field as command and response.
var spandspXID = []byte{
	0x82, 0x80, 0x00, 0x14,
	0x03, 0x04, 0x8A, 0x89, 0x00, 0x00,
	0x05, 0x02, 0x04, 0x00,
	0x06, 0x02, 0x04, 0x00,
	0x07, 0x01, 0x0F,
	0x08, 0x01, 0x0F,
}

var ours = LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}

func TestOfferEncoding(t *testing.T) {
	x := ours.Offer()
	got := x.Append(nil)
	want := []byte{
		0x82, 0x80, 0x00, 0x13,
		0x03, 0x03, 0x8E, 0x89, 0x01, // bits 2,3,4,8 | 9,12,16 | 17
		0x05, 0x02, 0x80, 0x00, // 4096 octets = 32768 bits
		0x06, 0x02, 0x80, 0x00,
		0x07, 0x01, 0x3F,
		0x08, 0x01, 0x3F,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("offer\n got % x\nwant % x", got, want)
	}
	back, err := ParseXID(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, x) {
		t.Fatalf("round trip: %+v, want %+v", back, x)
	}
}

func TestSpandspOffer(t *testing.T) {
	cmd, err := ParseXID(spandspXID)
	if err != nil {
		t.Fatal(err)
	}
	if !cmd.HasOptionalFunctions || cmd.OptionalFunctions != OptMandatory {
		t.Fatalf("PI 3 = %#x, want %#x", cmd.OptionalFunctions, OptMandatory)
	}
	if cmd.N401Tx != 128 || cmd.N401Rx != 128 || cmd.KTx != 15 || cmd.KRx != 15 {
		t.Fatalf("parsed %+v", cmd)
	}
	// We answer spandsp's command: defaults.
	resp, n := Respond(ours, cmd)
	if n != DefaultNegotiated() {
		t.Fatalf("responder result %+v, want defaults", n)
	}
	if resp.OptionalFunctions != OptMandatory || resp.N401Tx != 128 || resp.KRx != 15 {
		t.Fatalf("response %+v", resp)
	}
	// spandsp answers our command with its own configuration.
	n, err = Apply(ours, cmd)
	if err != nil || n != DefaultNegotiated() {
		t.Fatalf("Apply(spandsp response) = %+v, %v; want defaults", n, err)
	}
}

func TestNegotiateBothOurs(t *testing.T) {
	cmd := ours.Offer()
	wire, err := ParseXID(cmd.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp, rn := Respond(ours, wire)
	if resp.OptionalFunctions&OptFCS16 != 0 || resp.OptionalFunctions&OptFCS32 == 0 {
		t.Fatalf("response options %#x: want bit 17 set and bit 16 clear", resp.OptionalFunctions)
	}
	respWire, err := ParseXID(resp.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	cn, err := Apply(ours, respWire)
	if err != nil {
		t.Fatal(err)
	}
	want := Negotiated{FCS: FCS32, SREJ: true, N401Tx: 4096, N401Rx: 4096, KTx: 63, KRx: 63}
	if cn != want || rn != want {
		t.Fatalf("command sender %+v, responder %+v, want %+v", cn, rn, want)
	}
}

func TestNegotiateAsymmetric(t *testing.T) {
	// The caller can send 1024 but receive only 256, window 31 out, 7 in.
	cmd := XIDParams{OptionalFunctions: OptMandatory | OptSREJ, HasOptionalFunctions: true,
		N401Tx: 1024, N401Rx: 256, KTx: 31, KRx: 7}
	local := LinkParams{N401: 2048, K: 63, SREJ: true}
	resp, rn := Respond(local, cmd)
	// Responder: it may send 256 (the caller's receive size), receive
	// 1024; k towards the caller is 7 -> default rule gives 15 (opposite
	// sides of the default), k from the caller 31.
	want := Negotiated{FCS: FCS16, SREJ: true, N401Tx: 256, N401Rx: 1024, KTx: DefaultK, KRx: 31}
	if rn != want {
		t.Fatalf("responder %+v, want %+v", rn, want)
	}
	if resp.N401Tx != 256 || resp.N401Rx != 1024 {
		t.Fatalf("response not from the responder's point of view: %+v", resp)
	}
	callerLocal := LinkParams{N401: 1024, K: 31, SREJ: true}
	cn, err := Apply(callerLocal, resp)
	if err != nil {
		t.Fatal(err)
	}
	if cn.N401Tx != rn.N401Rx || cn.N401Rx != rn.N401Tx || cn.KTx != rn.KRx || cn.KRx != rn.KTx || !cn.SREJ {
		t.Fatalf("ends disagree: caller %+v, answerer %+v", cn, rn)
	}
}

func TestPick(t *testing.T) {
	for _, c := range []struct{ local, peer, def, want int }{
		{4096, 0, 128, 128},
		{4096, 1024, 128, 1024},
		{512, 1024, 128, 512},
		{4096, 64, 128, 128},
		{64, 4096, 128, 128},
		{64, 100, 128, 100},
		{100, 64, 128, 100},
	} {
		if got := pick(c.local, c.peer, c.def); got != c.want {
			t.Errorf("pick(%d, %d, %d) = %d, want %d", c.local, c.peer, c.def, got, c.want)
		}
	}
}

func TestApplyRejectsUnofferedOptions(t *testing.T) {
	plain := LinkParams{}
	for _, o := range []uint32{OptSREJ, OptFCS32} {
		_, err := Apply(plain, XIDParams{OptionalFunctions: OptMandatory | o, HasOptionalFunctions: true})
		if !errors.Is(err, ErrXID) {
			t.Errorf("option %#x not offered: err %v", o, err)
		}
	}
	n, err := Apply(ours, XIDParams{})
	if err != nil || n != DefaultNegotiated() {
		t.Fatalf("empty response: %+v %v", n, err)
	}
}

func TestXIDPrivateAndUserData(t *testing.T) {
	x := XIDParams{
		OptionalFunctions: OptMandatory, HasOptionalFunctions: true,
		Private: []PrivateSet{
			{ID: "V42", Params: []Param{{1, []byte{0}}, {2, []byte{0x08, 0x00}}}},
			{ID: "DGAS1", Params: []Param{{1, bytes.Repeat([]byte{0xAB}, 255)}, {1, []byte{1, 2}}, {1, []byte{}}}},
		},
		UserData: []byte("hello\xff\x82"),
	}
	if err := x.Validate(); err != nil {
		t.Fatal(err)
	}
	b := x.Append(nil)
	got, err := ParseXID(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, x)
	}
	if s, ok := got.FindPrivate("DGAS1"); !ok || len(s.Params) != 3 {
		t.Fatalf("FindPrivate: %v %v", s, ok)
	}
	if _, ok := got.FindPrivate("nope"); ok {
		t.Fatal("FindPrivate found a missing set")
	}
	// Empty user data is present but empty.
	y := XIDParams{UserData: []byte{}}
	if got, err := ParseXID(y.Append(nil)); err != nil || got.UserData == nil || len(got.UserData) != 0 {
		t.Fatalf("empty user data: %+v %v", got, err)
	}
}

// TestXIDPrefixes: a prefix that cuts a group or a parameter must be
// rejected; one that ends on a group boundary is a shorter valid field.
func TestXIDPrefixes(t *testing.T) {
	x := ours.Offer()
	x.Private = []PrivateSet{{ID: "DGAS1", Params: []Param{{1, []byte("abc")}}}, {ID: "X"}}
	b := x.Append(nil)
	boundaries := map[int]bool{1: true}
	i := 1
	for i < len(b) {
		i += 3 + (int(b[i+1])<<8 | int(b[i+2]))
		boundaries[i] = true
	}
	for n := range len(b) {
		_, err := ParseXID(b[:n])
		if boundaries[n] {
			if err != nil {
				t.Errorf("prefix %d (group boundary): %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrXID) {
			t.Errorf("prefix %d of %d accepted", n, len(b))
		}
	}
}

func TestXIDErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"format", []byte{0x81}, "format identifier"},
		{"group length", []byte{0x82, 0x80, 0x00, 0x05, 0x07, 0x01, 0x0F}, "length 5 exceeds"},
		{"param length", []byte{0x82, 0x80, 0x00, 0x03, 0x07, 0x02, 0x0F}, "PI 7 length 2 exceeds"},
		{"param header", []byte{0x82, 0x80, 0x00, 0x01, 0x07}, "parameter header"},
		{"k zero", []byte{0x82, 0x80, 0x00, 0x03, 0x07, 0x01, 0x00}, "PI 7 (k)"},
		{"k 128", []byte{0x82, 0x80, 0x00, 0x03, 0x08, 0x01, 0x80}, "PI 8 (k)"},
		{"n401 zero", []byte{0x82, 0x80, 0x00, 0x04, 0x05, 0x02, 0x00, 0x07}, "PI 5 (N401)"},
		{"pi3 five octets", []byte{0x82, 0x80, 0x00, 0x07, 0x03, 0x05, 1, 2, 3, 4, 5}, "PI 3 value of 5"},
		{"duplicate", []byte{0x82, 0x80, 0x00, 0x06, 0x07, 0x01, 0x0F, 0x07, 0x01, 0x0F}, "PI 7 repeated"},
		{"duplicate group", []byte{0x82, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00}, "group 0x80 repeated"},
		{"private without id", []byte{0x82, 0xF0, 0x00, 0x03, 0x01, 0x01, 0x00}, "before the parameter set ID"},
		{"private length", []byte{0x82, 0xF0, 0x00, 0x03, 0x00, 0x03, 0x00}, "PI 0 length 3"},
		{"group header", []byte{0x82, 0xF0, 0x00}, "header of 2 octets"},
		{"empty", nil, "empty"},
	} {
		_, err := ParseXID(c.b)
		if !errors.Is(err, ErrXID) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "lapm: ") {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
}

func TestXIDSkipsUnknown(t *testing.T) {
	b := []byte{
		0x82,
		0x11, 0x00, 0x02, 0xAA, 0xBB, // unknown group
		0x80, 0x00, 0x0A,
		0x02, 0x01, 0x55, // PI 2 (classes of procedures): skipped
		0x09, 0x02, 0x01, 0x02, // PI 9 (timer): skipped
		0x07, 0x01, 0x20,
		0x80 + 0x70, 0x00, 0x00, // empty private group
	}
	x, err := ParseXID(b)
	if err != nil {
		t.Fatal(err)
	}
	if x.KTx != 32 || x.HasOptionalFunctions || x.N401Tx != 0 || len(x.Private) != 0 {
		t.Fatalf("parsed %+v", x)
	}
	// PI 3 with three octets, as Rockwell modems send it.
	x, err = ParseXID([]byte{0x82, 0x80, 0x00, 0x05, 0x03, 0x03, 0x8A, 0x89, 0x01})
	if err != nil || x.OptionalFunctions != OptMandatory|OptFCS32 {
		t.Fatalf("three-octet PI 3: %+v %v", x, err)
	}
}

func TestXIDValidate(t *testing.T) {
	bad := []XIDParams{
		{KTx: 128},
		{N401Rx: -1},
		{Private: []PrivateSet{{ID: strings.Repeat("x", 256)}}},
		{Private: []PrivateSet{{ID: "a", Params: []Param{{0, nil}}}}},
		{Private: []PrivateSet{{ID: "a", Params: []Param{{1, make([]byte, 256)}}}}},
		{Private: []PrivateSet{{ID: "a", Params: make([]Param, 300)}}},
	}
	bad[5].Private[0].Params[0].PI = 1
	for i := range bad[5].Private[0].Params {
		bad[5].Private[0].Params[i] = Param{PI: 1, Value: make([]byte, 255)}
	}
	for i, x := range bad {
		if err := x.Validate(); !errors.Is(err, ErrXID) {
			t.Errorf("case %d: Validate = %v", i, err)
		}
		// Append leaves out what it cannot encode and stays parseable.
		if _, err := ParseXID(x.Append(nil)); err != nil {
			t.Errorf("case %d: Append output does not parse: %v", i, err)
		}
	}
}

// TestNegotiateSREJWindow: selective reject is used with windows of at
// most MaxKSREJ (an old frame's copy must not read as a new one modulo
// 128): the offer, the response to a peer offering 127 and the result
// of a response with 127 all keep k there; without SREJ k goes to 127.
func TestNegotiateSREJWindow(t *testing.T) {
	local := LinkParams{N401: 4096, K: 127, SREJ: true, FCS32: true}
	if o := local.Offer(); o.KTx != MaxKSREJ || o.KRx != MaxKSREJ {
		t.Errorf("offer with SREJ: k %d/%d, want %d", o.KTx, o.KRx, MaxKSREJ)
	}
	peer := XIDParams{OptionalFunctions: OptMandatory | OptSREJ | OptFCS32, HasOptionalFunctions: true, N401Tx: 4096, N401Rx: 4096, KTx: 127, KRx: 127}
	resp, rn := Respond(local, peer)
	if !rn.SREJ || rn.KTx != MaxKSREJ || rn.KRx != MaxKSREJ || resp.KTx != MaxKSREJ || resp.KRx != MaxKSREJ {
		t.Errorf("respond: %+v, response k %d/%d", rn, resp.KTx, resp.KRx)
	}
	cn, err := Apply(local, peer) // a responder that kept its own 127
	if err != nil || !cn.SREJ || cn.KTx != MaxKSREJ || cn.KRx != MaxKSREJ {
		t.Errorf("apply: %+v, %v", cn, err)
	}
	noSREJ := LinkParams{N401: 4096, K: 127, FCS32: true}
	if o := noSREJ.Offer(); o.KTx != 127 {
		t.Errorf("offer without SREJ: k %d", o.KTx)
	}
	if _, n := Respond(noSREJ, peer); n.SREJ || n.KTx != 127 || n.KRx != 127 {
		t.Errorf("respond without SREJ: %+v", n)
	}
}
