package lapm

import (
	"errors"
	"fmt"
)

// Kind is the type of a LAPM frame (V.42 §8.2.4, frame types).
//
// Clause numbers in this package follow the 2002 edition of V.42.
type Kind uint8

// Frame kinds. The numeric values are internal; the wire encoding is in
// Frame.Append.
const (
	KindInvalid Kind = iota
	KindI            // information
	KindRR           // receive ready
	KindRNR          // receive not ready
	KindREJ          // reject
	KindSREJ         // selective reject
	KindSABME        // set asynchronous balanced mode extended
	KindUA           // unnumbered acknowledgement
	KindDISC         // disconnect
	KindDM           // disconnected mode
	KindFRMR         // frame reject
	KindXID          // exchange identification
	KindTEST         // test
	KindUI           // unnumbered information (break, V.42 §8.13)
)

var kindNames = [...]string{"invalid", "I", "RR", "RNR", "REJ", "SREJ", "SABME", "UA", "DISC", "DM", "FRMR", "XID", "TEST", "UI"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsSupervisory reports whether k is an S frame (two control octets with N(R)).
func (k Kind) IsSupervisory() bool { return k >= KindRR && k <= KindSREJ }

// IsUnnumbered reports whether k is a U frame (one control octet).
func (k Kind) IsUnnumbered() bool { return k >= KindSABME }

// Control field encodings (V.42 §8.2.2, §8.2.4).
const (
	ctlRR   = 0x01
	ctlRNR  = 0x05
	ctlREJ  = 0x09
	ctlSREJ = 0x0D

	ctlSABME = 0x6F
	ctlUA    = 0x63
	ctlDISC  = 0x43
	ctlDM    = 0x0F
	ctlFRMR  = 0x87
	ctlXID   = 0xAF
	ctlTEST  = 0xE3
	ctlUI    = 0x03

	pfBitU = 0x10 // P/F bit in a U-frame control octet

	ctlInvalid = 0xFF // not a V.42 control field; Append's encoding of KindInvalid
)

// Address octet: DLCI<<2 | C/R<<1 | EA (V.42 §8.2.1). DLCI 0 carries data.
const (
	// AddrCR1 is the address octet with C/R=1: commands from the originator
	// and responses from the answerer.
	AddrCR1 = 0x03
	// AddrCR0 is the address octet with C/R=0: commands from the answerer
	// and responses from the originator.
	AddrCR0 = 0x01
)

// Role is which end of the call a station is. It decides the C/R bit.
type Role uint8

const (
	Originator Role = iota // the caller
	Answerer               // the gateway
)

func (r Role) String() string {
	if r == Originator {
		return "originator"
	}
	return "answerer"
}

// CommandAddr is the address octet r uses on commands it sends.
func (r Role) CommandAddr() byte {
	if r == Originator {
		return AddrCR1
	}
	return AddrCR0
}

// ResponseAddr is the address octet r uses on responses it sends.
func (r Role) ResponseAddr() byte {
	if r == Originator {
		return AddrCR0
	}
	return AddrCR1
}

// IsCommandFrom reports whether a frame with address octet addr, sent by
// the peer of r, is a command (true) or a response (false).
func (r Role) IsCommandFrom(addr byte) bool {
	// The peer's commands carry the peer's command address.
	if r == Originator {
		return addr&0x02 == 0 // answerer's commands have C/R=0
	}
	return addr&0x02 != 0 // originator's commands have C/R=1
}

// Frame is a decoded LAPM frame without flags and FCS.
//
// I frame (modulo 128):
//
//	+---------+-----------+-----------+----------------+
//	| address | N(S)<<1|0 | N(R)<<1|P | information... |
//	+---------+-----------+-----------+----------------+
//
// S frame (RR, RNR, REJ, SREJ):
//
//	+---------+---------+-------------+
//	| address | type    | N(R)<<1|P/F | (SREJ may carry more N(R) octets, V.42 §8.4.5)
//	+---------+---------+-------------+
//
// U frame (SABME, UA, DISC, DM, FRMR, XID, TEST, UI):
//
//	+---------+----------------+----------------+
//	| address | type | P/F 0x10 | information... |
//	+---------+----------------+----------------+
type Frame struct {
	Addr byte  // address octet as sent
	Kind Kind  // frame type
	NS   uint8 // I frames: send sequence number, 0..127
	NR   uint8 // I and S frames: receive sequence number, 0..127
	PF   bool  // poll (command) / final (response) bit
	Info []byte
}

// Errors returned by ParseFrame. They are wrapped with detail.
var (
	ErrFrameShort   = errors.New("lapm: frame too short")
	ErrFrameAddress = errors.New("lapm: bad address octet")
	ErrFrameControl = errors.New("lapm: unknown control field")
	ErrFrameInfo    = errors.New("lapm: information field not allowed in this frame")
)

// Append appends the frame's address, control and information octets to dst.
// It does not validate sequence numbers beyond masking them to 7 bits.
func (f *Frame) Append(dst []byte) []byte {
	return append(f.appendHead(dst), f.Info...)
}

// maxHead is the longest frame head: address and two control octets.
const maxHead = 3

// appendHead appends the frame's address and control octets (Append
// without the information field).
func (f *Frame) appendHead(dst []byte) []byte {
	dst = append(dst, f.Addr)
	var pf byte
	if f.PF {
		pf = 1
	}
	switch f.Kind {
	case KindI:
		dst = append(dst, (f.NS&0x7F)<<1, (f.NR&0x7F)<<1|pf)
	case KindRR, KindRNR, KindREJ, KindSREJ:
		dst = append(dst, sCtl[f.Kind-KindRR], (f.NR&0x7F)<<1|pf)
	case KindSABME, KindUA, KindDISC, KindDM, KindFRMR, KindXID, KindTEST, KindUI:
		c := uCtl[f.Kind]
		if f.PF {
			c |= pfBitU
		}
		dst = append(dst, c)
	default:
		// An invalid Kind gets a control octet that ParseFrame rejects
		// (an unknown U frame), so it can never pass as a valid frame.
		dst = append(dst, ctlInvalid)
	}
	return dst
}

var sCtl = [...]byte{ctlRR, ctlRNR, ctlREJ, ctlSREJ}

// uCtl is the U-frame control octet (P/F clear) indexed by Kind.
var uCtl = [...]byte{
	KindSABME: ctlSABME, KindUA: ctlUA, KindDISC: ctlDISC, KindDM: ctlDM,
	KindFRMR: ctlFRMR, KindXID: ctlXID, KindTEST: ctlTEST, KindUI: ctlUI,
}

// ParseFrame decodes b (address, control and information octets, FCS
// already checked and removed). Info aliases b. Frames that may not carry an
// information field (RR, RNR, REJ, SABME, UA, DISC, DM) are rejected if they
// have one; SREJ may carry extra N(R) octets in Info.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) < 2 {
		return f, fmt.Errorf("%w: %d octets", ErrFrameShort, len(b))
	}
	f.Addr = b[0]
	if f.Addr&0x01 == 0 || f.Addr>>2 != 0 {
		return f, fmt.Errorf("%w: 0x%02x", ErrFrameAddress, f.Addr)
	}
	c := b[1]
	switch {
	case c&0x01 == 0: // I frame
		if len(b) < 3 {
			return f, fmt.Errorf("%w: I frame with %d octets", ErrFrameShort, len(b))
		}
		f.Kind = KindI
		f.NS = c >> 1
		f.NR = b[2] >> 1
		f.PF = b[2]&1 != 0
		f.Info = b[3:]
		return f, nil
	case c&0x03 == 0x01: // S frame
		if len(b) < 3 {
			return f, fmt.Errorf("%w: S frame with %d octets", ErrFrameShort, len(b))
		}
		switch c {
		case ctlRR:
			f.Kind = KindRR
		case ctlRNR:
			f.Kind = KindRNR
		case ctlREJ:
			f.Kind = KindREJ
		case ctlSREJ:
			f.Kind = KindSREJ
		default:
			return f, fmt.Errorf("%w: S control 0x%02x", ErrFrameControl, c)
		}
		f.NR = b[2] >> 1
		f.PF = b[2]&1 != 0
		f.Info = b[3:]
		if len(f.Info) > 0 && f.Kind != KindSREJ {
			return f, fmt.Errorf("%w: %s with %d octets", ErrFrameInfo, f.Kind, len(f.Info))
		}
		return f, nil
	default: // U frame
		f.PF = c&pfBitU != 0
		switch c &^ pfBitU {
		case ctlSABME:
			f.Kind = KindSABME
		case ctlUA:
			f.Kind = KindUA
		case ctlDISC:
			f.Kind = KindDISC
		case ctlDM:
			f.Kind = KindDM
		case ctlFRMR:
			f.Kind = KindFRMR
		case ctlXID:
			f.Kind = KindXID
		case ctlTEST:
			f.Kind = KindTEST
		case ctlUI:
			f.Kind = KindUI
		default:
			return f, fmt.Errorf("%w: U control 0x%02x", ErrFrameControl, c)
		}
		f.Info = b[2:]
		switch f.Kind {
		case KindSABME, KindUA, KindDISC, KindDM:
			if len(f.Info) > 0 {
				return f, fmt.Errorf("%w: %s with %d octets", ErrFrameInfo, f.Kind, len(f.Info))
			}
		}
		return f, nil
	}
}

func (f Frame) String() string {
	switch {
	case f.Kind == KindI:
		return fmt.Sprintf("I(ns=%d nr=%d p=%t len=%d)", f.NS, f.NR, f.PF, len(f.Info))
	case f.Kind.IsSupervisory():
		return fmt.Sprintf("%s(nr=%d pf=%t)", f.Kind, f.NR, f.PF)
	default:
		return fmt.Sprintf("%s(pf=%t len=%d)", f.Kind, f.PF, len(f.Info))
	}
}
