package tcp

import "bytes"

// Telnet command octets (RFC 854, "TELNET COMMAND STRUCTURE").
const (
	cmdSE   = 240 // end of subnegotiation parameters
	cmdNOP  = 241 // no operation
	cmdDM   = 242 // data mark (Synch)
	cmdBRK  = 243 // break
	cmdIP   = 244 // interrupt process
	cmdAO   = 245 // abort output
	cmdAYT  = 246 // are you there
	cmdEC   = 247 // erase character
	cmdEL   = 248 // erase line
	cmdGA   = 249 // go ahead
	cmdSB   = 250 // start of subnegotiation (RFC 855)
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255 // interpret as command
)

// Telnet option codes.
const (
	optBinary = 0  // RFC 856
	optEcho   = 1  // RFC 857
	optSGA    = 3  // RFC 858
	optTTYPE  = 24 // RFC 1091
	optNAWS   = 31 // RFC 1073
)

// TTYPE subnegotiation verbs (RFC 1091).
const (
	ttypeIS   = 0
	ttypeSEND = 1
)

const (
	cr  = '\r'
	lf  = '\n'
	nul = 0
)

// DefaultMaxSubneg bounds the parameters of one subnegotiation. Longer ones
// are discarded whole (with a log line) so a hostile peer cannot make the
// decoder hold unbounded memory.
const DefaultMaxSubneg = 512

// decodeHandler receives what the decoder finds between data octets. It is
// called synchronously from Decode, so it may change decoder.BinaryIn and
// the change applies to the very next octet.
type decodeHandler interface {
	// negotiate reports IAC verb opt, verb one of WILL, WONT, DO, DONT.
	negotiate(verb, opt byte)
	// subnegotiation reports IAC SB opt data IAC SE with IAC IAC undone.
	// data is only valid during the call.
	subnegotiation(opt byte, data []byte)
	// command reports any other IAC command (BRK, IP, AYT, NOP, GA, ...).
	command(cmd byte)
	// logf reports malformed input the decoder dropped.
	logf(format string, args ...any)
}

type decState uint8

const (
	stData   decState = iota
	stIAC             // after IAC
	stVerb            // after IAC WILL/WONT/DO/DONT, waiting for the option
	stSB              // after IAC SB, waiting for the option
	stSBData          // inside subnegotiation parameters
	stSBIAC           // IAC inside subnegotiation parameters
)

// decoder splits a telnet byte stream (RFC 854) into data octets and
// commands. It is a pure state machine: bytes in, data out, everything else
// reported to a handler. It never fails: malformed sequences are dropped and
// logged, so garbage from a WiFi modem cannot stop a line.
type decoder struct {
	// BinaryIn is true while the peer transmits in BINARY mode (RFC 856):
	// CR is then an ordinary octet. When false, the NUL in CR NUL is removed
	// (RFC 854 "the sequence CR NUL must be used where a CR alone is
	// desired").
	BinaryIn bool
	// MaxSubneg bounds one subnegotiation's parameters; 0 means
	// DefaultMaxSubneg.
	MaxSubneg int

	state      decState
	verb       byte
	sbOpt      byte
	sb         []byte
	sbOverflow bool
	afterCR    bool // last data octet was CR in non-binary mode
}

// Decode appends the data octets of src to dst and returns the extended
// slice. dst may be src[:0]: the output never overtakes the input, so a
// buffer can be decoded in place. Commands, negotiations and
// subnegotiations go to h in stream order.
func (d *decoder) Decode(dst, src []byte, h decodeHandler) []byte {
	nextIAC := -1 // index of the next IAC at or after i; len(src) if none
	for i := 0; i < len(src); {
		switch d.state {
		case stData:
			if nextIAC < i {
				nextIAC = len(src)
				if k := bytes.IndexByte(src[i:], cmdIAC); k >= 0 {
					nextIAC = i + k
				}
			}
			if d.BinaryIn {
				// Binary: copy up to the next IAC.
				dst = append(dst, src[i:nextIAC]...)
				i = nextIAC
				if i < len(src) {
					i++
					d.state = stIAC
				}
				continue
			}
			if d.afterCR {
				d.afterCR = false
				if src[i] == nul {
					i++ // CR NUL means CR
					continue
				}
			}
			// NVT: copy up to the next IAC or CR.
			end := nextIAC
			if k := bytes.IndexByte(src[i:end], cr); k >= 0 {
				end = i + k
			}
			dst = append(dst, src[i:end]...)
			i = end
			if i == len(src) {
				continue
			}
			if src[i] == cr {
				d.afterCR = true
				dst = append(dst, cr)
			} else {
				d.state = stIAC
			}
			i++
		case stIAC:
			b := src[i]
			i++
			dst = d.afterIAC(dst, b, h)
		case stVerb:
			d.state = stData
			h.negotiate(d.verb, src[i])
			i++
		case stSB:
			d.sbOpt = src[i]
			i++
			d.sb = d.sb[:0]
			d.sbOverflow = false
			d.state = stSBData
		case stSBData:
			k := bytes.IndexByte(src[i:], cmdIAC)
			if k < 0 {
				k = len(src) - i
			}
			d.sbAppend(src[i : i+k])
			i += k
			if i < len(src) {
				i++ // the IAC
				d.state = stSBIAC
			}
		case stSBIAC:
			b := src[i]
			i++
			switch b {
			case cmdIAC:
				d.sbAppend([]byte{cmdIAC})
				d.state = stSBData
			case cmdSE:
				d.state = stData
				if d.sbOverflow {
					h.logf("subnegotiation of option %d longer than %d octets discarded", d.sbOpt, d.maxSubneg())
				} else {
					h.subnegotiation(d.sbOpt, d.sb)
				}
				d.sb = d.sb[:0]
			default:
				// RFC 855 requires IAC SE; take IAC b as the end of a
				// broken subnegotiation and as a command of its own.
				h.logf("subnegotiation of option %d ended by IAC %d instead of IAC SE: discarded", d.sbOpt, b)
				d.sb = d.sb[:0]
				dst = d.afterIAC(dst, b, h)
			}
		}
	}
	return dst
}

// afterIAC handles the octet after an IAC outside subnegotiation.
func (d *decoder) afterIAC(dst []byte, b byte, h decodeHandler) []byte {
	d.afterCR = false
	d.state = stData
	switch b {
	case cmdIAC:
		dst = append(dst, cmdIAC) // IAC IAC is a data octet 255
	case cmdWILL, cmdWONT, cmdDO, cmdDONT:
		d.verb = b
		d.state = stVerb
	case cmdSB:
		d.state = stSB
	case cmdSE:
		h.logf("IAC SE outside subnegotiation ignored")
	default:
		h.command(b)
	}
	return dst
}

func (d *decoder) maxSubneg() int {
	if d.MaxSubneg > 0 {
		return d.MaxSubneg
	}
	return DefaultMaxSubneg
}

func (d *decoder) sbAppend(p []byte) {
	if d.sbOverflow {
		return
	}
	if len(d.sb)+len(p) > d.maxSubneg() {
		d.sbOverflow = true
		d.sb = d.sb[:0]
		return
	}
	d.sb = append(d.sb, p...)
}

// Pending reports whether the decoder stopped inside a command or
// subnegotiation. At end of stream such a tail is incomplete and dropped.
func (d *decoder) Pending() bool { return d.state != stData }

// Reset drops any partial command and returns the decoder to data state.
func (d *decoder) Reset() {
	d.state = stData
	d.sb = d.sb[:0]
	d.sbOverflow = false
	d.afterCR = false
}

// appendEncoded appends src to dst as telnet data (RFC 854): IAC is doubled,
// and when binary is false every CR not followed by LF within src gets a NUL
// after it, so the peer reads a bare CR. The result decodes back to src
// with a decoder in the same mode, however the stream is split.
func appendEncoded(dst, src []byte, binary bool) []byte {
	nextIAC := -1 // index in src of the next IAC; len(src) if none
	for i := 0; i < len(src); {
		if nextIAC < i {
			nextIAC = len(src)
			if k := bytes.IndexByte(src[i:], cmdIAC); k >= 0 {
				nextIAC = i + k
			}
		}
		end := nextIAC
		if !binary {
			if k := bytes.IndexByte(src[i:end], cr); k >= 0 {
				end = i + k
			}
		}
		if end == len(src) {
			return append(dst, src[i:]...)
		}
		dst = append(dst, src[i:end+1]...)
		if src[end] == cmdIAC {
			dst = append(dst, cmdIAC)
		} else if end+1 >= len(src) || src[end+1] != lf {
			dst = append(dst, nul)
		}
		i = end + 1
	}
	return dst
}
