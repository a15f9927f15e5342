package lapm

import (
	"fmt"
	"hash/crc32"
)

// FCSKind selects the frame check sequence (V.42 §8.1.1): the 16-bit FCS
// is the default; the 32-bit FCS is used after both stations agree on it in
// XID negotiation (HDLC optional functions bit 17).
type FCSKind uint8

// Frame check sequences.
const (
	FCS16 FCSKind = 16 // CRC-CCITT, reflected polynomial 0x8408 (ISO/IEC 13239)
	FCS32 FCSKind = 32 // CRC-32, reflected polynomial 0xEDB88320 (ISO/IEC 13239)
)

// Size is the number of octets the FCS occupies on the wire. Any value
// other than FCS32 is treated as FCS16.
func (k FCSKind) Size() int {
	if k == FCS32 {
		return 4
	}
	return 2
}

func (k FCSKind) String() string {
	switch k {
	case FCS16:
		return "FCS-16"
	case FCS32:
		return "FCS-32"
	}
	return fmt.Sprintf("fcs(%d)", uint8(k))
}

// fcs16Tables are the slicing-by-8 tables of the reflected CRC-CCITT:
// fcs16Tables[k][b] is the register change caused by octet b followed by k
// zero octets. fcs16Tables[0] is the classic byte-wise table.
var fcs16Tables = func() (t [8][256]uint16) {
	for i := range t[0] {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			c := t[k-1][i]
			t[k][i] = c>>8 ^ t[0][byte(c)]
		}
	}
	return t
}()

// fcs16Update runs the reflected CRC-CCITT register over p, eight octets
// per step.
func fcs16Update(crc uint16, p []byte) uint16 {
	t := &fcs16Tables
	for len(p) >= 8 {
		crc ^= uint16(p[0]) | uint16(p[1])<<8
		crc = t[7][byte(crc)] ^ t[6][crc>>8] ^ t[5][p[2]] ^ t[4][p[3]] ^
			t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, b := range p {
		crc = crc>>8 ^ t[0][byte(crc)^b]
	}
	return crc
}

// FCS16Of returns the 16-bit FCS of frame (address, control and information
// octets): preset 0xFFFF, ones' complement of the remainder. It is sent low
// octet first.
func FCS16Of(frame []byte) uint16 { return ^fcs16Update(0xFFFF, frame) }

// FCS32Of returns the 32-bit FCS of frame; it is the IEEE CRC-32 and is sent
// low octet first.
func FCS32Of(frame []byte) uint32 { return crc32.ChecksumIEEE(frame) }

// AppendFCS appends the FCS of kind k computed over frame to dst, low
// octet first, as it follows the frame on the wire. Any k other than FCS32
// means FCS16.
func AppendFCS(dst, frame []byte, k FCSKind) []byte {
	if k == FCS32 {
		c := FCS32Of(frame)
		return append(dst, byte(c), byte(c>>8), byte(c>>16), byte(c>>24))
	}
	c := FCS16Of(frame)
	return append(dst, byte(c), byte(c>>8))
}

// appendFCSParts is AppendFCS over head followed by info.
func appendFCSParts(dst, head, info []byte, k FCSKind) []byte {
	if len(head) == 0 {
		return AppendFCS(dst, info, k)
	}
	if k == FCS32 {
		c := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, info)
		return append(dst, byte(c), byte(c>>8), byte(c>>16), byte(c>>24))
	}
	c := ^fcs16Update(fcs16Update(0xFFFF, head), info)
	return append(dst, byte(c), byte(c>>8))
}

// checkFCS reports whether b ends with the correct FCS of kind k over the
// octets before it. b must be longer than the FCS.
func checkFCS(b []byte, k FCSKind) bool {
	if k == FCS32 {
		n := len(b) - 4
		c := FCS32Of(b[:n])
		return b[n] == byte(c) && b[n+1] == byte(c>>8) && b[n+2] == byte(c>>16) && b[n+3] == byte(c>>24)
	}
	// Running the register over the frame and its FCS leaves the fixed
	// remainder 0xF0B8 (ISO/IEC 13239 "good FCS").
	return fcs16Update(0xFFFF, b) == 0xF0B8
}
