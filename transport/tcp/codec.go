package tcp

import "bytes"

// Telnet command octets (RFC 854, "TELNET COMMAND STRUCTURE").
const (
	cmdEOF   = 236 // end of file (RFC 1184)
	cmdSUSP  = 237 // suspend process (RFC 1184)
	cmdABORT = 238 // abort process (RFC 1184)
	cmdSE    = 240 // end of subnegotiation parameters
	cmdNOP   = 241 // no operation
	cmdDM    = 242 // data mark (Synch)
	cmdBRK   = 243 // break
	cmdIP    = 244 // interrupt process
	cmdAO    = 245 // abort output
	cmdAYT   = 246 // are you there
	cmdEC    = 247 // erase character
	cmdEL    = 248 // erase line
	cmdGA    = 249 // go ahead
	cmdSB    = 250 // start of subnegotiation (RFC 855)
	cmdWILL  = 251
	cmdWONT  = 252
	cmdDO    = 253
	cmdDONT  = 254
	cmdIAC   = 255 // interpret as command
)

// Telnet option codes.
const (
	optBinary = 0  // RFC 856
	optEcho   = 1  // RFC 857
	optSGA    = 3  // RFC 858
	optTM     = 6  // RFC 860, TIMING-MARK
	optTTYPE  = 24 // RFC 1091
	optNAWS   = 31 // RFC 1073
	optTSPEED = 32 // RFC 1079
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

// DefaultMaxSubneg bounds the parameters of one subnegotiation. At the
// bound the decoder gives the subnegotiation up (with a log line): what it
// holds is dropped, and so is what follows while it is printable text (a
// name longer than the bound, up to MaxSubnegText octets in all, ended by
// IAC SE); the first other octet, and what comes after it, is data again.
// So a hostile peer cannot make the decoder hold unbounded memory, and an
// IAC SB that no IAC SE ends costs a bounded stretch of the stream, not
// the rest of it. That is what an octet damaged into IAC before one that reads as SB
// opens (a bit flipped on a noisy path, an 0xFF that a WiFi modem in raw
// mode passes on from its serial side), or an IAC SE whose IAC is
// damaged; a stream without IAC of its own never ends it, and the LAPM
// bit stream has none. Until the subnegotiation was given up at the
// bound, such a line went deaf for good and the V.42 link over it failed
// after N400 polls; now the link resends the frames lost.
//
// The bound is small, because what it swallows is lost: 512 octets held
// every answer to the caller's N400 XID commands while a link was being
// set up. The options this package implements have short parameters
// (NAWS four octets, TTYPE IS and a name of at most 40 characters, RFC
// 1091), and a peer subnegotiates only options agreed (RFC 855), so no
// subnegotiation of a working peer comes near it. A user may still set a
// longer terminal type (C-Kermit's set telnet terminal-type): it is
// dropped whole, by the printable rule above (telnet-clients trial: its
// tail reached the login prompt as typed text). A LAPM bit stream is not
// text: it ends such a stretch within a few octets.
const DefaultMaxSubneg = 64

// MaxSubnegText bounds a subnegotiation given up at its bound that goes
// on as printable text (see DefaultMaxSubneg): the octets dropped in all.
const MaxSubnegText = 512

// decodeHandler receives what the decoder finds between data octets. It is
// called synchronously from Decode, so it may change decoder.BinaryIn and
// the change applies to the very next octet.
type decodeHandler interface {
	// negotiate reports IAC verb opt, verb one of WILL, WONT, DO, DONT.
	negotiate(verb, opt byte)
	// subnegotiation reports IAC SB opt data IAC SE with IAC IAC undone.
	// data is only valid during the call.
	subnegotiation(opt byte, data []byte)
	// command reports any other IAC command (BRK, IP, AYT, NOP, GA, ...);
	// in is set when the command stands for a data octet, c, which takes
	// its place in the data (EC: the erase character, and so on).
	command(cmd byte) (c byte, in bool)
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
	stSBText          // past the bound, dropping printable text (DefaultMaxSubneg)
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
	// Discard drops the data octets while it is true; commands are still
	// reported. The handler may change it, and the change applies from
	// the octet after the command that changed it.
	Discard bool

	state   decState
	verb    byte
	sbOpt   byte
	sb      []byte
	afterCR bool // last data octet was CR in non-binary mode
	// sbDropped counts the octets of a subnegotiation given up at the
	// bound (stSBText), 0 otherwise.
	sbDropped int
}

// Decode appends the data octets of src to dst and returns the extended
// slice. dst may be src[:0]: the output never overtakes the input, so a
// buffer can be decoded in place. Commands, negotiations and
// subnegotiations go to h in stream order.
func (d *decoder) Decode(dst, src []byte, h decodeHandler) []byte {
	nextIAC := -1    // index of the next IAC at or after i; len(src) if none
	keep := len(dst) // dst up to here holds data decoded while not discarding
	for i := 0; i < len(src); {
		// A handler changes Discard only in a step of its own (a
		// command), so what the last step added is all kept or all
		// dropped.
		if d.Discard {
			dst = dst[:keep]
		} else {
			keep = len(dst)
		}
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
				dst = appendRun(dst, src[i:nextIAC])
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
			dst = appendRun(dst, src[i:end])
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
			d.state = stSBData
		case stSBData:
			k := bytes.IndexByte(src[i:], cmdIAC)
			if k < 0 {
				k = len(src) - i
			}
			if room := d.maxSubneg() - len(d.sb); k > room {
				// Past the bound: give the subnegotiation up, and
				// drop what follows while it is text (see
				// DefaultMaxSubneg).
				i += room
				d.sbDropped = len(d.sb) + room
				d.sb = d.sb[:0]
				d.state = stSBText
				continue
			}
			d.sb = append(d.sb, src[i:i+k]...)
			i += k
			if i < len(src) {
				i++ // the IAC
				d.state = stSBIAC
			}
		case stSBText:
			for i < len(src) && src[i] >= 0x20 && src[i] <= 0x7E && d.sbDropped < MaxSubnegText {
				i++
				d.sbDropped++
			}
			switch {
			case i == len(src):
			case src[i] == cmdIAC:
				i++
				d.state = stSBIAC
			default:
				// Not text, or too much of it: data from here on.
				d.abandonSB(h)
			}
		case stSBIAC:
			b := src[i]
			i++
			switch b {
			case cmdIAC:
				if d.sbDropped > 0 || len(d.sb) == d.maxSubneg() {
					// The escaped 0xFF is the first octet past the
					// bound, or follows what was dropped: data.
					d.abandonSB(h)
					dst = append(dst, cmdIAC)
					continue
				}
				d.sb = append(d.sb, cmdIAC)
				d.state = stSBData
			case cmdSE:
				d.state = stData
				if d.sbDropped > 0 {
					h.logf("subnegotiation of option %d longer than %d octets (%d): discarded", d.sbOpt, d.maxSubneg(), d.sbDropped)
					d.sbDropped = 0
					continue
				}
				h.subnegotiation(d.sbOpt, d.sb)
				d.sb = d.sb[:0]
			default:
				// RFC 855 requires IAC SE; take IAC b as the end of a
				// broken subnegotiation and as a command of its own.
				h.logf("subnegotiation of option %d ended by IAC %d instead of IAC SE: discarded", d.sbOpt, b)
				d.sb = d.sb[:0]
				d.sbDropped = 0
				dst = d.afterIAC(dst, b, h)
			}
		}
	}
	if d.Discard {
		dst = dst[:keep]
	}
	return dst
}

// appendRun appends run to dst. When decoding in place, until the first
// octet the decoder removes every run already sits where it belongs: then
// dst is only extended, which saves a copy of every chunk that holds no
// IAC (an LAPM bit stream, for one, never does inside its frames).
func appendRun(dst, run []byte) []byte {
	if len(run) > 0 && cap(dst)-len(dst) >= len(run) && &dst[:len(dst)+1][len(dst)] == &run[0] {
		return dst[:len(dst)+len(run)]
	}
	return append(dst, run...)
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
		if c, in := h.command(b); in {
			// In place this is safe: every input octet gives at
			// most one output octet, and the IAC and b gave none.
			dst = append(dst, c)
		}
	}
	return dst
}

func (d *decoder) maxSubneg() int {
	if d.MaxSubneg > 0 {
		return d.MaxSubneg
	}
	return DefaultMaxSubneg
}

// abandonSB gives up a subnegotiation that reached the bound without IAC
// SE: its octets are dropped and the decoder is back in data state.
func (d *decoder) abandonSB(h decodeHandler) {
	h.logf("subnegotiation of option %d longer than %d octets without IAC SE: dropped, what follows is data", d.sbOpt, d.maxSubneg())
	d.sb = d.sb[:0]
	d.sbDropped = 0
	d.state = stData
}

// Pending reports whether the decoder stopped inside a command or
// subnegotiation. At end of stream such a tail is incomplete and dropped.
func (d *decoder) Pending() bool { return d.state != stData }

// Reset drops any partial command and returns the decoder to data state.
func (d *decoder) Reset() {
	d.state = stData
	d.sb = d.sb[:0]
	d.sbDropped = 0
	d.afterCR = false
}

// Escape octets the encoder puts after a data octet (RFC 854): a second IAC
// after IAC, NUL after a CR that is not part of CR LF (NVT mode). Pieces
// of appendEncodedPieces refer to these slices; nothing may write to them.
var (
	escIAC = []byte{cmdIAC}
	escNUL = []byte{nul}
)

// escapeScanner finds the octets of src whose telnet encoding takes two
// octets: IAC, and when binary is false a CR not followed by LF within src
// (a CR at the end of src included: the next Write may not start with LF).
type escapeScanner struct {
	src     []byte
	binary  bool
	nextIAC int // index of the next IAC at or after the last search; -1 before the first
}

func newEscapeScanner(src []byte, binary bool) escapeScanner {
	return escapeScanner{src: src, binary: binary, nextIAC: -1}
}

// next returns the index of the first octet at or after i that needs an
// escape, or len(src). Successive calls must not go backwards.
func (s *escapeScanner) next(i int) int {
	if s.nextIAC < i {
		s.findIAC(i)
	}
	if s.binary {
		return s.nextIAC
	}
	return s.bareCR(i)
}

// findIAC sets nextIAC to the index of the first IAC at or after i, or
// len(src).
func (s *escapeScanner) findIAC(i int) {
	s.nextIAC = len(s.src)
	if k := bytes.IndexByte(s.src[i:], cmdIAC); k >= 0 {
		s.nextIAC = i + k
	}
}

// bareCR returns the index of the first CR at or after i and before
// nextIAC that is not followed by LF, or nextIAC.
func (s *escapeScanner) bareCR(i int) int {
	for j := i; j < s.nextIAC; j++ {
		k := bytes.IndexByte(s.src[j:s.nextIAC], cr)
		if k < 0 {
			break
		}
		j += k
		if j+1 == len(s.src) || s.src[j+1] != lf {
			return j
		}
	}
	return s.nextIAC
}

// escapeFor returns the octet that follows b in the encoding when b needs
// an escape.
func escapeFor(b byte) []byte {
	if b == cmdIAC {
		return escIAC
	}
	return escNUL
}

// appendEncoded appends src to dst as telnet data (RFC 854): IAC is doubled,
// and when binary is false every CR not followed by LF within src gets a NUL
// after it, so the peer reads a bare CR. The result decodes back to src
// with a decoder in the same mode, however the stream is split.
func appendEncoded(dst, src []byte, binary bool) []byte {
	s := newEscapeScanner(src, binary)
	for i := 0; i < len(src); {
		end := s.next(i)
		if end == len(src) {
			return append(dst, src[i:]...)
		}
		dst = append(dst, src[i:end+1]...)
		dst = append(dst, escapeFor(src[end])[0])
		i = end + 1
	}
	return dst
}

// appendEncodedPieces appends to pieces the octets appendEncoded(nil, src,
// binary) would produce, as runs of src itself with one-octet escape pieces
// between them, so that a vectored write (writev) sends src without
// copying it. Runs never overlap and escape pieces must not be written to.
// It stops and returns false when src needs more than maxEsc escapes:
// short runs are cheaper to copy than to gather.
func appendEncodedPieces(pieces [][]byte, src []byte, binary bool, maxEsc int) ([][]byte, bool) {
	s := newEscapeScanner(src, binary)
	escapes := 0
	for i := 0; i < len(src); {
		end := s.next(i)
		if end == len(src) {
			return append(pieces, src[i:]), true
		}
		if escapes++; escapes > maxEsc {
			return pieces, false
		}
		pieces = append(pieces, src[i:end+1], escapeFor(src[end]))
		i = end + 1
	}
	return pieces, true
}

// encodedPrefix tells how much of src the first n octets of its encoding
// (appendEncoded(nil, src, binary)) carry, for a write cut short after n
// octets. An octet counts as sent once the first octet of its encoding is:
// if n ends between an octet and its escape, owed is the escape, which the
// sender must put first in the stream before anything else so that the
// peer decodes exactly src[:count].
func encodedPrefix(src []byte, binary bool, n int) (count int, owed []byte) {
	s := newEscapeScanner(src, binary)
	enc := 0 // encoded octets before src[i]
	for i := 0; i < len(src); {
		end := s.next(i)
		// src[i:end] take one octet each.
		if n-enc <= end-i {
			return i + max(n-enc, 0), nil
		}
		enc += end - i
		if end == len(src) {
			break
		}
		// src[end] takes two.
		if n-enc == 1 {
			return end + 1, escapeFor(src[end])
		}
		enc += 2
		i = end + 1
	}
	return len(src), nil
}
