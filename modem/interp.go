package modem

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// State is the interpreter's call state.
type State int

// Interpreter states.
const (
	StateCommand       State = iota // on hook, interpreting commands
	StateDialing                    // D issued, waiting for Connected or DialFailed
	StateAnswering                  // A issued (or auto-answer), waiting for Connected or DialFailed
	StateOnline                     // data passes between DTE and line
	StateOnlineCommand              // call up, DTE in command mode after an escape
)

func (s State) String() string {
	switch s {
	case StateCommand:
		return "command"
	case StateDialing:
		return "dialing"
	case StateAnswering:
		return "answering"
	case StateOnline:
		return "online"
	case StateOnlineCommand:
		return "online-command"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ActionKind names what the interpreter asks its driver to do.
type ActionKind int

// Actions.
const (
	ActDial   ActionKind = iota + 1 // place a call to Action.Dial
	ActHangup                       // hang up the call, or abandon the dial or answer in progress
	ActAnswer                       // answer the ringing incoming call
	ActSave                         // persist Action.Profile (&W)
	ActRefuse                       // refuse the ringing incoming call (it rang out unanswered)
)

func (k ActionKind) String() string {
	switch k {
	case ActDial:
		return "dial"
	case ActHangup:
		return "hangup"
	case ActAnswer:
		return "answer"
	case ActSave:
		return "save"
	case ActRefuse:
		return "refuse"
	}
	return "action(" + strconv.Itoa(int(k)) + ")"
}

// Action is one request to the driver.
type Action struct {
	Kind    ActionKind
	Dial    string  // ActDial: the dial string (see dialString: a quoted one as it is)
	Whole   string  // ActDial: the unquoted dial string with the tone or pulse letter Dial lost ("" if it lost none): a phonebook name may begin with it
	Mode    Mode    // ActDial: the call mode \N selects, for a dial string that is no phonebook entry
	Profile Profile // ActSave: the profile to store
	Why     string  // ActHangup: the cause for the driver's log, if told
}

// Output is what one call into the interpreter produced. DTE and Line may
// alias internal buffers: use them before the next call.
type Output struct {
	DTE     []byte   // bytes for the DTE (echo, result codes, line data)
	Line    []byte   // bytes for the line (DTE data while online)
	Actions []Action // in order
}

// ConnectInfo describes an established call for the CONNECT message.
type ConnectInfo struct {
	Rate int  // line rate in bit/s shown after CONNECT; 0 shows the DTE rate
	LAPM bool // V.42 LAPM error correction is on: CONNECT <rate>/LAPM
}

// Identity is what I0..I4 report.
type Identity struct {
	Product string // I0
	Version string // I3
}

// Config configures an Interp.
type Config struct {
	Stored   Profile  // the profile &W saved last (Z restores it); a zero X and Regs means Factory()
	Identity Identity // I command text
	DTERate  int      // DTE speed in bit/s, used by CONNECT when the call reports no rate
}

// Timings that V.250 leaves to the manufacturer.
const (
	// RingInterval is the time between RING results for an incoming call
	// (a US ring cadence is 2 s on, 4 s off).
	RingInterval = 6 * time.Second
	// RingOn is how long the ring indicator (circuit 125) stays on for
	// each RING: the "on" part of that cadence.
	RingOn = 2 * time.Second
	// MaxRings is how many times an unanswered incoming call rings before
	// it is refused.
	MaxRings = 15
	// maxLine bounds a command line's characters other than spaces
	// (V.250 5.2.1 asks for at least 40; spaces are ignored, 5.2.1, so
	// they do not count), maxLineSpaces the line with its spaces.
	maxLine       = 255
	maxLineSpaces = 4 * maxLine
)

// Interp is the pure Hayes command interpreter. Every method takes the
// current time where timing matters; the Interp never reads a clock and
// does no I/O. It is not safe for concurrent use.
type Interp struct {
	cfg    Config
	p      Profile // active profile
	stored Profile
	state  State
	// dtrOff: the DTE dropped DTR under &D2/&D3 and has neither sent
	// anything nor raised DTR since (a pty shows the next DTE only by its
	// input; a watched serial port shows DTR): no auto-answer meanwhile,
	// as a Hayes modem does not answer while DTR is off.
	dtrOff bool

	// command line assembly
	line      []byte
	sawA      bool // saw 'A' at the start of a command line
	inLine    bool // saw "AT", collecting the line
	overflow  bool
	afterCR   bool      // the last DTE character was the CR that ended a command line
	crAt      time.Time // when that CR came
	last      []byte    // last executed command line (for A/), without "AT"
	lastDial  string    // last dial string (for DL)
	lastWhole string    // its Whole (Action.Whole)
	selReg    int       // register selected by a bare Sn

	// call
	callStart time.Time // dial or answer started
	connect   ConnectInfo

	// escape detection (online)
	lastDTE  time.Time // time of the last byte from the DTE (or of CONNECT)
	escCount int
	escLast  time.Time // time of the last escape character

	// incoming call
	ringing  bool
	nextRing time.Time
	riOff    time.Time // the ring indicator is on until then

	out Output
}

// NewInterp returns an interpreter in command state with the stored profile
// active, as a modem is after power-on.
func NewInterp(cfg Config) *Interp {
	if cfg.Stored.X == 0 && cfg.Stored.Regs == ([NumRegs]byte{}) {
		cfg.Stored = Factory()
	}
	if cfg.Identity.Product == "" {
		cfg.Identity.Product = "dialgate modem"
	}
	if cfg.DTERate <= 0 {
		cfg.DTERate = 115200
	}
	return &Interp{cfg: cfg, p: cfg.Stored, stored: cfg.Stored}
}

// State reports the call state.
func (m *Interp) State() State { return m.state }

// Profile returns the active profile.
func (m *Interp) Profile() Profile { return m.p }

// Reg returns S-register n (0 for an out-of-range n).
func (m *Interp) Reg(n int) byte {
	if n < 0 || n >= NumRegs {
		return 0
	}
	return m.p.Regs[n]
}

// DCD reports what the modem's Data Carrier Detect circuit (109) shows
// the DTE, per &C (V.250 6.2.8): &C0 keeps it on; &C1 turns it on while a
// call is up (online, or in command mode after an escape) and off
// otherwise, including while dialing, answering and ringing.
func (m *Interp) DCD() bool {
	if m.p.DCD == 0 {
		return true
	}
	return m.state == StateOnline || m.state == StateOnlineCommand
}

// DSR reports what the modem's Data Set Ready circuit (107) shows the
// DTE, per &S (a Hayes command; V.250 leaves it to manufacturers): &S0
// keeps it on; &S1 turns it on while a call is in progress (dialing,
// answering, online, or in command mode after an escape).
func (m *Interp) DSR() bool {
	if m.p.DSR == 0 {
		return true
	}
	return m.state != StateCommand
}

// RI reports what the Ring Indicator circuit (125) shows the DTE at now:
// on for RingOn from each RING of an incoming call that is still ringing.
// Deadline includes the moment it goes off.
func (m *Interp) RI(now time.Time) bool {
	return m.ringing && m.state == StateCommand && !m.riOff.IsZero() && now.Before(m.riOff)
}

// Flow is the local flow control the profile selects (&K, see FlowOf).
func (m *Interp) Flow() Flow { return FlowOf(m.p.Flow) }

// Ringing reports whether an incoming call is waiting to be answered.
func (m *Interp) Ringing() bool { return m.ringing }

func (m *Interp) reset() {
	m.out.DTE = m.out.DTE[:0]
	m.out.Line = m.out.Line[:0]
	m.out.Actions = m.out.Actions[:0]
}

func (m *Interp) result(r Result, text string) {
	m.out.DTE = formatResult(m.out.DTE, &m.p, r, text)
}

func (m *Interp) act(a Action) { m.out.Actions = append(m.out.Actions, a) }

// guard is the S12 escape guard time.
func (m *Interp) guard() time.Duration {
	return time.Duration(m.p.Regs[RegGuard]) * time.Second / 50
}

// DTRRaise tells the modem that the DTE raised DTR after a drop (a serial
// port whose DTR it watches): it may auto-answer again.
func (m *Interp) DTRRaise() { m.dtrOff = false }

// FromDTE feeds bytes the DTE sent at time now.
func (m *Interp) FromDTE(now time.Time, p []byte) Output {
	m.reset()
	if len(p) > 0 {
		m.dtrOff = false // a DTE is there again
	}
	for i := 0; i < len(p); i++ {
		b := p[i]
		if m.lineEndLF(now, b) {
			continue
		}
		switch m.state {
		case StateOnline:
			// Fast path: everything up to the next escape character is
			// plain data (onlineByte would only reset the escape count).
			j := len(p) - i
			if esc := m.p.Regs[RegEscape]; esc <= 127 {
				if k := bytes.IndexByte(p[i:], esc); k >= 0 {
					j = k
				}
			}
			if j > 0 {
				m.out.Line = append(m.out.Line, p[i:i+j]...)
				m.escCount = 0
				m.lastDTE = now
				i += j - 1
				continue
			}
			m.onlineByte(now, b)
		case StateDialing, StateAnswering:
			// Any character aborts a dial or answer in progress (Hayes);
			// the rest of the input is discarded.
			what := "dial"
			if m.state == StateAnswering {
				what = "answer"
			}
			m.act(Action{Kind: ActHangup, Why: fmt.Sprintf("a character from the DTE (%q) abandoned the %s", b, what)})
			m.state = StateCommand
			m.result(ResNoCarrier, "")
			return m.out
		default:
			m.commandByte(now, b)
		}
	}
	if m.state == StateOnline {
		m.checkEscape(now)
	}
	return m.out
}

// lineEndLF reports whether b, coming at now, is a line feed right after
// the CR that ended a command line, which the interpreter drops once a
// call is being placed, answered or is up: terminals that end lines with
// CR LF send it as part of the line's end, and it must not abandon the
// dial (as any other character does) nor reach the call as data. Only
// within lfAfterCR of the CR: a line feed that comes later, when the call
// is up, is the first octet of the caller's data. In command states it is
// handled as before (ignored between command lines, echoed with E1).
func (m *Interp) lineEndLF(now time.Time, b byte) bool {
	after := m.afterCR
	m.afterCR = false
	if !after || b != '\n' || m.state == StateCommand || m.state == StateOnlineCommand {
		return false
	}
	return m.state != StateOnline || now.Sub(m.crAt) < lfAfterCR
}

// lfAfterCR bounds the wait for the LF of a CR LF line end once the call
// is up: a character time is 91 ms at 110 bit/s.
const lfAfterCR = time.Second

// onlineByte passes a data byte to the line and tracks the escape sequence:
// a guard time of silence, three S2 characters each within the guard time
// of the previous one, and another guard time of silence (checked by Tick).
func (m *Interp) onlineByte(now time.Time, b byte) {
	m.out.Line = append(m.out.Line, b)
	esc := m.p.Regs[RegEscape]
	g := m.guard()
	switch {
	case esc > 127 || b != esc:
		m.escCount = 0
	case m.escCount == 0:
		if now.Sub(m.lastDTE) >= g {
			m.escCount = 1
		}
	case m.escCount < 3 && now.Sub(m.escLast) < g || g == 0 && m.escCount < 3:
		m.escCount++
	default:
		// Too slow, or a fourth escape character: this one may start a
		// new sequence if it followed a guard time of silence.
		m.escCount = 0
		if now.Sub(m.lastDTE) >= g && g > 0 {
			m.escCount = 1
		}
	}
	if b == esc {
		m.escLast = now
	}
	m.lastDTE = now
}

// checkEscape enters online-command state when three escape characters
// were followed by a guard time of silence.
func (m *Interp) checkEscape(now time.Time) {
	if m.escCount == 3 && now.Sub(m.escLast) >= m.guard() {
		m.escCount = 0
		m.state = StateOnlineCommand
		m.result(ResOK, "")
	}
}

// Deadline reports when Tick must next be called, if at all.
func (m *Interp) Deadline() (time.Time, bool) {
	var d time.Time
	ok := false
	earliest := func(t time.Time) {
		if !ok || t.Before(d) {
			d, ok = t, true
		}
	}
	switch m.state {
	case StateOnline:
		if m.escCount == 3 {
			earliest(m.escLast.Add(m.guard()))
		}
	case StateDialing, StateAnswering:
		if s7 := m.p.Regs[RegCarrierWait]; s7 > 0 {
			earliest(m.callStart.Add(time.Duration(s7) * time.Second))
		}
	}
	if m.ringing {
		earliest(m.nextRing)
		if !m.riOff.IsZero() {
			earliest(m.riOff) // the ring indicator goes off
		}
	}
	return d, ok
}

// Tick advances time: it completes an escape sequence, gives up a dial or
// answer after S7 seconds (NO CARRIER), ends the ring indicator's on
// time and repeats RING.
func (m *Interp) Tick(now time.Time) Output {
	m.reset()
	if !m.riOff.IsZero() && !now.Before(m.riOff) {
		m.riOff = time.Time{}
	}
	switch m.state {
	case StateOnline:
		m.checkEscape(now)
	case StateDialing, StateAnswering:
		if s7 := m.p.Regs[RegCarrierWait]; s7 > 0 && !now.Before(m.callStart.Add(time.Duration(s7)*time.Second)) {
			m.act(Action{Kind: ActHangup})
			m.state = StateCommand
			m.result(ResNoCarrier, "")
			if m.ringing {
				m.ringing = false
				m.p.Regs[RegRingCount] = 0
			}
		}
	}
	if m.ringing && m.state == StateCommand && !now.Before(m.nextRing) {
		m.ring(now)
	}
	return m.out
}

// FromLine feeds bytes that arrived from the call. While online they go to
// the DTE; in any other state they are discarded (a modem in online-command
// state has no buffer for them), and discarded says how many were.
func (m *Interp) FromLine(p []byte) (out Output, discarded int) {
	m.reset()
	if m.state != StateOnline {
		return m.out, len(p)
	}
	m.out.DTE = append(m.out.DTE, p...)
	return m.out, 0
}

// Connected reports that the call the interpreter asked for (ActDial or
// ActAnswer) is up. If the interpreter no longer waits for a call (the dial
// was abandoned), the output holds ActHangup and the state is unchanged.
func (m *Interp) Connected(now time.Time, info ConnectInfo) Output {
	m.reset()
	if m.state != StateDialing && m.state != StateAnswering {
		m.act(Action{Kind: ActHangup})
		return m.out
	}
	if m.state == StateAnswering {
		m.ringing = false
		m.p.Regs[RegRingCount] = 0
	}
	m.connect = info
	m.state = StateOnline
	m.lastDTE = now
	m.escCount = 0
	m.result(ResConnect, m.connectText())
	return m.out
}

func (m *Interp) connectText() string {
	if m.p.X == 0 {
		return "CONNECT"
	}
	rate := m.connect.Rate
	if rate <= 0 {
		rate = m.cfg.DTERate
	}
	s := "CONNECT " + strconv.Itoa(rate)
	if m.connect.LAPM {
		s += "/LAPM"
	}
	return s
}

// RestartCarrierWait starts the S7 wait of a dial again at now: the
// runner calls it when the user has typed a line the dial prompted for
// (the time spent typing does not count against S7).
func (m *Interp) RestartCarrierWait(now time.Time) {
	if m.state == StateDialing {
		m.callStart = now
	}
}

// DialFailed reports that the dial or answer in progress failed. explain is
// a one-line reason shown before the result code at X4 in verbose mode; it
// must not hold secrets.
func (m *Interp) DialFailed(now time.Time, r Reason, explain string) Output {
	m.reset()
	if m.state != StateDialing && m.state != StateAnswering {
		return m.out
	}
	if m.state == StateAnswering {
		m.ringing = false
		m.p.Regs[RegRingCount] = 0
	}
	m.state = StateCommand
	m.explain(explain)
	m.result(resultFor(r, m.p.X), "")
	return m.out
}

func (m *Interp) explain(s string) {
	if s == "" || m.p.X < 4 || !m.p.Verbose || m.p.Quiet {
		return
	}
	m.out.DTE = infoLine(m.out.DTE, &m.p, sanitize(s))
}

// sanitize keeps an explanation on one printable line.
func sanitize(s string) string {
	b := make([]byte, 0, min(len(s), 200))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}

// CarrierLost reports that the call dropped (the remote hung up or the
// line failed). Online or in online-command state the DTE gets NO CARRIER.
// The emulated line has no carrier to lose for a moment, so the S10
// carrier-loss delay is not waited for.
func (m *Interp) CarrierLost(now time.Time, explain string) Output {
	m.reset()
	if m.state != StateOnline && m.state != StateOnlineCommand {
		return m.out
	}
	m.state = StateCommand
	m.act(Action{Kind: ActHangup})
	m.explain(explain)
	m.result(ResNoCarrier, "")
	return m.out
}

// Incoming reports an incoming call: the DTE gets RING now and every
// RingInterval; with S0 > 0 the interpreter answers after S0 rings. An
// incoming call while not in command state is refused (ActRefuse).
func (m *Interp) Incoming(now time.Time) Output {
	m.reset()
	if m.state != StateCommand || m.ringing {
		m.act(Action{Kind: ActRefuse})
		return m.out
	}
	m.ringing = true
	m.p.Regs[RegRingCount] = 0
	m.ring(now)
	return m.out
}

// IncomingGone reports that the ringing caller gave up before the answer.
func (m *Interp) IncomingGone(now time.Time) Output {
	m.reset()
	if m.ringing && m.state == StateCommand {
		m.ringing = false
		m.p.Regs[RegRingCount] = 0
	}
	return m.out
}

func (m *Interp) ring(now time.Time) {
	if int(m.p.Regs[RegRingCount]) >= MaxRings {
		m.ringing = false
		m.p.Regs[RegRingCount] = 0
		m.act(Action{Kind: ActRefuse})
		return
	}
	m.p.Regs[RegRingCount]++
	m.nextRing = now.Add(RingInterval)
	m.riOff = now.Add(RingOn)
	m.result(ResRing, "")
	if s0 := m.p.Regs[RegAutoAnswer]; s0 > 0 && m.p.Regs[RegRingCount] >= s0 && !m.dtrOff {
		m.answer(now)
	}
}

func (m *Interp) answer(now time.Time) {
	m.state = StateAnswering
	m.callStart = now
	m.act(Action{Kind: ActAnswer})
}

// DTRDrop reports that the DTE dropped DTR (for a pty: every process closed
// it). The &D setting decides: &D0 ignores it, &D1 escapes to
// online-command state, &D2 hangs up, &D3 hangs up and restores the stored
// profile; under &D2 and &D3 incoming calls ring but are not answered
// (S0) until the DTE sends something again.
func (m *Interp) DTRDrop(now time.Time) Output {
	m.reset()
	m.line, m.inLine, m.sawA, m.overflow = m.line[:0], false, false, false
	switch m.p.DTR {
	case 0:
		return m.out
	case 1:
		if m.state == StateOnline {
			m.state = StateOnlineCommand
			m.result(ResOK, "")
		}
		return m.out
	}
	m.dtrOff = true
	if m.state != StateCommand {
		m.act(Action{Kind: ActHangup})
		if m.state == StateAnswering {
			m.ringing = false
		}
		m.state = StateCommand
		m.result(ResNoCarrier, "")
	}
	if m.p.DTR == 3 {
		m.p = m.stored
	}
	return m.out
}

// commandByte handles one byte in command state: echo, editing, the AT and
// A/ prefixes, and executing the line at S3. Between lines every byte is
// echoed (E1) and only the prefix counts.
func (m *Interp) commandByte(now time.Time, b byte) {
	cr, bs := m.p.Regs[RegCR], m.p.Regs[RegBS]
	if b == 0x7f && bs == 0x08 && cr != 0x7f {
		// DEL erases too: the Backspace key of picocom, tio and xterm
		// sends it (modem trial: the typo stayed, unseen, and the
		// command was an ERROR).
		b = bs
	}
	if (m.inLine || m.sawA) && b != cr && b != bs && (b < 0x20 || b == 0x7f) {
		// V.250 5.2 has the DCE ignore control characters other than
		// S3 and S5 in a command line: a stray one from the terminal (a
		// BEL, NUL, the LF of a LF CR line end) is neither kept nor echoed.
		return
	}
	if m.p.Echo {
		if b == bs {
			if m.inLine && len(m.line) > 0 || m.sawA {
				m.out.DTE = append(m.out.DTE, bs, ' ', bs)
			}
		} else {
			m.out.DTE = append(m.out.DTE, b)
		}
	}
	switch {
	case !m.inLine && !m.sawA:
		if b == 'A' || b == 'a' {
			m.sawA = true
		}
	case m.sawA:
		m.sawA = false
		switch b {
		case 'T', 't':
			m.inLine = true
			m.line = m.line[:0]
			m.overflow = false
		case '/':
			if m.p.Echo {
				m.out.DTE = append(m.out.DTE, cr, m.p.Regs[RegLF])
			}
			m.execute(now, m.last)
		case 'A', 'a':
			m.sawA = true
		}
	case b == cr:
		m.inLine = false
		m.afterCR, m.crAt = true, now
		if m.overflow {
			m.result(ResError, "")
			return
		}
		m.last = append(m.last[:0], m.line...)
		m.execute(now, m.line)
	case b == bs:
		if len(m.line) > 0 {
			m.line = m.line[:len(m.line)-1]
		} else {
			// Backspacing over the T of AT leaves the A.
			m.inLine = false
			m.sawA = true
		}
	default:
		if b != ' ' && len(m.line)-bytes.Count(m.line, []byte{' '}) >= maxLine || len(m.line) >= maxLineSpaces {
			m.overflow = true
			return
		}
		m.line = append(m.line, b)
	}
}

// execute runs one command line (without "AT"). The line is atomic: if any
// command fails, the line answers ERROR and none of its effects remain,
// not even a &W's on the stored profile (whose ActSave is dropped too).
func (m *Interp) execute(now time.Time, line []byte) {
	saved, savedStored, savedSel := m.p, m.stored, m.selReg
	ex := executor{m: m, src: line}
	res, text := ex.run()
	if res == ResError {
		m.p, m.stored, m.selReg = saved, savedStored, savedSel
		m.result(ResError, "")
		return
	}
	m.out.DTE = append(m.out.DTE, ex.info...)
	for _, a := range ex.actions {
		m.act(a)
	}
	switch ex.final {
	case finalDial:
		m.lastDial, m.lastWhole = ex.dial, ex.whole
		m.state = StateDialing
		m.callStart = now
		m.act(Action{Kind: ActDial, Dial: ex.dial, Whole: ex.whole, Mode: ModeOfEC(m.p.EC)})
		return
	case finalAnswer:
		if !m.ringing {
			m.result(ResNoCarrier, "")
			return
		}
		m.answer(now)
		return
	case finalOnline:
		m.state = StateOnline
		m.lastDTE = now
		m.escCount = 0
		m.result(ResConnect, m.connectText())
		return
	}
	m.result(res, text)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if upper(a[i]) != upper(b[i]) {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// profileLine formats the settings part of &V.
func profileLine(p *Profile) string {
	return fmt.Sprintf("E%d Q%d V%d X%d &C%d &D%d &K%d &S%d \\N%d", b2i(p.Echo), b2i(p.Quiet), b2i(p.Verbose), p.X, p.DCD, p.DTR, p.Flow, p.DSR, p.EC)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
