package modem

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func kinds(out Output) []ActionKind {
	var k []ActionKind
	for _, a := range out.Actions {
		k = append(k, a.Kind)
	}
	return k
}

func wantOut(t *testing.T, what string, out Output, dte string, acts ...ActionKind) {
	t.Helper()
	if string(out.DTE) != dte {
		t.Errorf("%s: DTE %q, want %q", what, out.DTE, dte)
	}
	if fmt.Sprint(kinds(out)) != fmt.Sprint(acts) {
		t.Errorf("%s: actions %v, want %v", what, kinds(out), acts)
	}
}

// online returns an interpreter that dialed "bbs" and connected at now.
func online(t *testing.T, pre string, now time.Time) *Interp {
	t.Helper()
	m := newTestInterp(t, pre)
	out := m.FromDTE(now, []byte("ATDTbbs\r"))
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActDial || out.Actions[0].Dial != "bbs" {
		t.Fatalf("dial: %+v", out.Actions)
	}
	out = m.Connected(now, ConnectInfo{Rate: 33600, LAPM: true})
	if string(out.DTE) != "\r\nCONNECT 33600/LAPM\r\n" || m.State() != StateOnline {
		t.Fatalf("connect: %q %v", out.DTE, m.State())
	}
	return m
}

func TestEcho(t *testing.T) {
	m := NewInterp(Config{})
	out := m.FromDTE(t0, []byte("ATE1\r"))
	if got := string(out.DTE); got != "ATE1\r"+ok {
		t.Fatalf("echo %q", got)
	}
	// Backspace erases: the echo is BS SP BS and the line loses the char.
	out = m.FromDTE(t0, []byte("ATS0=9\b7\r"))
	if got := string(out.DTE); got != "ATS0=9\b \b7\r"+ok {
		t.Fatalf("backspace echo %q", got)
	}
	if m.Reg(0) != 7 {
		t.Fatalf("S0 = %d after editing", m.Reg(0))
	}
	// Backspacing over the T keeps the A: "AT\bT" is still a command.
	out = m.FromDTE(t0, []byte("AT\bTS0=1\r"))
	if !strings.HasSuffix(string(out.DTE), ok) || m.Reg(0) != 1 {
		t.Fatalf("backspace over T: %q S0=%d", out.DTE, m.Reg(0))
	}
	// A changed S5 is the editing character.
	m.FromDTE(t0, []byte("ATS5=127\r"))
	m.FromDTE(t0, []byte("ATS0=4\x7f5\r"))
	if m.Reg(0) != 5 {
		t.Fatalf("S5=127 editing: S0=%d", m.Reg(0))
	}
	// A/ echoes and repeats without CR.
	out = m.FromDTE(t0, []byte("A/"))
	if got := string(out.DTE); got != "A/\r\n"+ok || m.Reg(0) != 5 {
		t.Fatalf("A/ %q", got)
	}
}

func TestCommandSplitAcrossReads(t *testing.T) {
	m := newTestInterp(t, "")
	var got []byte
	for _, b := range []byte("AT S7=33 X3\r") {
		got = append(got, m.FromDTE(t0, []byte{b}).DTE...)
	}
	if string(got) != ok || m.Reg(7) != 33 || m.Profile().X != 3 {
		t.Fatalf("%q S7=%d", got, m.Reg(7))
	}
}

func TestSaveAndRestoreProfile(t *testing.T) {
	m := newTestInterp(t, "")
	out := m.FromDTE(t0, []byte("ATS0=2X3V1&W\r"))
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActSave {
		t.Fatalf("actions %+v", out.Actions)
	}
	saved := out.Actions[0].Profile
	if saved.Regs[0] != 2 || saved.X != 3 || saved.Echo {
		t.Fatalf("saved %s S0=%d", profileLine(&saved), saved.Regs[0])
	}
	m.FromDTE(t0, []byte("ATS0=9X1\r"))
	m.FromDTE(t0, []byte("ATZ\r"))
	if m.Reg(0) != 2 || m.Profile().X != 3 {
		t.Fatalf("Z restored S0=%d X%d", m.Reg(0), m.Profile().X)
	}
	m.FromDTE(t0, []byte("AT&F\r"))
	if m.Profile() != Factory() {
		t.Fatalf("&F: %s", profileLine(ptr(m.Profile())))
	}
	// A new interpreter starts from the stored profile.
	m2 := NewInterp(Config{Stored: saved})
	if m2.Reg(0) != 2 || m2.Profile().X != 3 {
		t.Fatal("stored profile not active at start")
	}
}

// TestSaveLeavesRingCount: &W while a call rings stores S1 as 0 (the
// ring count is a counter, not a setting; stored, ATZ and the next
// start brought back a count with nothing ringing).
func TestSaveLeavesRingCount(t *testing.T) {
	m := newTestInterp(t, "")
	m.Incoming(t0)
	m.Tick(t0.Add(RingInterval))
	if m.Reg(RegRingCount) != 2 {
		t.Fatalf("S1=%d after two rings", m.Reg(RegRingCount))
	}
	out := m.FromDTE(t0.Add(RingInterval+time.Second), []byte("AT&W\r"))
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActSave || out.Actions[0].Profile.Regs[RegRingCount] != 0 {
		t.Fatalf("actions %+v", out.Actions)
	}
	if m.stored.Regs[RegRingCount] != 0 {
		t.Fatalf("stored S1=%d", m.stored.Regs[RegRingCount])
	}
	if m.Reg(RegRingCount) != 2 {
		t.Fatalf("&W changed the active S1 to %d", m.Reg(RegRingCount))
	}
}

// TestErrorLineDoesNotStore: a line with &W that answers ERROR stores
// nothing, in memory as on disk (no ActSave): ATZ then restores the
// profile stored before it (FuzzInterp found ATE0&WX9 leaving E0 stored
// in memory while the file kept E1).
func TestErrorLineDoesNotStore(t *testing.T) {
	m := newTestInterp(t, "")
	wantOut(t, "ATE0&WX9", m.FromDTE(t0, []byte("ATE0&WX9\r")), "\r\nERROR\r\n")
	if m.stored != Factory() {
		t.Fatalf("stored after an ERROR line: %s", profileLine(&m.stored))
	}
	m.FromDTE(t0, []byte("ATZ\r"))
	if m.Profile() != Factory() {
		t.Fatalf("ATZ restored %s, want the factory profile", profileLine(ptr(m.Profile())))
	}
}

func TestListProfile(t *testing.T) {
	m := newTestInterp(t, "ATS0=1S95=47&W|ATS0=3X2\\N0")
	out := m.FromDTE(t0, []byte("AT&V\r"))
	// One block per profile, its lines not double-spaced.
	want := "\r\nACTIVE PROFILE:\r\n" +
		"E0 Q0 V1 X2 &C1 &D2 &K0 &S0 \\N0\r\n" +
		"S00:003 S01:000 S02:043 S03:013 S04:010 S05:008 S06:002 S07:050\r\n" +
		"S08:002 S09:006 S10:014 S11:095 S12:050 S95:047\r\n" +
		"\r\nSTORED PROFILE 0:\r\n" +
		"E0 Q0 V1 X4 &C1 &D2 &K0 &S0 \\N3\r\n" +
		"S00:001 S01:000 S02:043 S03:013 S04:010 S05:008 S06:002 S07:050\r\n" +
		"S08:002 S09:006 S10:014 S11:095 S12:050 S95:047\r\n" +
		ok
	if string(out.DTE) != want {
		t.Fatalf("&V:\n%q\nwant\n%q", out.DTE, want)
	}
}

func TestDialStrings(t *testing.T) {
	for _, c := range []struct{ in, dial string }{
		{"ATDT5551212", "5551212"},
		{"ATDP555-1212", "555-1212"},
		{"ATD5551212", "5551212"},
		{"atdt alice@bbs.example.com:2323", "alice@bbs.example.com:2323"},
		{"ATDTtelnet://bbs.example.com:23", "telnet://bbs.example.com:23"},
		{"ATDtelnet://bbs.example.com:23", "telnet://bbs.example.com:23"},
		{"ATDTtcp://h:1", "tcp://h:1"},
		{"ATDws://h:80/line", "ws://h:80/line"},
		{"ATDTwss://h:443/line", "wss://h:443/line"},
		{"ATDT MyBBS", "MyBBS"},
		{"ATDTbbs;", "bbs"},
		{"ATE0DTbbs", "bbs"},
		// Modifiers mid-string stay in the dial string: Resolve skips them
		// in a number, and a host name keeps its letters.
		{"ATDT9W555,1212", "9W555,1212"},
		{"ATDTexample.com:23", "example.com:23"},
		{"ATDTtown.example:23", "town.example:23"},
		// Quoted (Zimodem and other WiFi modems): the text between the
		// quotes as it is, the closing quote optional at the line's end.
		{`ATD"bbs.example.com:6400"`, "bbs.example.com:6400"},
		{`ATDT"bbs.example.com:6400"`, "bbs.example.com:6400"},
		{`ATDT "bbs.example.com:6400"`, "bbs.example.com:6400"},
		{`atdp"tcp://h:1"`, "tcp://h:1"},
		{`ATD"Tpw.example:23"`, "Tpw.example:23"}, // no tone letter taken out
		{`ATD"bbs.example.com:6400`, "bbs.example.com:6400"},
		{`ATD"my bbs;"`, "my bbs;"}, // spaces and ';' kept
		{`ATD"L"`, "L"},             // a host named L, not DL
	} {
		m := newTestInterp(t, "")
		out := m.FromDTE(t0, []byte(c.in+"\r"))
		if len(out.Actions) != 1 || out.Actions[0].Dial != c.dial {
			t.Errorf("%s: actions %+v, want dial %q", c.in, out.Actions, c.dial)
		}
	}
	// DL redials the last number.
	m := newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs:23\r"))
	m.DialFailed(t0, ReasonBusy, "")
	out := m.FromDTE(t0, []byte("ATDL\r"))
	if len(out.Actions) != 1 || out.Actions[0].Dial != "bbs:23" {
		t.Fatalf("DL: %+v", out.Actions)
	}
}

// TestQuotedDialThenCommands: the commands after a quoted dial string's
// closing quote run (an unquoted string takes the rest of the line, as
// V.250 6.3.1 has it), and a line that fails after the quote is atomic.
func TestQuotedDialThenCommands(t *testing.T) {
	for _, c := range []struct {
		in, dte string
		dial    string // "" for no dial
		s0      byte
	}{
		{`ATD"h.example:1"S0=2`, "", "h.example:1", 2},
		{`ATD"h.example:1";S0=2`, "", "h.example:1", 2},
		{`ATDT"h.example:1" S0=2 X3`, "", "h.example:1", 2},
		{`ATS0=2D"h.example:1"`, "", "h.example:1", 2},
		{`ATDTbbs S0=2`, "", "bbsS0=2", 0}, // unquoted: the rest of the line is the dial string
		{`ATD"h.example:1"S0=2J`, er, "", 0},
		{`ATD"h.example:1"D"h.example:2"`, er, "", 0},
		{`ATD"h.example:1"A`, er, "", 0},
		{`ATD"h.example:1"O`, er, "", 0},
	} {
		m := newTestInterp(t, "")
		out := m.FromDTE(t0, []byte(c.in+"\r"))
		var dial string
		for _, a := range out.Actions {
			if a.Kind == ActDial {
				dial = a.Dial
			}
		}
		if string(out.DTE) != c.dte || dial != c.dial || m.Reg(RegAutoAnswer) != c.s0 {
			t.Errorf("%s: output %q dial %q S0=%d, want %q %q S0=%d", c.in, out.DTE, dial, m.Reg(RegAutoAnswer), c.dte, c.dial, c.s0)
		}
	}
}

// TestDialStringErrors: a dial string with nothing to dial (empty, or
// only punctuation and modifiers once the tone letter is gone) and a
// host:port whose port is not 1..65535 are malformed commands: ERROR at
// once, as for any bad command, without a dial and without the line's
// other effects.
func TestDialStringErrors(t *testing.T) {
	for _, in := range []string{
		"ATDT,,,", "ATD,", "ATDT;", "ATDTW", "ATDT@", "ATDT!", "ATDT/$", "ATDP,,;", "ATDT-()", "ATDTT",
		`ATD""`, `ATDT""`, `ATD","`, `ATD"`,
		"ATDThost:0", "ATDThost:99999", "ATDThost:65536", "ATDThost:abc", "ATDThost:", "ATDThost:+1",
		"ATDT[::1]:0", "ATDTalice@host:0", "ATDTtelnet://host:0", "ATDws://h:70000/line",
		`ATD"host:0"`, `ATDT"host:abc`,
		"ATS0=3DThost:0",
	} {
		m := newTestInterp(t, "")
		out := m.FromDTE(t0, []byte(in+"\r"))
		if string(out.DTE) != er || len(out.Actions) != 0 || m.State() != StateCommand || m.Reg(RegAutoAnswer) != 0 {
			t.Errorf("%s: output %q actions %v state %v S0=%d, want ERROR and nothing done", in, out.DTE, kinds(out), m.State(), m.Reg(RegAutoAnswer))
		}
	}
	// Ports at the ends of the range dial.
	for _, in := range []string{"ATDThost:1", "ATDThost:65535", "ATDT[::1]:23", "ATDThost"} {
		m := newTestInterp(t, "")
		if out := m.FromDTE(t0, []byte(in+"\r")); fmt.Sprint(kinds(out)) != fmt.Sprint([]ActionKind{ActDial}) {
			t.Errorf("%s: output %q actions %v, want a dial", in, out.DTE, kinds(out))
		}
	}
}

// TestControlCharacters: control characters other than S3 and S5 in a
// command line (a stray ^A, a BEL, NUL, a LF from a terminal) are
// ignored: not part of the line, not echoed, not an error.
func TestControlCharacters(t *testing.T) {
	for _, c := range []struct {
		pre, in, dte string
		s0           byte
	}{
		{"ATE0", "ATS0=\x012\r", ok, 2},
		{"ATE0", "AT\x07S0=2\x00\r", ok, 2},
		{"ATE0", "AT\nS0=2\r\n", ok, 2},
		{"ATE0", "A\x1bTS0=2\r", ok, 2},
		{"ATE0", "ATS0=22\x7f\r", ok, 2}, // DEL erases, as BS does (S5=8): Backspace in picocom, tio, xterm
		{"ATE0", "ATS0=\t2\r", ok, 2},
		{"ATE0", "ATS0=22\b\x01\r", ok, 2},
		{"ATE0|ATS5=127", "ATS0=22\x08\x7f\r", ok, 2}, // S5=127: DEL edits, BS is ignored
		{"ATE0|ATS3=33", "ATS0=2\r!", "!\nOK!\n", 2},  // S3=33: CR is ignored
		// With E1 the ignored characters are not echoed; the line's
		// S3 is, and a LF after it, between lines, is echoed as before.
		{"", "AT\x07S0=\x002\r\n", "ATS0=2\r" + ok + "\n", 2},
		{"", "ATS0=22\x01\b\r", "ATS0=22\b \b\r" + ok, 2},
		{"", "ATS0=22\x7f\r", "ATS0=22\b \b\r" + ok, 2},
	} {
		m := NewInterp(Config{})
		for _, l := range strings.Split(c.pre, "|") {
			if l != "" {
				m.FromDTE(t0, []byte(l+"\r"))
			}
		}
		out := m.FromDTE(t0, []byte(c.in))
		if string(out.DTE) != c.dte || m.Reg(RegAutoAnswer) != c.s0 {
			t.Errorf("%s then %q: output %q S0=%d, want %q S0=%d", c.pre, c.in, out.DTE, m.Reg(RegAutoAnswer), c.dte, c.s0)
		}
	}
}

func TestDialResults(t *testing.T) {
	for _, c := range []struct {
		pre    string
		reason Reason
		want   string
	}{
		{"", ReasonBusy, "\r\nthe gateway is full\r\n\r\nBUSY\r\n"},
		{"ATX3", ReasonBusy, "\r\nBUSY\r\n"},
		{"ATX2", ReasonBusy, "\r\nNO CARRIER\r\n"},
		{"ATX0", ReasonBusy, "\r\nNO CARRIER\r\n"},
		{"", ReasonNoAnswer, "\r\nthe gateway is full\r\n\r\nNO ANSWER\r\n"},
		{"ATX3", ReasonNoAnswer, "\r\nNO ANSWER\r\n"},
		{"ATX1", ReasonNoAnswer, "\r\nNO CARRIER\r\n"},
		{"", ReasonNoDialtone, "\r\nthe gateway is full\r\n\r\nNO DIALTONE\r\n"},
		{"ATX2", ReasonNoDialtone, "\r\nNO DIALTONE\r\n"},
		{"ATX3", ReasonNoDialtone, "\r\nNO CARRIER\r\n"},
		{"", ReasonNoCarrier, "\r\nthe gateway is full\r\n\r\nNO CARRIER\r\n"},
		{"", ReasonError, "\r\nthe gateway is full\r\n\r\nERROR\r\n"},
		{"ATV0", ReasonBusy, "7\r"},
		{"ATV0", ReasonNoAnswer, "8\r"},
		{"ATV0", ReasonNoDialtone, "6\r"},
		{"ATV0", ReasonNoCarrier, "3\r"},
		{"ATQ1", ReasonBusy, ""},
	} {
		m := newTestInterp(t, c.pre)
		m.FromDTE(t0, []byte("ATDTbbs\r"))
		out := m.DialFailed(t0, c.reason, "the gateway is full")
		if string(out.DTE) != c.want || m.State() != StateCommand {
			t.Errorf("%s %v: %q (%v), want %q", c.pre, c.reason, out.DTE, m.State(), c.want)
		}
	}
	// The explanation is one printable line.
	m := newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	out := m.DialFailed(t0, ReasonNoCarrier, "bad\r\nCONNECT 9600\x00")
	if strings.Count(string(out.DTE), "\r\n") != 4 {
		t.Fatalf("explanation not sanitized: %q", out.DTE)
	}
}

func TestConnectMessages(t *testing.T) {
	for _, c := range []struct {
		pre  string
		info ConnectInfo
		want string
	}{
		{"", ConnectInfo{Rate: 33600, LAPM: true}, "\r\nCONNECT 33600/LAPM\r\n"},
		{"", ConnectInfo{}, "\r\nCONNECT 38400\r\n"},
		{"ATX0", ConnectInfo{Rate: 33600, LAPM: true}, "\r\nCONNECT\r\n"},
		{"ATV0", ConnectInfo{Rate: 33600, LAPM: true}, "26\r"},
		{"ATV0", ConnectInfo{Rate: 2400}, "10\r"},
		{"ATV0", ConnectInfo{Rate: 1234}, "1\r"},
		{"ATV0X0", ConnectInfo{Rate: 2400}, "1\r"},
		{"ATQ1", ConnectInfo{Rate: 2400}, ""},
	} {
		m := newTestInterp(t, c.pre)
		m.FromDTE(t0, []byte("ATDTbbs\r"))
		out := m.Connected(t0, c.info)
		if string(out.DTE) != c.want {
			t.Errorf("%s %+v: %q, want %q", c.pre, c.info, out.DTE, c.want)
		}
	}
}

// TestDialCRLF: terminals that end lines with CR LF send a line feed
// right after the CR that starts the dial; it belongs to the line's end
// and does not abandon the dial (any other character still does, and so
// does a second LF), whether it comes in the same write or the next, and
// once the call is up it does not reach the line either.
func TestDialCRLF(t *testing.T) {
	for _, c := range []struct {
		what  string
		sends []string
	}{
		{"one write", []string{"ATDTbbs\r\n"}},
		{"two writes", []string{"ATDTbbs\r", "\n"}},
	} {
		m := newTestInterp(t, "")
		var acts []ActionKind
		for _, p := range c.sends {
			acts = append(acts, kinds(m.FromDTE(t0, []byte(p)))...)
		}
		if fmt.Sprint(acts) != fmt.Sprint([]ActionKind{ActDial}) || m.State() != StateDialing {
			t.Fatalf("%s: actions %v, state %v; want a dial in progress", c.what, acts, m.State())
		}
		out := m.FromDTE(t0, []byte("\n"))
		wantOut(t, c.what+": second LF", out, "\r\nNO CARRIER\r\n", ActHangup)
		if why := out.Actions[0].Why; !strings.Contains(why, "DTE") || !strings.Contains(why, "dial") {
			t.Errorf("%s: hang-up cause %q does not say a DTE character abandoned the dial", c.what, why)
		}
	}

	// The LF after the connection: dropped, not data.
	m := newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	m.Connected(t0, ConnectInfo{Rate: 33600})
	if out := m.FromDTE(t0, []byte("\nhi\n")); string(out.Line) != "hi\n" {
		t.Errorf("online: line %q, want %q", out.Line, "hi\n")
	}

	// A LF that comes long after the dial's CR is the caller's data.
	m = newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	m.Connected(t0.Add(500*time.Millisecond), ConnectInfo{Rate: 33600})
	if out := m.FromDTE(t0.Add(5*time.Second), []byte("\nhi")); string(out.Line) != "\nhi" {
		t.Errorf("online, 5 s after the dial: line %q, want %q", out.Line, "\nhi")
	}

	// An LF after a command that places no call stays as it was (echoed).
	m = newTestInterp(t, "ATE1")
	if out := m.FromDTE(t0, []byte("AT\r\n")); string(out.DTE) != "AT\r\r\nOK\r\n\n" || m.State() != StateCommand {
		t.Errorf("command: DTE %q, state %v", out.DTE, m.State())
	}
	// A key other than LF right after the CR still abandons the dial.
	m = newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	wantOut(t, "space after CR", m.FromDTE(t0, []byte(" ")), "\r\nNO CARRIER\r\n", ActHangup)
}

func TestDialAbortedByKeypress(t *testing.T) {
	m := newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	out := m.FromDTE(t0.Add(time.Second), []byte("x"))
	wantOut(t, "keypress", out, "\r\nNO CARRIER\r\n", ActHangup)
	// A late connection is refused.
	out = m.Connected(t0.Add(2*time.Second), ConnectInfo{})
	wantOut(t, "late connect", out, "", ActHangup)
	if m.State() != StateCommand {
		t.Fatalf("state %v", m.State())
	}
	// A late failure is ignored.
	wantOut(t, "late failure", m.DialFailed(t0, ReasonBusy, ""), "")
}

func TestCarrierWaitS7(t *testing.T) {
	m := newTestInterp(t, "ATS7=30")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	d, ok := m.Deadline()
	if !ok || !d.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	wantOut(t, "before S7", m.Tick(t0.Add(29*time.Second)), "")
	wantOut(t, "at S7", m.Tick(t0.Add(30*time.Second)), "\r\nNO CARRIER\r\n", ActHangup)
	if _, ok := m.Deadline(); ok {
		t.Fatal("deadline after giving up")
	}
	// S7=0 waits forever.
	m = newTestInterp(t, "ATS7=0")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	if _, ok := m.Deadline(); ok {
		t.Fatal("S7=0 has a deadline")
	}
	wantOut(t, "S7=0", m.Tick(t0.Add(time.Hour)), "")
}

func TestOnlineData(t *testing.T) {
	m := online(t, "", t0)
	out := m.FromDTE(t0.Add(time.Millisecond), []byte("hello\r"))
	if string(out.Line) != "hello\r" || len(out.DTE) != 0 {
		t.Fatalf("online DTE data: line %q dte %q", out.Line, out.DTE)
	}
	out, n := m.FromLine([]byte("banner"))
	if string(out.DTE) != "banner" || n != 0 {
		t.Fatalf("line data %q", out.DTE)
	}
}

// escape feeds "+++" with the given timing and reports whether the
// interpreter went to online-command state.
func TestEscapeGuardTimes(t *testing.T) {
	g := time.Second // S12=50
	type step struct {
		at   time.Duration
		data string
	}
	for _, c := range []struct {
		name  string
		pre   string
		steps []step
		tick  time.Duration
		want  bool
	}{
		{"one write", "", []step{{2 * g, "+++"}}, 3 * g, true},
		{"spaced within guard", "", []step{{2 * g, "+"}, {2*g + 500*time.Millisecond, "+"}, {3 * g, "+"}}, 4 * g, true},
		{"no leading guard", "", []step{{g / 2, "+++"}}, 3 * g, false},
		{"data right before", "", []step{{2 * g, "x+++"}}, 4 * g, false},
		{"data before, too close", "", []step{{2 * g, "x"}, {2*g + g/2, "+++"}}, 5 * g, false},
		{"data before, guard ok", "", []step{{2 * g, "x"}, {3*g + g/10, "+++"}}, 5 * g, true},
		{"trailing guard not over", "", []step{{2 * g, "+++"}}, 2*g + g - time.Millisecond, false},
		{"data after", "", []step{{2 * g, "+++"}, {2*g + g/2, "a"}}, 5 * g, false},
		{"fourth plus", "", []step{{2 * g, "++++"}}, 5 * g, false},
		{"too slow", "", []step{{2 * g, "+"}, {3*g + time.Millisecond, "+"}, {4*g + 2*time.Millisecond, "+"}}, 6 * g, false},
		{"other escape char", "ATS2=126", []step{{2 * g, "~~~"}}, 4 * g, true},
		{"plus not escape", "ATS2=126", []step{{2 * g, "+++"}}, 4 * g, false},
		{"escape disabled", "ATS2=200", []step{{2 * g, "+++"}}, 4 * g, false},
		{"short guard", "ATS12=5", []step{{g / 5, "+++"}}, g / 5 * 2, true},
		{"zero guard", "ATS12=0", []step{{0, "+++"}}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := online(t, c.pre, t0)
			for _, s := range c.steps {
				out := m.FromDTE(t0.Add(s.at), []byte(s.data))
				if string(out.Line) != s.data {
					t.Fatalf("escape characters not passed to the line: %q", out.Line)
				}
			}
			if c.want {
				if d, ok := m.Deadline(); m.State() == StateOnline && (!ok || d.After(t0.Add(c.tick))) {
					t.Fatalf("deadline %v %v, tick at %v", d, ok, c.tick)
				}
			}
			out := m.Tick(t0.Add(c.tick))
			got := m.State() == StateOnlineCommand
			if got != c.want {
				t.Fatalf("escaped %v, want %v (state %v)", got, c.want, m.State())
			}
			if got && !bytes.HasSuffix(out.DTE, []byte(ok)) && c.name != "zero guard" {
				t.Fatalf("escape result %q", out.DTE)
			}
		})
	}
}

func TestOnlineCommandState(t *testing.T) {
	m := online(t, "", t0)
	m.FromDTE(t0.Add(2*time.Second), []byte("+++"))
	m.Tick(t0.Add(3 * time.Second))
	if m.State() != StateOnlineCommand {
		t.Fatal("no escape")
	}
	// Line data is discarded in command mode.
	if out, n := m.FromLine([]byte("lost")); n != 4 || len(out.DTE) != 0 {
		t.Fatalf("discard: %d %q", n, out.DTE)
	}
	// Commands work; D does not while a call is up.
	wantOut(t, "S0?", m.FromDTE(t0, []byte("ATS0?\r")), info("000")+ok)
	wantOut(t, "D", m.FromDTE(t0, []byte("ATDTother\r")), er)
	wantOut(t, "A", m.FromDTE(t0, []byte("ATA\r")), er)
	// ATO goes back online with the same CONNECT message.
	wantOut(t, "O", m.FromDTE(t0.Add(4*time.Second), []byte("ATO\r")), "\r\nCONNECT 33600/LAPM\r\n")
	if m.State() != StateOnline {
		t.Fatalf("state %v", m.State())
	}
	// Escape again (guard counted from ATO), then ATH hangs up.
	m.FromDTE(t0.Add(6*time.Second), []byte("+++"))
	m.Tick(t0.Add(7 * time.Second))
	wantOut(t, "H", m.FromDTE(t0, []byte("ATH\r")), "\r\nNO CARRIER\r\n"+ok, ActHangup)
	if m.State() != StateCommand {
		t.Fatalf("state %v", m.State())
	}
	wantOut(t, "O after H", m.FromDTE(t0, []byte("ATO\r")), er)
}

func TestHangupAndRedialOnOneLine(t *testing.T) {
	m := online(t, "", t0)
	m.FromDTE(t0.Add(2*time.Second), []byte("+++"))
	m.Tick(t0.Add(3 * time.Second))
	out := m.FromDTE(t0, []byte("ATH0DTother\r"))
	if fmt.Sprint(kinds(out)) != fmt.Sprint([]ActionKind{ActHangup, ActDial}) || m.State() != StateDialing {
		t.Fatalf("ATHDT: %v %v %q", kinds(out), m.State(), out.DTE)
	}
}

func TestCarrierLost(t *testing.T) {
	m := online(t, "", t0)
	wantOut(t, "lost", m.CarrierLost(t0, "the other end hung up"), "\r\nthe other end hung up\r\n\r\nNO CARRIER\r\n", ActHangup)
	if m.State() != StateCommand {
		t.Fatal(m.State())
	}
	wantOut(t, "lost twice", m.CarrierLost(t0, ""), "")
	// In online-command state too.
	m = online(t, "ATX3", t0)
	m.FromDTE(t0.Add(2*time.Second), []byte("+++"))
	m.Tick(t0.Add(3 * time.Second))
	wantOut(t, "lost in command mode", m.CarrierLost(t0, "x"), "\r\nNO CARRIER\r\n", ActHangup)
	// The modem can dial again.
	out := m.FromDTE(t0, []byte("ATDL\r"))
	if fmt.Sprint(kinds(out)) != fmt.Sprint([]ActionKind{ActDial}) {
		t.Fatal(kinds(out))
	}
}

func TestRingAndAutoAnswer(t *testing.T) {
	m := newTestInterp(t, "ATS0=2")
	wantOut(t, "ring 1", m.Incoming(t0), "\r\nRING\r\n")
	if m.Reg(RegRingCount) != 1 {
		t.Fatalf("S1=%d", m.Reg(1))
	}
	// The ring indicator goes off first (RI), then the next RING.
	if d, ok := m.Deadline(); !ok || !d.Equal(t0.Add(RingOn)) || !m.RI(t0) || !m.RI(t0.Add(RingOn-1)) {
		t.Fatalf("RI deadline %v, RI %v", d, m.RI(t0))
	}
	wantOut(t, "RI off", m.Tick(t0.Add(RingOn)), "")
	if m.RI(t0.Add(RingOn)) {
		t.Fatal("RI still on")
	}
	d, ok := m.Deadline()
	if !ok || !d.Equal(t0.Add(RingInterval)) {
		t.Fatalf("ring deadline %v", d)
	}
	wantOut(t, "early tick", m.Tick(t0.Add(RingInterval-time.Millisecond)), "")
	wantOut(t, "ring 2", m.Tick(t0.Add(RingInterval)), "\r\nRING\r\n", ActAnswer)
	if m.State() != StateAnswering || m.Reg(RegRingCount) != 2 {
		t.Fatalf("state %v S1=%d", m.State(), m.Reg(1))
	}
	wantOut(t, "connected", m.Connected(t0.Add(7*time.Second), ConnectInfo{Rate: 33600, LAPM: true}), "\r\nCONNECT 33600/LAPM\r\n")
	if m.Ringing() || m.Reg(RegRingCount) != 0 {
		t.Fatal("still ringing after answer")
	}
	// A second incoming call while online is refused.
	wantOut(t, "busy", m.Incoming(t0), "", ActRefuse)
}

func TestRingManualAnswer(t *testing.T) {
	m := newTestInterp(t, "")
	m.Incoming(t0)
	m.Tick(t0.Add(RingInterval))
	if m.Reg(RegRingCount) != 2 || m.State() != StateCommand {
		t.Fatal("S0=0 answered")
	}
	wantOut(t, "ATA", m.FromDTE(t0, []byte("ATA\r")), "", ActAnswer)
	wantOut(t, "refused callback", m.DialFailed(t0, ReasonNoCarrier, "not the expected callback"), "\r\nnot the expected callback\r\n\r\nNO CARRIER\r\n")
	if m.Ringing() || m.State() != StateCommand {
		t.Fatal("state after failed answer")
	}
}

func TestRingRefusals(t *testing.T) {
	// ATH while ringing refuses the call.
	m := newTestInterp(t, "")
	m.Incoming(t0)
	wantOut(t, "ATH", m.FromDTE(t0, []byte("ATH\r")), ok, ActRefuse)
	if m.Ringing() {
		t.Fatal("still ringing")
	}
	// Unanswered, the call is refused after MaxRings.
	m = newTestInterp(t, "")
	m.Incoming(t0)
	var acts []ActionKind
	for i := 1; i <= MaxRings; i++ {
		acts = append(acts, kinds(m.Tick(t0.Add(time.Duration(i)*RingInterval)))...)
	}
	if fmt.Sprint(acts) != fmt.Sprint([]ActionKind{ActRefuse}) || m.Ringing() {
		t.Fatalf("after %d rings: %v", MaxRings, acts)
	}
	// The caller giving up stops the rings.
	m = newTestInterp(t, "")
	m.Incoming(t0)
	m.IncomingGone(t0)
	if _, ok := m.Deadline(); ok || m.Reg(RegRingCount) != 0 {
		t.Fatal("rings after the caller left")
	}
	// An incoming call while dialing is refused.
	m = newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	wantOut(t, "dialing", m.Incoming(t0), "", ActRefuse)
	// Answer times out after S7.
	m = newTestInterp(t, "ATS0=1S7=10")
	wantOut(t, "auto", m.Incoming(t0), "\r\nRING\r\n", ActAnswer)
	wantOut(t, "S7", m.Tick(t0.Add(10*time.Second)), "\r\nNO CARRIER\r\n", ActHangup)
}

func TestDTRDrop(t *testing.T) {
	escaped := func(pre string) *Interp {
		return online(t, pre, t0)
	}
	m := escaped("AT&D2")
	wantOut(t, "&D2", m.DTRDrop(t0), "\r\nNO CARRIER\r\n", ActHangup)
	if m.State() != StateCommand {
		t.Fatal(m.State())
	}
	m = escaped("AT&D0")
	wantOut(t, "&D0", m.DTRDrop(t0), "")
	if m.State() != StateOnline {
		t.Fatal(m.State())
	}
	m = escaped("AT&D1")
	wantOut(t, "&D1", m.DTRDrop(t0), ok)
	if m.State() != StateOnlineCommand {
		t.Fatal(m.State())
	}
	m = escaped("AT&D3|ATS0=4")
	wantOut(t, "&D3", m.DTRDrop(t0), "\r\nNO CARRIER\r\n", ActHangup)
	if m.Reg(0) != 0 || m.Profile().DTR != 2 {
		t.Fatal("&D3 did not reset")
	}
	// A drop while dialing abandons the dial; a half-typed line is lost.
	m = newTestInterp(t, "")
	m.FromDTE(t0, []byte("ATS0=9"))
	wantOut(t, "idle", m.DTRDrop(t0), "")
	m.FromDTE(t0, []byte("\r"))
	if m.Reg(0) != 0 {
		t.Fatal("half line survived DTR drop")
	}
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	wantOut(t, "dialing", m.DTRDrop(t0), "\r\nNO CARRIER\r\n", ActHangup)

	// Under &D2 no auto-answer while DTR is off: a terminal program that
	// quit left S0=1, and the next one would have landed inside a call
	// answered for nobody (trial). Its first input turns DTR on again.
	m = newTestInterp(t, "ATS0=1")
	m.DTRDrop(t0)
	wantOut(t, "DTR off", m.Incoming(t0), "\r\nRING\r\n")
	m.IncomingGone(t0)
	m.FromDTE(t0, []byte("AT\r"))
	wantOut(t, "DTR on", m.Incoming(t0), "\r\nRING\r\n", ActAnswer)
	// A serial port whose DTR the modem watches shows DTR coming back
	// without input (review): the modem answers again.
	m = newTestInterp(t, "ATS0=1")
	m.DTRDrop(t0)
	m.DTRRaise()
	wantOut(t, "DTR raised", m.Incoming(t0), "\r\nRING\r\n", ActAnswer)
	// &D0 ignores DTR: it answers.
	m = newTestInterp(t, "AT&D0S0=1")
	m.DTRDrop(t0)
	wantOut(t, "&D0", m.Incoming(t0), "\r\nRING\r\n", ActAnswer)
}

func TestStateStrings(t *testing.T) {
	for _, s := range []fmt.Stringer{StateCommand, StateDialing, StateAnswering, StateOnline, StateOnlineCommand, State(99),
		ActDial, ActHangup, ActAnswer, ActSave, ActRefuse, ActionKind(99), ResOK, ResConnect, ResRing, ResNoCarrier,
		ResError, ResNoDialtone, ResBusy, ResNoAnswer, Result(99), ReasonBusy, ReasonNoAnswer, ReasonNoCarrier,
		ReasonNoDialtone, ReasonError, Reason(99)} {
		if s.String() == "" {
			t.Errorf("%#v has no name", s)
		}
	}
}
