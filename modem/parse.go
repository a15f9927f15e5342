package modem

import (
	"fmt"
	"strings"
)

type finalKind int

const (
	finalNone finalKind = iota
	finalDial
	finalAnswer
	finalOnline
)

// executor runs one command line on the interpreter's active profile. It
// records side effects (actions, hang-up, dial) instead of performing them,
// so a line that fails leaves nothing behind (Interp.execute restores the
// profile).
type executor struct {
	m       *Interp
	src     []byte
	pos     int
	info    []byte
	actions []Action
	final   finalKind
	dial    string
	whole   string // the unquoted dial string with the T or P dial dropped ("" if none)
	hangup  bool
}

// ignored lists basic commands accepted with OK because they mean nothing
// on an emulated line (speaker, bell/CCITT, flow control, error control,
// compression, ...), with the largest number each accepts. The key is the
// prefix ("", "&", "\\", "%") followed by the command letter.
var ignored = map[string]int{
	"B": 1, "C": 1, "F": 1, "L": 3, "M": 3, "N": 1, "P": 0, "T": 0, "W": 2, "Y": 1,
	"&A": 3, "&B": 2, "&E": 15, "&G": 2, "&H": 7, "&I": 5, "&J": 1, "&L": 1, "&M": 5,
	"&N": 20, "&P": 3, "&Q": 9, "&R": 2, "&T": 8, "&U": 20, "&X": 2, "&Y": 3,
	"\\A": 3, "\\B": 9, "\\G": 1, "\\J": 1, "\\K": 5, "\\Q": 3, "\\T": 90, "\\V": 2,
	"%C": 3, "%E": 2,
}

// extended lists the V.250 extended commands accepted (clause 6.1, 6.2,
// 6.3, and V.250 annex for +MS/+ES); their values are not interpreted.
var extended = map[string]bool{
	"IFC": true, "IPR": true, "ICF": true, "MS": true, "ES": true, "DS": true,
	"DR": true, "ER": true, "ILRR": true, "CMEE": true, "ETBM": true,
	"EB": true, "EFCS": true, "ESR": true, "ESA": true, "EFRAM": true, "EWIND": true,
}

func (ex *executor) peek() (byte, bool) {
	for ex.pos < len(ex.src) && ex.src[ex.pos] == ' ' {
		ex.pos++
	}
	if ex.pos >= len(ex.src) {
		return 0, false
	}
	return upper(ex.src[ex.pos]), true
}

func (ex *executor) next() (byte, bool) {
	c, ok := ex.peek()
	if ok {
		ex.pos++
	}
	return c, ok
}

// number reads an optional decimal parameter (V.250 5.3.1: a missing value
// is 0). ok is false for a value above 255.
func (ex *executor) number() (n int, ok bool) {
	digits := 0
	for {
		c, more := ex.peek()
		if !more || c < '0' || c > '9' {
			break
		}
		ex.pos++
		n = n*10 + int(c-'0')
		digits++
		if n > 255 {
			return 0, false
		}
	}
	return n, true
}

func (ex *executor) infoText(s string) {
	ex.info = infoLine(ex.info, &ex.m.p, s)
}

// run executes the line; it returns ResError for any bad command.
func (ex *executor) run() (Result, string) {
	m := ex.m
	for {
		c, ok := ex.next()
		if !ok {
			return ex.commit()
		}
		switch c {
		case 'D':
			if !ex.cmdDial() {
				return ResError, ""
			}
		case 'A':
			if m.state != StateCommand || ex.final != finalNone {
				return ResError, ""
			}
			ex.final = finalAnswer
			return ex.commit() // V.250 6.3.5: commands after A are ignored
		case 'O':
			n, ok := ex.number()
			if !ok || n > 1 || m.state != StateOnlineCommand || ex.hangup || ex.final != finalNone {
				return ResError, ""
			}
			ex.final = finalOnline
			return ex.commit() // the rest of the line is ignored
		case 'H':
			n, ok := ex.number()
			if !ok || n > 1 {
				return ResError, ""
			}
			if n == 0 {
				ex.hangup = true
			}
		case 'Z':
			n, ok := ex.number()
			if !ok || n > 1 {
				return ResError, ""
			}
			m.p = m.stored
			ex.hangup = true
		case 'E', 'Q', 'V':
			n, ok := ex.number()
			if !ok || n > 1 {
				return ResError, ""
			}
			switch c {
			case 'E':
				m.p.Echo = n == 1
			case 'Q':
				m.p.Quiet = n == 1
			case 'V':
				m.p.Verbose = n == 1
			}
		case 'X':
			n, ok := ex.number()
			if !ok || n > 7 {
				return ResError, ""
			}
			// X5..X7 are vendors' supersets of X4 (ZyXEL, USRobotics),
			// which dialers' init strings use: they act as X4.
			m.p.X = min(n, 4)
		case 'I':
			n, ok := ex.number()
			if !ok || !ex.cmdInfo(n) {
				return ResError, ""
			}
		case 'S':
			if !ex.cmdReg() {
				return ResError, ""
			}
		case '?':
			ex.infoText(fmt.Sprintf("%03d", m.p.Regs[m.selReg]))
		case '=':
			n, ok := ex.number()
			if !ok || !ex.setReg(m.selReg, n) {
				return ResError, ""
			}
		case '&':
			if !ex.cmdAmpersand() {
				return ResError, ""
			}
		case '\\', '%':
			l, ok := ex.next()
			if !ok {
				return ResError, ""
			}
			if c == '\\' && upper(l) == 'N' {
				// \N: error control for calls dialed by address.
				n, ok := ex.number()
				if !ok || n > MaxEC {
					return ResError, ""
				}
				m.p.EC = n
				continue
			}
			if !ex.ignore(string(c) + string(l)) {
				return ResError, ""
			}
		case '+':
			if !ex.cmdExtended() {
				return ResError, ""
			}
		case '*', '#':
			if !ex.cmdVendor(c) {
				return ResError, ""
			}
		default:
			if !ex.ignore(string(c)) {
				return ResError, ""
			}
		}
	}
}

// commit finishes a line that parsed: a hang-up it asked for is applied.
func (ex *executor) commit() (Result, string) {
	m := ex.m
	if ex.hangup {
		switch {
		case m.state == StateOnlineCommand:
			ex.actions = append(ex.actions, Action{Kind: ActHangup})
			m.state = StateCommand
			// tcpser and most emulators report the dropped call first.
			ex.info = formatResult(ex.info, &m.p, ResNoCarrier, "")
		case m.ringing:
			m.ringing = false
			m.p.Regs[RegRingCount] = 0
			ex.actions = append(ex.actions, Action{Kind: ActRefuse})
		}
	}
	return ResOK, ""
}

func (ex *executor) ignore(name string) bool {
	maxN, ok := ignored[name]
	if !ok {
		return false
	}
	n, ok := ex.number()
	return ok && n <= maxN
}

// cmdVendor handles the two vendor commands with a '*' or '#' prefix
// that C-Kermit's init strings send, accepted without effect: Motorola's
// modulation select *MM0 to *MM16 (its motorola-sm56-v90 type sends
// "ATQ0V1X4&C1&D2*MM16") and the Rockwell data/fax class #CLS, data
// mode only (its telepath type sends "ATQ0X4&N0&Y1#CLS=0S13=0S15=0S19=0").
// Any other such command (#CID, a bare '*') is an error.
func (ex *executor) cmdVendor(prefix byte) bool {
	name := "MM"
	if prefix == '#' {
		name = "CLS"
	}
	for i := range len(name) {
		if c, ok := ex.next(); !ok || c != name[i] {
			return false
		}
	}
	if prefix == '*' {
		n, ok := ex.number()
		return ok && n <= 16
	}
	c, ok := ex.next()
	switch {
	case ok && c == '?':
	case ok && c == '=':
		if c, ok := ex.peek(); ok && c == '?' {
			ex.pos++
			break
		}
		n, ok := ex.number()
		return ok && n == 0
	default:
		return false
	}
	ex.infoText("0")
	return true
}

// cmdDial reads D's dial string (dialString). An unquoted one ends the
// line; after a quoted one the line goes on, and a second D, A or O on it
// is an error.
func (ex *executor) cmdDial() bool {
	m := ex.m
	if ex.final != finalNone || m.state != StateCommand && !(m.state == StateOnlineCommand && ex.hangup) {
		return false
	}
	s, quoted, end := dialString(ex.src, ex.pos)
	whole := ""
	if w := unquotedDial(ex.src, ex.pos); !quoted && w != s {
		whole = w // ATDplainbbs: the entry may be "plainbbs", not "lainbbs"
	}
	if !quoted && (s == "L" || s == "l") {
		s, whole = m.lastDial, m.lastWhole
	}
	if !dialable(s) {
		return false
	}
	ex.pos = end
	if c, ok := ex.peek(); quoted && ok && c == ';' {
		ex.pos++
	}
	ex.final = finalDial
	ex.dial, ex.whole = s, whole
	return true
}

func (ex *executor) cmdInfo(n int) bool {
	id := ex.m.cfg.Identity
	switch n {
	case 0:
		ex.infoText(id.Product)
	case 1:
		ex.infoText("000")
	case 2:
		ex.infoText("OK")
	case 3:
		ex.infoText(strings.TrimSpace(id.Product + " " + id.Version))
	case 4:
		ex.infoText("Hayes AT (V.250), telnet-modem, V.42 LAPM, Access Security, callback")
	case 5, 6, 7, 8, 9, 10, 11:
		// Vendors' diagnostics and settings (USRobotics, Rockwell: link
		// statistics, stored profiles): nothing to show, OK as tcpser
		// answers, so a program that asks does not stop at ERROR.
	default:
		return false
	}
	return true
}

// cmdReg handles Sn=v, Sn? and a bare Sn (select register n for ? and =).
func (ex *executor) cmdReg() bool {
	m := ex.m
	c, ok := ex.peek()
	if !ok || c < '0' || c > '9' {
		return false
	}
	n, ok := ex.number()
	if !ok || n >= NumRegs {
		return false
	}
	m.selReg = n
	c, ok = ex.peek()
	switch {
	case ok && c == '=':
		ex.pos++
		v, ok := ex.number()
		return ok && ex.setReg(n, v)
	case ok && c == '?':
		ex.pos++
		ex.infoText(fmt.Sprintf("%03d", m.p.Regs[n]))
	}
	return true
}

func (ex *executor) setReg(n, v int) bool {
	if n < 0 || n >= NumRegs || v < 0 || v > 255 {
		return false
	}
	if (n == RegCR || n == RegLF || n == RegBS) && v > 127 {
		// V.250 6.2.1-6.2.3: S3, S4 and S5 take 0..127. S3 above it
		// could never end a line typed by a 7-bit terminal again
		// (modem trial: a stray ATS3=200 left no way back but a
		// raw 0xC8).
		return false
	}
	ex.m.p.Regs[n] = byte(v)
	return true
}

func (ex *executor) cmdAmpersand() bool {
	m := ex.m
	l, ok := ex.next()
	if !ok {
		return false
	}
	n, ok := ex.number()
	if !ok {
		return false
	}
	switch l {
	case 'F':
		if n > 1 {
			return false
		}
		m.p = Factory()
	case 'W':
		if n > 1 {
			return false
		}
		// S1 counts the rings of the call ringing now: it is a
		// counter, not a setting, and is not stored (a stored count
		// would come back with ATZ, and at the next start, with
		// nothing ringing).
		save := m.p
		save.Regs[RegRingCount] = 0
		ex.actions = append(ex.actions, Action{Kind: ActSave, Profile: save})
		m.stored = save
	case 'V':
		if n > 1 {
			return false
		}
		ex.listProfiles()
	case 'C':
		if n > 1 {
			return false
		}
		m.p.DCD = n
	case 'D':
		if n > 3 {
			return false
		}
		m.p.DTR = n
	case 'S':
		if n > 1 {
			return false
		}
		m.p.DSR = n
	case 'K':
		if n > MaxFlow {
			return false
		}
		m.p.Flow = n
	default:
		maxN, known := ignored["&"+string(l)]
		return known && n <= maxN
	}
	return true
}

// listProfiles writes &V: the active and stored profiles, each a block
// of lines.
func (ex *executor) listProfiles() {
	for _, pr := range []struct {
		name string
		p    *Profile
	}{{"ACTIVE PROFILE:", &ex.m.p}, {"STORED PROFILE 0:", &ex.m.stored}} {
		lines := append([]string{pr.name, profileLine(pr.p)}, regLines(pr.p)...)
		ex.info = infoLines(ex.info, &ex.m.p, lines...)
	}
}

// regLines lists S0..S12 and every other register that differs from the
// factory value, eight to a line.
func regLines(p *Profile) []string {
	fac := Factory()
	var cells []string
	for i, v := range p.Regs {
		if i <= RegGuard || v != fac.Regs[i] {
			cells = append(cells, fmt.Sprintf("S%02d:%03d", i, v))
		}
	}
	var lines []string
	for len(cells) > 0 {
		k := min(8, len(cells))
		lines = append(lines, strings.Join(cells[:k], " "))
		cells = cells[k:]
	}
	return lines
}

// cmdExtended handles the few V.250 extended-syntax commands terminal
// programs send: +FCLASS (data mode only), +GMI/+GMM/+GMR identification,
// and port or modulation settings accepted without effect.
// extendedValueEnd is where an extended command's value that starts at
// src[p] ends. V.250 ends it at ';' (or the line's end), but modems
// that dialers were written for also end a numeric value (digits,
// commas, dots) at the first character that cannot be part of it, and
// any value at the '+' of the next extended command: C-Kermit's
// Rockwell, Zoom and Lucent init strings send "+FCLASS=0S37=0" and
// "+FCLASS=0S37=0+MS=V92". A quoted string runs to its closing quote,
// which ends the value unless a comma continues the list.
func extendedValueEnd(src []byte, p int) int {
	inQuote, numeric := false, true
	for i := p; i < len(src); i++ {
		switch c := src[i]; {
		case inQuote:
			if c != '"' {
				continue
			}
			inQuote = false
			if i+1 >= len(src) || src[i+1] != ',' {
				return i + 1 // a quoted string ends the value, unless a list goes on
			}
		case c == '"':
			inQuote, numeric = true, false
		case c == ';':
			return i
		case c >= '0' && c <= '9' || c == ',' || c == '.' || c == ' ':
		case numeric && i > p, c == '+':
			return i
		default:
			numeric = false
		}
	}
	return len(src)
}

func (ex *executor) cmdExtended() bool {
	start := ex.pos
	for ex.pos < len(ex.src) {
		c := upper(ex.src[ex.pos])
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			ex.pos++
			continue
		}
		break
	}
	name := strings.ToUpper(string(ex.src[start:ex.pos]))
	if name == "" {
		return false
	}
	// form: "" (action), "=v", "=?", "?"
	form, value := "", ""
	if ex.pos < len(ex.src) {
		switch ex.src[ex.pos] {
		case '=':
			ex.pos++
			if ex.pos < len(ex.src) && ex.src[ex.pos] == '?' {
				ex.pos++
				form = "=?"
			} else {
				vs := ex.pos
				ex.pos = extendedValueEnd(ex.src, vs)
				form, value = "=", strings.TrimSpace(string(ex.src[vs:ex.pos]))
			}
		case '?':
			ex.pos++
			form = "?"
		}
	}
	if ex.pos < len(ex.src) && ex.src[ex.pos] == ';' {
		ex.pos++
	}
	id := ex.m.cfg.Identity
	switch name {
	case "FCLASS":
		switch form {
		case "=":
			return value == "0"
		case "?":
			ex.infoText("0")
		case "=?":
			ex.infoText("(0)")
		default:
			return false
		}
	case "GMI", "GMM", "GMR":
		if form != "" {
			return form == "=?"
		}
		switch name {
		case "GMI":
			ex.infoText("dialgate")
		case "GMM":
			ex.infoText(id.Product)
		default:
			ex.infoText(strings.TrimSpace(id.Version))
		}
	case "GCAP":
		if form != "" {
			return form == "=?"
		}
		ex.infoText("+GCAP: +FCLASS, +MS, +ES, +DS")
	case "IPR":
		// The DTE rate (V.250 6.2.10): a value set is taken and has no
		// effect; a query answers the rate the modem runs at, 0
		// (autobaud) when it has none (modem trial: a bare OK).
		switch form {
		case "=":
			return value != ""
		case "?":
			ex.infoText(fmt.Sprintf("+IPR: %d", ex.m.cfg.DTERate))
		case "=?":
			ex.infoText("+IPR: (0,300,1200,2400,4800,9600,19200,38400,57600,115200),()")
		}
	default:
		if !extended[name] {
			return false
		}
		if form == "=" && value == "" {
			return false
		}
	}
	return true
}
