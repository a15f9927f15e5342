package lapm

import (
	"errors"
	"fmt"
	"slices"
)

// XID information field (V.42 §8.10 and §12, Tables 11a and 11b; encoding rules
// of ISO/IEC 8885):
//
//	+------+------------------------------------------+-----+
//	| FI   | group: GI (1) | GL (2, big-endian) | PIs | ... |
//	| 0x82 |                                          |     |
//	+------+------------------------------------------+-----+
//	parameter: PI (1) | PL (1) | PV (PL octets, big-endian for numbers)
//
// Groups: 0x80 parameter negotiation, 0xF0 private parameter sets (PI 0
// names the set), 0xFF user data (no GL; runs to the end of the field).

// XID subfield identifiers.
const (
	xidFormatID   = 0x82 // format identifier, general purpose (ISO/IEC 8885)
	xidGroupParam = 0x80 // parameter negotiation group
	xidGroupPriv  = 0xF0 // private parameter negotiation group
	xidGroupUser  = 0xFF // user data subfield

	piOptional = 3 // HDLC optional functions
	piN401Tx   = 5 // maximum I field length, transmit, in bits
	piN401Rx   = 6 // maximum I field length, receive, in bits
	piKTx      = 7 // window size, transmit
	piKRx      = 8 // window size, receive
	piSetID    = 0 // private parameter set identification
)

// HDLC optional functions (V.42 Table 11a): bit n of the standard is
// 1<<(n-1) in XIDParams.OptionalFunctions.
const (
	// OptMandatory are the bits the sender of an XID command sets for
	// conformance with ISO/IEC 8885: 2 (REJ), 4 (I frames as commands
	// and responses), 8 (I frames as responses and commands), 9
	// (modulo 128), 12 (start/stop transparency, octet), 16 (16-bit FCS).
	OptMandatory uint32 = 1<<(2-1) | 1<<(4-1) | 1<<(8-1) | 1<<(9-1) | 1<<(12-1) | 1<<(16-1)
	OptSREJ      uint32 = 1 << (3 - 1)  // selective reject, one I frame per SREJ
	OptTEST      uint32 = 1 << (14 - 1) // loop-back test (TEST frames)
	OptFCS16     uint32 = 1 << (16 - 1) // 16-bit FCS
	OptFCS32     uint32 = 1 << (17 - 1) // 32-bit FCS
	OptMultiSREJ uint32 = 1 << (24 - 1) // SREJ with a span list
)

// Parameter defaults (V.42 §9.2).
const (
	DefaultN401 = 128 // octets
	DefaultK    = 15
	MaxK        = 127 // modulo 128
	// MaxKSREJ is the largest window used with selective reject: with
	// modulo 128, a window over half the sequence space lets a copy of
	// an old frame, sent again after a poll or an SREJ, read as a new
	// frame after a gap and be delivered in its place. So an offer
	// with SREJ, and a result that uses it, have k at most 64.
	MaxKSREJ = 64
)

// ErrXID is wrapped by every ParseXID, Apply and Validate error.
var ErrXID = errors.New("lapm: bad XID information field")

// XIDParams is a decoded XID information field.
type XIDParams struct {
	// OptionalFunctions is PI 3, the HDLC optional functions bit mask;
	// bit n of the standard is 1<<(n-1). Present if HasOptionalFunctions.
	OptionalFunctions    uint32
	HasOptionalFunctions bool
	// N401Tx and N401Rx are PI 5 and PI 6 in octets (the wire carries
	// bits); 0 means absent. Tx and Rx are from the sender's point of view.
	N401Tx, N401Rx int
	// KTx and KRx are PI 7 and PI 8; 0 means absent.
	KTx, KRx int
	// Private are the private parameter sets (group 0xF0), in order.
	Private []PrivateSet
	// UserData is the user data subfield (group 0xFF); nil if absent.
	UserData []byte
}

// PrivateSet is one private parameter set: PI 0 carries its ID, the
// parameters follow (V.42 Table 11b; V.42bis uses the ID "V42").
type PrivateSet struct {
	ID     string
	Params []Param
}

// Param is one parameter of a private set. PI 0 is reserved for the ID.
type Param struct {
	PI    byte
	Value []byte
}

// Validate reports parameters that Append cannot encode: values over 255
// octets, private parameters with PI 0, groups over 65535 octets, numbers
// that do not fit their field.
func (x *XIDParams) Validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"N401 transmit", x.N401Tx}, {"N401 receive", x.N401Rx}} {
		if v.n < 0 || v.n > 1<<29-1 {
			return fmt.Errorf("%w: %s %d out of range", ErrXID, v.name, v.n)
		}
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"k transmit", x.KTx}, {"k receive", x.KRx}} {
		if v.n < 0 || v.n > MaxK {
			return fmt.Errorf("%w: %s %d out of range", ErrXID, v.name, v.n)
		}
	}
	for _, s := range x.Private {
		if len(s.ID) > 255 {
			return fmt.Errorf("%w: private set ID of %d octets", ErrXID, len(s.ID))
		}
		gl := 2 + len(s.ID)
		for _, p := range s.Params {
			if p.PI == piSetID {
				return fmt.Errorf("%w: private set %q: parameter with PI 0", ErrXID, s.ID)
			}
			if len(p.Value) > 255 {
				return fmt.Errorf("%w: private set %q: PI %d value of %d octets", ErrXID, s.ID, p.PI, len(p.Value))
			}
			gl += 2 + len(p.Value)
		}
		if gl > 0xFFFF {
			return fmt.Errorf("%w: private set %q: group of %d octets", ErrXID, s.ID, gl)
		}
	}
	return nil
}

// Append appends the XID information field (format identifier and groups)
// to dst. Parameters that Validate rejects are left out, so a caller that
// builds XIDParams from untrusted sizes checks Validate first.
func (x *XIDParams) Append(dst []byte) []byte {
	dst = append(dst, xidFormatID)
	if x.HasOptionalFunctions || x.N401Tx > 0 || x.N401Rx > 0 || x.KTx > 0 || x.KRx > 0 {
		dst = append(dst, xidGroupParam, 0, 0)
		start := len(dst)
		if x.HasOptionalFunctions {
			// Three octets unless a bit above 24 is set: some modems
			// (Rockwell) drop an XID whose PI 3 has four.
			n := 3
			if x.OptionalFunctions > 0xFFFFFF {
				n = 4
			}
			dst = append(dst, piOptional, byte(n))
			for i := range n {
				dst = append(dst, byte(x.OptionalFunctions>>(8*i)))
			}
		}
		dst = appendNumber(dst, piN401Tx, x.N401Tx*8, 2, 1<<32-1)
		dst = appendNumber(dst, piN401Rx, x.N401Rx*8, 2, 1<<32-1)
		dst = appendNumber(dst, piKTx, x.KTx, 1, MaxK)
		dst = appendNumber(dst, piKRx, x.KRx, 1, MaxK)
		gl := len(dst) - start
		dst[start-2], dst[start-1] = byte(gl>>8), byte(gl)
	}
	for _, s := range x.Private {
		if len(s.ID) > 255 {
			continue
		}
		dst = append(dst, xidGroupPriv, 0, 0)
		start := len(dst)
		dst = append(dst, piSetID, byte(len(s.ID)))
		dst = append(dst, s.ID...)
		for _, p := range s.Params {
			if p.PI == piSetID || len(p.Value) > 255 || len(dst)-start+2+len(p.Value) > 0xFFFF {
				continue
			}
			dst = append(dst, p.PI, byte(len(p.Value)))
			dst = append(dst, p.Value...)
		}
		gl := len(dst) - start
		dst[start-2], dst[start-1] = byte(gl>>8), byte(gl)
	}
	if x.UserData != nil {
		dst = append(dst, xidGroupUser)
		dst = append(dst, x.UserData...)
	}
	return dst
}

// appendNumber appends parameter pi with value v big-endian in at least
// minLen octets; v <= 0 or v > max means absent.
func appendNumber(dst []byte, pi byte, v, minLen, max int) []byte {
	if v <= 0 || v > max {
		return dst
	}
	n := minLen
	for n < 4 && v>>(8*n) != 0 {
		n++
	}
	dst = append(dst, pi, byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// ParseXID decodes an XID information field. Unknown groups and unknown
// parameters of group 0x80 are skipped by their length; a length that runs
// past its group or the field, a duplicate parameter or group, or a value
// out of range is an error naming the field. It never reads outside b.
// Private parameter values and UserData alias b.
func ParseXID(b []byte) (XIDParams, error) {
	var x XIDParams
	if len(b) == 0 {
		return x, fmt.Errorf("%w: empty (no format identifier)", ErrXID)
	}
	if b[0] != xidFormatID {
		return x, fmt.Errorf("%w: format identifier 0x%02x, want 0x82", ErrXID, b[0])
	}
	b = b[1:]
	seenParam := false
	for len(b) > 0 {
		gi := b[0]
		if gi == xidGroupUser {
			x.UserData = b[1:]
			break
		}
		if len(b) < 3 {
			return x, fmt.Errorf("%w: group 0x%02x: header of %d octets, want 3", ErrXID, gi, len(b))
		}
		gl := int(b[1])<<8 | int(b[2])
		if gl > len(b)-3 {
			return x, fmt.Errorf("%w: group 0x%02x: length %d exceeds the %d octets left", ErrXID, gi, gl, len(b)-3)
		}
		g := b[3 : 3+gl]
		b = b[3+gl:]
		switch gi {
		case xidGroupParam:
			if seenParam {
				return x, fmt.Errorf("%w: group 0x80 repeated", ErrXID)
			}
			seenParam = true
			if err := x.parseParamGroup(g); err != nil {
				return x, err
			}
		case xidGroupPriv:
			if err := x.parsePrivateGroup(g); err != nil {
				return x, err
			}
		}
	}
	return x, nil
}

// nextParam splits the first PI PL PV off g.
func nextParam(g []byte, group byte) (pi byte, v, rest []byte, err error) {
	if len(g) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: group 0x%02x: parameter header of %d octets, want 2", ErrXID, group, len(g))
	}
	pl := int(g[1])
	if pl > len(g)-2 {
		return 0, nil, nil, fmt.Errorf("%w: group 0x%02x: PI %d length %d exceeds the %d octets left", ErrXID, group, g[0], pl, len(g)-2)
	}
	return g[0], g[2 : 2+pl], g[2+pl:], nil
}

func (x *XIDParams) parseParamGroup(g []byte) error {
	var seen [256]bool
	for len(g) > 0 {
		pi, v, rest, err := nextParam(g, xidGroupParam)
		if err != nil {
			return err
		}
		g = rest
		switch pi {
		case piOptional, piN401Tx, piN401Rx, piKTx, piKRx:
		default:
			continue // unknown: skipped by length
		}
		if seen[pi] {
			return fmt.Errorf("%w: group 0x80: PI %d repeated", ErrXID, pi)
		}
		seen[pi] = true
		if len(v) == 0 || len(v) > 4 {
			return fmt.Errorf("%w: group 0x80: PI %d value of %d octets, want 1 to 4", ErrXID, pi, len(v))
		}
		switch pi {
		case piOptional:
			// Bit 1 is the low bit of the first octet (V.42 Table 11a).
			var m uint32
			for i, c := range v {
				m |= uint32(c) << (8 * i)
			}
			x.OptionalFunctions, x.HasOptionalFunctions = m, true
		case piN401Tx, piN401Rx:
			n := int(be(v) / 8)
			if n == 0 {
				return fmt.Errorf("%w: group 0x80: PI %d (N401) is %d bits, less than one octet", ErrXID, pi, be(v))
			}
			if pi == piN401Tx {
				x.N401Tx = n
			} else {
				x.N401Rx = n
			}
		case piKTx, piKRx:
			k := be(v)
			if k == 0 || k > MaxK {
				return fmt.Errorf("%w: group 0x80: PI %d (k) is %d, want 1 to %d", ErrXID, pi, k, MaxK)
			}
			if pi == piKTx {
				x.KTx = int(k)
			} else {
				x.KRx = int(k)
			}
		}
	}
	return nil
}

func (x *XIDParams) parsePrivateGroup(g []byte) error {
	var cur *PrivateSet
	for len(g) > 0 {
		pi, v, rest, err := nextParam(g, xidGroupPriv)
		if err != nil {
			return err
		}
		g = rest
		if pi == piSetID {
			x.Private = append(x.Private, PrivateSet{ID: string(v)})
			cur = &x.Private[len(x.Private)-1]
			continue
		}
		if cur == nil {
			return fmt.Errorf("%w: group 0xF0: PI %d before the parameter set ID (PI 0)", ErrXID, pi)
		}
		cur.Params = append(cur.Params, Param{PI: pi, Value: v})
	}
	return nil
}

func be(v []byte) uint64 {
	var n uint64
	for _, c := range v {
		n = n<<8 | uint64(c)
	}
	return n
}

// FindPrivate returns the first private parameter set with the given ID.
func (x *XIDParams) FindPrivate(id string) (PrivateSet, bool) {
	i := slices.IndexFunc(x.Private, func(s PrivateSet) bool { return s.ID == id })
	if i < 0 {
		return PrivateSet{}, false
	}
	return x.Private[i], true
}

// LinkParams is what a station is willing to use; it offers these values
// in its XID command and accepts at most these in negotiation.
type LinkParams struct {
	N401  int  // largest I field, octets; 0 means DefaultN401; at most MaxN401
	K     int  // window; 0 means DefaultK; at most MaxK
	FCS32 bool // offer the 32-bit FCS
	SREJ  bool // offer selective reject
}

// Negotiated is the result of the XID parameter negotiation, from the local
// station's point of view.
type Negotiated struct {
	FCS    FCSKind
	SREJ   bool
	N401Tx int // largest I field we may send, octets
	N401Rx int // largest I field the peer may send us
	KTx    int // window of I frames we may have outstanding
	KRx    int // window the peer may have outstanding towards us
}

// DefaultNegotiated is what applies without (or before) XID negotiation:
// FCS-16, REJ recovery only, N401 128 and k 15 both ways (V.42 §9.2).
func DefaultNegotiated() Negotiated {
	return Negotiated{FCS: FCS16, N401Tx: DefaultN401, N401Rx: DefaultN401, KTx: DefaultK, KRx: DefaultK}
}

func (p LinkParams) n401() int {
	switch {
	case p.N401 <= 0:
		return DefaultN401
	case p.N401 > MaxN401:
		return MaxN401
	}
	return p.N401
}

func (p LinkParams) k() int {
	switch {
	case p.K <= 0:
		return DefaultK
	case p.K > MaxK:
		return MaxK
	}
	return p.K
}

func (p LinkParams) options() uint32 {
	o := OptMandatory
	if p.SREJ {
		o |= OptSREJ
	}
	if p.FCS32 {
		o |= OptFCS32
	}
	return o
}

// Offer returns the XID command a station with these parameters sends:
// with SREJ, k is at most MaxKSREJ.
func (p LinkParams) Offer() XIDParams {
	k := p.k()
	if p.SREJ {
		k = min(k, MaxKSREJ)
	}
	return XIDParams{
		OptionalFunctions: p.options(), HasOptionalFunctions: true,
		N401Tx: p.n401(), N401Rx: p.n401(),
		KTx: k, KRx: k,
	}
}

// capSREJ limits a result that uses SREJ to windows of MaxKSREJ.
func (n *Negotiated) capSREJ() {
	if n.SREJ {
		n.KTx, n.KRx = min(n.KTx, MaxKSREJ), min(n.KRx, MaxKSREJ)
	}
}

// pick chooses a negotiated value from the local limit and the peer's
// value (0: absent, meaning the default). The result lies between the
// default and the peer's value and never beyond the local limit: values
// on opposite sides of the default give the default, otherwise the one
// nearer the default wins. This is the rule of V.42 §8.10 as spandsp
// implements it (set_param in v42.c).
func pick(local, peer, def int) int {
	if peer <= 0 {
		return def
	}
	switch {
	case local >= def && peer >= def:
		return min(local, peer)
	case local < def && peer < def:
		return max(local, peer)
	}
	return def
}

// Respond is the responder's half of the negotiation: from the peer's XID
// command it builds the XID response (values from the responder's point of
// view, so the command's transmit values become receive values) and the
// result. Optional functions are used only if both stations want them;
// accepting FCS-32 clears bit 16 in the response.
func Respond(local LinkParams, cmd XIDParams) (XIDParams, Negotiated) {
	n := Negotiated{
		FCS:    FCS16,
		N401Tx: pick(local.n401(), cmd.N401Rx, DefaultN401),
		N401Rx: pick(local.n401(), cmd.N401Tx, DefaultN401),
		KTx:    pick(local.k(), cmd.KRx, DefaultK),
		KRx:    pick(local.k(), cmd.KTx, DefaultK),
	}
	opts := OptMandatory
	if cmd.HasOptionalFunctions {
		if local.SREJ && cmd.OptionalFunctions&OptSREJ != 0 {
			opts |= OptSREJ
			n.SREJ = true
		}
		if local.FCS32 && cmd.OptionalFunctions&OptFCS32 != 0 {
			opts = opts&^OptFCS16 | OptFCS32
			n.FCS = FCS32
		}
	}
	n.capSREJ()
	resp := XIDParams{
		OptionalFunctions: opts, HasOptionalFunctions: true,
		N401Tx: n.N401Tx, N401Rx: n.N401Rx,
		KTx: n.KTx, KRx: n.KRx,
	}
	return resp, n
}

// Apply is the command sender's half: the result from the peer's XID
// response to local.Offer(). Values are clamped to what was offered
// (spandsp answers with its own configuration whatever it was offered);
// a response that turns on an optional function that was not offered is
// an error.
func Apply(local LinkParams, resp XIDParams) (Negotiated, error) {
	n := Negotiated{
		FCS:    FCS16,
		N401Tx: pick(local.n401(), resp.N401Rx, DefaultN401),
		N401Rx: pick(local.n401(), resp.N401Tx, DefaultN401),
		KTx:    pick(local.k(), resp.KRx, DefaultK),
		KRx:    pick(local.k(), resp.KTx, DefaultK),
	}
	if !resp.HasOptionalFunctions {
		return n, nil
	}
	o := resp.OptionalFunctions
	if o&OptSREJ != 0 {
		if !local.SREJ {
			return n, fmt.Errorf("%w: response selects SREJ (bit 3), which was not offered", ErrXID)
		}
		n.SREJ = true
	}
	if o&OptFCS32 != 0 {
		if !local.FCS32 {
			return n, fmt.Errorf("%w: response selects the 32-bit FCS (bit 17), which was not offered", ErrXID)
		}
		n.FCS = FCS32
	}
	// A responder that kept a larger window (spandsp answers with its
	// own configuration) gets frames from us in one of MaxKSREJ.
	n.capSREJ()
	return n, nil
}
