package lapm

import (
	"bytes"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestFCS16CheckValue(t *testing.T) {
	// V42.md: the SABME frame 03 7F carries FCS 5F AE.
	got := AppendFCS(nil, []byte{0x03, 0x7F}, FCS16)
	if !bytes.Equal(got, []byte{0x5F, 0xAE}) {
		t.Fatalf("FCS-16 of 03 7F = % x, want 5f ae", got)
	}
	// The CRC-16/X-25 catalogue check value for "123456789".
	if got := FCS16Of([]byte("123456789")); got != 0x906E {
		t.Fatalf("FCS-16 of 123456789 = %04x, want 906e", got)
	}
	if !checkFCS([]byte{0x03, 0x7F, 0x5F, 0xAE}, FCS16) {
		t.Fatal("checkFCS rejects the SABME check frame")
	}
	if checkFCS([]byte{0x03, 0x7F, 0x5F, 0xAF}, FCS16) {
		t.Fatal("checkFCS accepts a corrupted FCS")
	}
}

func TestFCS32(t *testing.T) {
	if got := FCS32Of([]byte("123456789")); got != 0xCBF43926 {
		t.Fatalf("FCS-32 of 123456789 = %08x, want cbf43926", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f := AppendFCS(bytes.Clone(b), b, FCS32)
		c := crc32.ChecksumIEEE(b)
		if !bytes.Equal(f[n:], []byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}) {
			t.Fatalf("FCS-32 not low octet first: % x", f[n:])
		}
		if !checkFCS(f, FCS32) {
			t.Fatalf("checkFCS(FCS32) rejects a good frame of %d octets", n)
		}
		f[r.IntN(len(f))] ^= 1 << r.IntN(8)
		if checkFCS(f, FCS32) {
			t.Fatalf("checkFCS(FCS32) accepts a single-bit error")
		}
	}
}

func TestFCS16MatchesBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 200 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		// Bit-at-a-time reference: reflected poly 0x8408.
		crc := uint16(0xFFFF)
		for _, x := range b {
			for i := range 8 {
				bit := uint16(x>>i) & 1
				if (crc^bit)&1 != 0 {
					crc = crc>>1 ^ 0x8408
				} else {
					crc >>= 1
				}
			}
		}
		if got := FCS16Of(b); got != ^crc {
			t.Fatalf("len %d: table %04x, bitwise %04x", n, got, ^crc)
		}
	}
}

func TestFCSKind(t *testing.T) {
	if FCS16.Size() != 2 || FCS32.Size() != 4 || FCSKind(0).Size() != 2 {
		t.Fatal("FCSKind.Size")
	}
	if FCS16.String() != "FCS-16" || FCS32.String() != "FCS-32" || FCSKind(7).String() != "fcs(7)" {
		t.Fatal("FCSKind.String")
	}
}
