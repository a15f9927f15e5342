package tcp

import (
	"errors"
	"fmt"
	"time"

	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/transport"
)

// aytReply is the text answered to AYT (RFC 854 "Are You There": "some
// visible (i.e., printable) evidence that the AYT was received") until
// the line is given the gateway's name (SetAYTName).
const aytReply = "\r\n[dialgate: yes]\r\n"

// maxLogs bounds the protocol-error log lines one line may produce, so a
// peer sending garbage cannot flood the log.
const maxLogs = 20

// maxPeerOut bounds the control output (negotiation replies, AYT answers)
// that the peer's own input may leave queued. A peer that floods IAC AYT or
// flips an option back and forth while not reading what we send would
// otherwise grow the queue without limit; past the bound such replies are
// dropped (and logged). Our own requests (SetServerEcho, window size,
// break) are always queued.
const maxPeerOut = 4096

// telnet is the per-line telnet session: the decoder, the option tables
// (RFC 1143), our policy for each option, and what the peer told us. It
// does no I/O: decode consumes received octets and leaves replies in out
// and events in events; the Line sends and dispatches them.
type telnet struct {
	server bool
	open   bool // client: open the negotiation (Options.Open)
	dec    decoder
	us     options // options we perform (WILL/WONT)
	him    options // options the peer performs (DO/DONT)

	wantEcho bool   // server: the upper layer asked for server echo
	aytName  string // the gateway's name in the answer to AYT; "": aytReply

	// Client side: what we announce.
	termType  string
	termSpeed int // bit/s (TSPEED); 0: refused
	window    transport.WindowSize
	// nawsAsked: the server asked for NAWS (DO NAWS). A client without a
	// window size refuses it (RFC 1073: WILL NAWS promises a size) and
	// offers it once it has one.
	nawsAsked bool

	// Server side: what the peer announced.
	peerTerm      string
	peerWindow    transport.WindowSize
	windowChanged bool

	out    []byte            // octets to send to the peer, already encoded
	events []transport.Event // out-of-band events for the upper layer

	fromPeer   bool // decode is running: output is a reply to the peer
	outDropped bool // a reply was dropped since the queue last drained

	// Client side: the TIMING-MARKs asked (DO TM, RFC 860) and not yet
	// answered, and when the newest was asked. While one is out the
	// peer's data is dropped (dec.Discard), up to maxMarkWait.
	marks     int
	markAsked time.Time
	now       func() time.Time

	logFn  func(format string, args ...any)
	logged int
}

// options is the RFC 1143 state of one side of the options this package
// implements (BINARY, ECHO, SGA, TTYPE, NAWS, TSPEED). Every other
// option is refused whenever the peer asks and never asked for by us, so
// its state is NO for the line's whole life and needs no storage: a line
// keeps a few octets per side instead of a 256-entry table.
type options struct {
	known   [6]qSide
	refused qSide // the state handed out for any other option; always NO
}

// side returns the state of opt.
func (o *options) side(opt byte) *qSide {
	switch opt {
	case optBinary:
		return &o.known[0]
	case optEcho:
		return &o.known[1]
	case optSGA:
		return &o.known[2]
	case optTTYPE:
		return &o.known[3]
	case optNAWS:
		return &o.known[4]
	case optTSPEED:
		return &o.known[5]
	}
	// Refusing from NO leaves NO (RFC 1143 §7); start from NO each time
	// all the same.
	o.refused = qSide{}
	return &o.refused
}

// enabled reports whether opt is in effect on this side.
func (o *options) enabled(opt byte) bool { return o.side(opt).enabled() }

func newTelnet(server bool, o Options) *telnet {
	t := &telnet{server: server, open: o.Open, termType: o.TermType, termSpeed: o.TermSpeed, window: o.Window, logFn: o.logf, now: time.Now}
	t.dec.MaxSubneg = o.MaxSubneg
	if t.termType == "" {
		t.termType = "UNKNOWN" // RFC 1091 allows this name
	}
	return t
}

// start queues the opening negotiation. A server offers SGA and BINARY and
// asks for BINARY, NAWS and TTYPE; it does not offer ECHO until the upper
// layer asks (SetServerEcho). A client waits to be asked, unless
// Options.Open: then it asks for BINARY and SGA (see Options.Open). It
// does not offer BINARY itself: it would go on sending NVT (CR NUL) until
// the peer's DO came back, while a peer that had asked already would read
// binary from the WILL on; answering the peer's DO switches at the WILL.
func (t *telnet) start() {
	if !t.server {
		if t.open {
			t.askHim(optBinary, true)
			t.askHim(optSGA, true)
		}
		return
	}
	t.askUs(optSGA, true)
	t.askUs(optBinary, true)
	t.askHim(optBinary, true)
	t.askHim(optNAWS, true)
	t.askHim(optTTYPE, true)
}

// decode appends the data octets of src to dst (dst may be src[:0]).
func (t *telnet) decode(dst, src []byte) []byte {
	if t.dec.Discard && t.now().Sub(t.markAsked) > maxMarkWait {
		t.dec.Discard = false
		t.logf("no answer to TIMING-MARK in %v: passing the peer's output on again", maxMarkWait)
	}
	t.fromPeer = true
	defer func() { t.fromPeer = false }()
	return t.dec.Decode(dst, src, t)
}

// emit queues control output. While decoding, replies that would take the
// queue past maxPeerOut are dropped: the peer is not reading them.
func (t *telnet) emit(b ...byte) {
	if len(t.out) == 0 {
		t.outDropped = false
	}
	if t.fromPeer && len(t.out)+len(b) > maxPeerOut {
		if !t.outDropped {
			t.outDropped = true
			t.logf("peer does not read our replies: %d octets queued, further replies dropped", len(t.out))
		}
		return
	}
	t.out = append(t.out, b...)
}

// finish is called at the end of the received stream.
func (t *telnet) finish() {
	if t.dec.Pending() {
		t.logf("stream ended inside a telnet command: tail dropped")
		t.dec.Reset()
	}
}

func (t *telnet) acceptUs(opt byte) bool {
	switch opt {
	case optBinary, optSGA:
		return true
	case optEcho:
		return t.server && t.wantEcho
	case optNAWS:
		return !t.server && t.window != (transport.WindowSize{})
	case optTTYPE:
		return !t.server
	case optTSPEED:
		return !t.server && t.termSpeed > 0
	}
	return false
}

func (t *telnet) acceptHim(opt byte) bool {
	switch opt {
	case optBinary, optSGA:
		return true
	case optNAWS, optTTYPE:
		return t.server
	case optEcho:
		return !t.server
	}
	return false
}

// maxMarkWait bounds how long a client line drops its peer's output
// waiting for the answer to a TIMING-MARK (askMark): a server that
// ignores DO TM, against RFC 1143, is heard again after it.
const maxMarkWait = 5 * time.Second

// askMark (client side) asks the peer for a TIMING-MARK (IAC DO TM, RFC
// 860) and drops the peer's data until the answer, which the peer sends
// once it has processed everything sent before it. Sent after an IP, AO
// or BRK, this is the flush a telnet client does (RFC 854, "the
// Synch"): the output the peer produced before the interrupt, queued in
// its buffers and the network's, is read and thrown away at network
// speed instead of being passed on.
func (t *telnet) askMark() {
	t.out = append(t.out, cmdIAC, cmdDO, optTM)
	t.marks++
	t.markAsked = t.now()
	t.dec.Discard = true
}

// negotiate implements decodeHandler.
func (t *telnet) negotiate(verb, opt byte) {
	if opt == optTM && !t.server && t.marks > 0 && (verb == cmdWILL || verb == cmdWONT) {
		// The answer to askMark. It is not answered (RFC 860: TM is
		// never in effect), as telnet clients do.
		t.marks--
		if t.marks == 0 {
			t.dec.Discard = false
		}
		return
	}
	var (
		side   *qSide
		reply  qReply
		note   string
		isUs   = verb == cmdDO || verb == cmdDONT
		before bool
	)
	if isUs {
		side = t.us.side(opt)
	} else {
		side = t.him.side(opt)
	}
	before = side.enabled()
	switch verb {
	case cmdWILL:
		reply, note = side.recvYes(t.acceptHim(opt))
	case cmdDO:
		if opt == optNAWS {
			t.nawsAsked = true
		}
		reply, note = side.recvYes(t.acceptUs(opt))
	default:
		if verb == cmdDONT && opt == optNAWS {
			t.nawsAsked = false // withdrawn: a resize does not offer it again
		}
		reply = side.recvNo()
	}
	if note != "" {
		t.logf("option %d: %s", opt, note)
	}
	t.sendVerb(isUs, opt, reply)
	t.changed(isUs, opt, before)
}

// reassertBinary asks again for BINARY (RFC 856) on each side where our
// request is still unanswered (WANTYES), and reports whether it asked. See
// Line.ReassertBinary for when that means the answer was lost. The Q
// method has no way to repeat a request (a peer that had agreed ignores a
// second WILL or DO), so it goes by WANTNO with the opposite queued (RFC
// 1143): the negative verb first, which takes a peer that had agreed back
// to NO (it answers DONT/WONT, and then our queued WILL/DO is sent and
// answered), while a peer in NO ignores it and both ends stay as they
// were, in agreement. Either way the Q method's answers end without a loop.
func (t *telnet) reassertBinary() bool {
	asked := false
	for _, isUs := range []bool{true, false} {
		side := t.him.side(optBinary)
		verb := "DO"
		if isUs {
			side, verb = t.us.side(optBinary), "WILL"
		}
		if side.state != qWantYes || side.opposite {
			continue
		}
		t.logf("option %d: our %s not answered: asked again", optBinary, verb)
		side.state, side.opposite = qWantNo, true
		t.sendVerb(isUs, optBinary, replyNo)
		asked = true
	}
	return asked
}

// askUs asks to enable or disable an option on our side.
func (t *telnet) askUs(opt byte, on bool) {
	t.ask(true, opt, on)
}

// askHim asks the peer to enable or disable an option on its side.
func (t *telnet) askHim(opt byte, on bool) {
	t.ask(false, opt, on)
}

func (t *telnet) ask(isUs bool, opt byte, on bool) {
	side := t.him.side(opt)
	if isUs {
		side = t.us.side(opt)
	}
	before := side.enabled()
	var r qReply
	if on {
		r = side.askEnable()
	} else {
		r = side.askDisable()
	}
	t.sendVerb(isUs, opt, r)
	t.changed(isUs, opt, before)
}

func (t *telnet) sendVerb(isUs bool, opt byte, r qReply) {
	var v byte
	switch {
	case r == replyNone:
		return
	case isUs && r == replyYes:
		v = cmdWILL
	case isUs:
		v = cmdWONT
	case r == replyYes:
		v = cmdDO
	default:
		v = cmdDONT
	}
	t.emit(cmdIAC, v, opt)
}

// changed applies the side effects of an option turning on or off.
func (t *telnet) changed(isUs bool, opt byte, before bool) {
	if isUs {
		now := t.us.enabled(opt)
		if now && !before && opt == optNAWS && t.window != (transport.WindowSize{}) {
			t.sendNAWS()
		}
		return
	}
	now := t.him.enabled(opt)
	t.dec.BinaryIn = t.him.enabled(optBinary)
	if now && !before && opt == optTTYPE && t.server {
		t.emit(cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE)
	}
}

// subnegotiation implements decodeHandler.
func (t *telnet) subnegotiation(opt byte, data []byte) {
	switch opt {
	case optNAWS:
		// RFC 1073: accepted while the option is on or being asked for
		// (some clients send the size together with WILL NAWS).
		if !t.server || t.him.side(optNAWS).state == qNo || t.him.side(optNAWS).state == qWantNo {
			return
		}
		if len(data) != 4 {
			t.logf("NAWS subnegotiation of %d octets (want 4) ignored", len(data))
			return
		}
		ws := transport.WindowSize{
			Cols: int(data[0])<<8 | int(data[1]),
			Rows: int(data[2])<<8 | int(data[3]),
		}
		t.peerWindow = ws
		t.windowChanged = true
	case optTTYPE:
		if len(data) == 0 {
			return
		}
		switch {
		case t.server && data[0] == ttypeIS && t.him.enabled(optTTYPE):
			t.peerTerm = termname.Clean(data[1:])
			if t.peerTerm == "" && !termname.AnnouncesNone(data[1:]) {
				t.logf("terminal type %.40q refused (not a terminfo name): taken as none", data[1:])
			}
		case !t.server && data[0] == ttypeSEND && t.us.enabled(optTTYPE):
			b := append([]byte{cmdIAC, cmdSB, optTTYPE, ttypeIS}, appendSBData(nil, []byte(t.termType))...)
			t.emit(append(b, cmdIAC, cmdSE)...)
		}
	case optTSPEED:
		// RFC 1079: SEND (1) asks for IS (0) "transmit,receive".
		if !t.server && len(data) == 1 && data[0] == ttypeSEND && t.us.enabled(optTSPEED) {
			b := append([]byte{cmdIAC, cmdSB, optTSPEED, ttypeIS}, fmt.Sprintf("%d,%d", t.termSpeed, t.termSpeed)...)
			t.emit(append(b, cmdIAC, cmdSE)...)
		}
	}
}

// command implements decodeHandler. A caller's EC, EL, EOF, SUSP and
// ABORT (PuTTY's Special Commands menu, telnet's `send ec`) arrive as
// the control characters a terminal would type for them, as telnetd
// does with a pty's: DEL, Ctrl-U, Ctrl-D, Ctrl-Z and Ctrl-\. So they
// work at the login prompt and in a backend's program alike.
func (t *telnet) command(cmd byte) (byte, bool) {
	switch cmd {
	case cmdBRK:
		t.events = append(t.events, transport.EventBreak)
	case cmdIP:
		t.events = append(t.events, transport.EventInterrupt)
	case cmdAYT:
		t.events = append(t.events, transport.EventAreYouThere)
		t.emit(t.aytAnswer()...)
	case cmdEC, cmdEL, cmdEOF, cmdSUSP, cmdABORT:
		if t.server {
			return inBand[cmd], true
		}
	case cmdAO:
		if t.server {
			t.events = append(t.events, transport.EventAbortOutput)
		}
	case cmdNOP, cmdDM, cmdGA, 239 /* EOR, RFC 885 */ :
		// Nothing for a modem line to do.
	default:
		t.logf("unknown telnet command IAC %d ignored", cmd)
	}
	return 0, false
}

// inBand is the control character a server line hands on for a telnet
// command that stands for one.
var inBand = map[byte]byte{cmdEC: 0x7f, cmdEL: 0x15, cmdEOF: 0x04, cmdSUSP: 0x1a, cmdABORT: 0x1c}

// logf implements decodeHandler; it stops after maxLogs lines.
func (t *telnet) logf(format string, args ...any) {
	if t.logFn == nil || t.logged > maxLogs {
		return
	}
	t.logged++
	if t.logged > maxLogs {
		t.logFn("telnet: further protocol errors on this line not logged")
		return
	}
	t.logFn("telnet: "+format, args...)
}

// setServerEcho asks for (on) or gives up (off) server echo (RFC 857).
func (t *telnet) setServerEcho(on bool) error {
	if !t.server {
		return fmt.Errorf("tcp: telnet: server echo is the server's to set: %w", errors.ErrUnsupported)
	}
	t.wantEcho = on
	t.askUs(optEcho, on)
	return nil
}

// SetAYTName names the gateway in the line's answer to AYT from now on:
// "[name: yes]" (RFC 854: visible evidence the AYT was received); ""
// goes back to "dialgate". The name is sent as given (it may be UTF-8),
// but octets that are not printable (controls, DEL, 0xFF) as '?', so it
// cannot carry commands or move the caller's cursor. An AYT decoded
// before the call is given the name is answered with "dialgate".
func (l *Line) SetAYTName(name string) {
	if !l.telnetOn() {
		return
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	l.tn.setAYTName(name)
}

func (t *telnet) setAYTName(name string) { t.aytName = name }

// aytAnswer is the answer to AYT: aytReply, or "[name: yes]" with the
// gateway's name (SetAYTName), its unprintable octets as '?'. Made when
// asked (rarely), so that an idle line keeps only the name.
func (t *telnet) aytAnswer() []byte {
	if t.aytName == "" {
		return []byte(aytReply)
	}
	b := append(make([]byte, 0, len(t.aytName)+12), "\r\n["...)
	for i := range len(t.aytName) {
		c := t.aytName[i]
		if c < 0x20 || c == 0x7F || c == cmdIAC {
			c = '?'
		}
		b = append(b, c)
	}
	return append(b, ": yes]\r\n"...)
}

// PeerEchoes reports whether the peer performs ECHO (RFC 857): on a
// client-side line, whether the server echoes what it is sent, so a
// terminal behind the line should not echo locally. It follows the
// peer's WILL and WONT as Read decodes them (a server may turn echo on
// for a password prompt and off again); false on raw lines.
func (l *Line) PeerEchoes() bool {
	if !l.telnetOn() {
		return false
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	return l.tn.him.enabled(optEcho)
}

// setWindowSize records our window size and sends it if NAWS is on.
func (t *telnet) setWindowSize(ws transport.WindowSize) error {
	if t.server {
		return fmt.Errorf("tcp: telnet: window size is the client's to announce: %w", errors.ErrUnsupported)
	}
	t.window = ws
	switch {
	case t.us.enabled(optNAWS):
		t.sendNAWS()
	case t.nawsAsked && ws != (transport.WindowSize{}) && t.us.side(optNAWS).state == qNo:
		t.askUs(optNAWS, true) // the size follows the server's DO
	}
	return nil
}

func (t *telnet) sendNAWS() {
	w, h := clamp16(t.window.Cols), clamp16(t.window.Rows)
	b := append([]byte{cmdIAC, cmdSB, optNAWS}, appendSBData(nil, []byte{byte(w >> 8), byte(w), byte(h >> 8), byte(h)})...)
	t.emit(append(b, cmdIAC, cmdSE)...)
}

func clamp16(v int) int {
	return min(max(v, 0), 0xFFFF)
}

// appendSBData appends subnegotiation parameters with IAC doubled (RFC 855).
func appendSBData(dst, p []byte) []byte {
	for _, b := range p {
		dst = append(dst, b)
		if b == cmdIAC {
			dst = append(dst, cmdIAC)
		}
	}
	return dst
}
