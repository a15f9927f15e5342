package modem

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	ok = "\r\nOK\r\n"
	er = "\r\nERROR\r\n"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// info is an information line followed by nothing (verbose framing).
func info(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	return b.String()
}

// newTestInterp returns an interpreter with echo off (E0), so expected
// outputs are only result codes, after running pre (lines separated by |).
func newTestInterp(t testing.TB, pre string) *Interp {
	t.Helper()
	m := NewInterp(Config{Identity: Identity{Product: "dialgate modem", Version: "v1.2.3"}, DTERate: 38400})
	m.FromDTE(t0, []byte("ATE0\r"))
	for _, l := range strings.Split(pre, "|") {
		if l != "" {
			m.FromDTE(t0, []byte(l+"\r"))
		}
	}
	return m
}

type confCase struct {
	pre   string       // lines run first, "|"-separated, output ignored
	in    string       // the command line (S3 is appended)
	want  string       // DTE output
	regs  map[int]byte // registers after the line
	check func(p Profile) error
	acts  []ActionKind
	state State
}

// conformanceCases is the table: every command, chaining, prefixes,
// S-registers, ignored init-string commands, extended commands and real
// init strings.
func conformanceCases() []confCase {
	cs := []confCase{
		// prefix and line syntax (V.250 5.1, 5.2)
		{in: "AT", want: ok},
		{in: "at", want: ok},
		{in: "At", want: ok},
		{in: "aT", want: ok},
		{in: "A T", want: ""},        // a space between A and T is not a prefix
		{in: "hello", want: ""},      // no prefix: ignored
		{in: "xxAT", want: ok},       // junk before the prefix is skipped
		{in: "AAT", want: ok},        // repeated A
		{in: "AT   ", want: ok},      // spaces are ignored
		{in: "AT E 1 V 1", want: ok}, // spaces between command and value
		{in: "AT" + strings.Repeat("E", 256), want: er},
		{in: "AT" + strings.Repeat(" ", 1100), want: er}, // beyond four times the 255 with spaces
		// E, Q, V, X
		{in: "ATE0", want: ok, check: wantProfile(func(p Profile) bool { return !p.Echo })},
		{in: "ATE1", want: ok, check: wantProfile(func(p Profile) bool { return p.Echo })}, // echo is decided per character, before the line runs
		{in: "ATE", want: ok, check: wantProfile(func(p Profile) bool { return !p.Echo })},
		{in: "ATE2", want: er},
		{in: "ATQ1", want: "", check: wantProfile(func(p Profile) bool { return p.Quiet })},
		{in: "ATQ0", want: ok},
		{in: "ATQ2", want: er},
		{pre: "ATQ1", in: "ATQ0", want: ok},
		{pre: "ATQ1", in: "ATJ", want: ""},
		{in: "ATV0", want: "0\r", check: wantProfile(func(p Profile) bool { return !p.Verbose })},
		{pre: "ATV0", in: "ATV1", want: ok},
		{pre: "ATV0", in: "ATJ", want: "4\r"},
		{pre: "ATV0", in: "AT", want: "0\r"},
		{in: "ATV2", want: er},
		{in: "ATX0", want: ok, check: wantX(0)},
		{in: "ATX1", want: ok, check: wantX(1)},
		{in: "ATX2", want: ok, check: wantX(2)},
		{in: "ATX3", want: ok, check: wantX(3)},
		{in: "ATX4", want: ok, check: wantX(4)},
		// X5..X7: vendors' supersets of X4 in dialers' init strings.
		{in: "ATX5", want: ok, check: wantX(4)},
		{pre: "ATX1", in: "ATX7", want: ok, check: wantX(4)},
		{pre: "ATX1", in: "ATX8", want: er, check: wantX(1)},
		{in: "ATX", want: ok, check: wantX(0)},
		// H, Z, &F, &W
		{in: "ATH", want: ok},
		{in: "ATH0", want: ok},
		{in: "ATH1", want: ok},
		{in: "ATH2", want: er},
		{pre: "ATS0=3", in: "ATZ", want: ok, regs: map[int]byte{0: 0}},
		{in: "ATZ0", want: ok},
		{in: "ATZ1", want: ok},
		{in: "ATZ2", want: er},
		{pre: "ATS0=3&W|ATS0=5", in: "ATZ", want: ok, regs: map[int]byte{0: 3}},
		{pre: "ATS7=9|ATX1", in: "AT&F", want: ok, regs: map[int]byte{7: 50}, check: wantX(4)},
		{in: "AT&F0", want: ok},
		{in: "AT&F1", want: ok},
		{in: "AT&F2", want: er},
		{in: "AT&W", want: ok, acts: []ActionKind{ActSave}},
		{in: "AT&W0", want: ok, acts: []ActionKind{ActSave}},
		{in: "AT&W1", want: ok, acts: []ActionKind{ActSave}},
		{in: "AT&W2", want: er},
		{in: "AT&C0", want: ok, check: wantProfile(func(p Profile) bool { return p.DCD == 0 })},
		{in: "AT&C1", want: ok},
		{in: "AT&C2", want: er},
		{in: "AT&D0", want: ok, check: wantProfile(func(p Profile) bool { return p.DTR == 0 })},
		{in: "AT&D3", want: ok, check: wantProfile(func(p Profile) bool { return p.DTR == 3 })},
		{in: "AT&D4", want: er},
		// I
		{in: "ATI", want: info("dialgate modem") + ok},
		{in: "ATI0", want: info("dialgate modem") + ok},
		{in: "ATI1", want: info("000") + ok},
		{in: "ATI2", want: info("OK") + ok},
		{in: "ATI3", want: info("dialgate modem v1.2.3") + ok},
		{in: "ATI4", want: info("Hayes AT (V.250), telnet-modem, V.42 LAPM, Access Security, callback") + ok},
		{in: "ATI5", want: ok}, // as tcpser: vendors' I5-I11 show nothing here
		{in: "ATI9", want: ok},
		{in: "ATI11", want: ok},
		{in: "ATI12", want: er},
		{in: "ATI300", want: er},
		// S-registers
		{in: "ATS0?", want: info("000") + ok},
		{in: "ATS2?", want: info("043") + ok},
		{in: "ATS3?", want: info("013") + ok},
		{in: "ATS4?", want: info("010") + ok},
		{in: "ATS5?", want: info("008") + ok},
		{in: "ATS7?", want: info("050") + ok},
		{in: "ATS10?", want: info("014") + ok},
		{in: "ATS12?", want: info("050") + ok},
		{in: "ATS99?", want: info("000") + ok},
		{in: "ATS100?", want: er},
		{in: "ATS256=1", want: er},
		{in: "ATS0=1", want: ok, regs: map[int]byte{0: 1}},
		{in: "ATS0=255", want: ok, regs: map[int]byte{0: 255}},
		{in: "ATS0=256", want: er, regs: map[int]byte{0: 0}},
		{in: "ATS0=", want: ok, regs: map[int]byte{0: 0}},
		{in: "ATS=1", want: er},
		{in: "ATS", want: er},
		{in: "ATSX", want: er},
		{in: "ATS7=30S0=2", want: ok, regs: map[int]byte{7: 30, 0: 2}},
		{in: "ATS7=30S7?", want: info("030") + ok},
		{in: "ATS7", want: ok},
		{in: "ATS7?", want: info("050") + ok},
		{in: "ATS7=45?", want: info("045") + ok},
		{pre: "ATS9", in: "AT=12", want: ok, regs: map[int]byte{9: 12}},
		{pre: "ATS9", in: "AT?", want: info("006") + ok},
		{in: "ATS1=3", want: ok, regs: map[int]byte{1: 3}},
		{in: "ATS95=47", want: ok, regs: map[int]byte{95: 47}},
		{in: "ATS2=128", want: ok, regs: map[int]byte{2: 128}},
		{in: "ATS12=0", want: ok, regs: map[int]byte{12: 0}},
		{in: "ATS10=255", want: ok, regs: map[int]byte{10: 255}},
		{in: "ATS4=13", want: "\r\rOK\r\r", regs: map[int]byte{4: 13}},
		{in: "ATS3=10", want: "\n\nOK\n\n", regs: map[int]byte{3: 10}}, // the reply already uses the new S3
		{in: "ATS00007=7", want: ok, regs: map[int]byte{7: 7}},
		// S3, S4 and S5 take 0..127 (V.250 6.2.1-6.2.3; modem trial:
		// ATS3=200 left no way to end a line from a 7-bit terminal).
		{in: "ATS3=128", want: er, regs: map[int]byte{3: 13}},
		{in: "ATS4=200", want: er, regs: map[int]byte{4: 10}},
		{in: "ATS5=255", want: er, regs: map[int]byte{5: 8}},
		{in: "ATS3=127", want: "\x7f\nOK\x7f\n", regs: map[int]byte{3: 127}},
		// Spaces are ignored (V.250 5.2.1) and do not count toward the
		// 255 characters of a line (modem trial: AT and 300 spaces was
		// ERROR); 255 characters with spaces between them are taken.
		{in: "AT" + strings.Repeat(" ", 300), want: ok},
		{in: "AT" + strings.Repeat("E1 ", 127), want: ok},
		{in: "AT" + strings.Repeat("E1", 128), want: er},
		// A/ repeat
		{pre: "ATS0?", in: "A/", want: info("000") + ok},
		{pre: "ATI3", in: "a/", want: info("dialgate modem v1.2.3") + ok},
		// atomic lines: an error leaves the state intact
		{in: "ATS0=5J", want: er, regs: map[int]byte{0: 0}},
		{in: "ATX1E1Q1V0Z9", want: er, check: wantX(4)},
		{in: "ATS7=20&W&Q99", want: er, regs: map[int]byte{7: 50}},
		{in: "ATE1S0=2S7=300", want: er, regs: map[int]byte{0: 0, 7: 50}},
		{in: "ATX0J", want: er, check: wantX(4)},
		// answer without a call, online without a call
		{in: "ATA", want: "\r\nNO CARRIER\r\n"},
		{in: "ATO", want: er},
		{in: "ATO0", want: er},
		{in: "ATO2", want: er},
		// D
		{in: "ATD", want: er},
		{in: "ATDT", want: er},
		{in: "ATDP", want: er},
		{in: "ATDL", want: er}, // nothing dialed yet
		{in: "ATDT5551212", want: "", acts: []ActionKind{ActDial}, state: StateDialing},
		{in: "ATD bbs.example.com:23", want: "", acts: []ActionKind{ActDial}, state: StateDialing},
		{in: "ATS0=1DTbbs", want: "", acts: []ActionKind{ActDial}, regs: map[int]byte{0: 1}, state: StateDialing},
		{in: "ATJDTbbs", want: er, state: StateCommand},
		// extended commands
		{in: "AT+FCLASS=0", want: ok},
		{in: "AT+FCLASS=1", want: er},
		{in: "AT+FCLASS?", want: info("0") + ok},
		{in: "AT+FCLASS=?", want: info("(0)") + ok},
		{in: "AT+FCLASS", want: er},
		{in: "AT+GMI", want: info("dialgate") + ok},
		{in: "AT+GMM", want: info("dialgate modem") + ok},
		{in: "AT+GMR", want: info("v1.2.3") + ok},
		{in: "AT+GCAP", want: info("+GCAP: +FCLASS, +MS, +ES, +DS") + ok},
		{in: "AT+GMI=?", want: ok},
		{in: "AT+IPR=115200", want: ok},
		{in: "AT+IFC=2,2", want: ok},
		{in: "AT+MS=V34", want: ok},
		{in: "AT+ES=3,0,2", want: ok},
		{in: "AT+DS=3,0", want: ok},
		{in: "AT+IPR=", want: er},
		{in: "AT+IPR?", want: info("+IPR: 38400") + ok}, // the test interpreter's DTE rate
		{in: "AT+XYZZY", want: er},
		{in: "AT+", want: er},
		{in: "AT+FCLASS=0;+IPR=0", want: ok},
		{in: "AT+FCLASS=0;E0", want: ok},
		// Without the ';': a numeric value ends where a command starts,
		// any value at the next '+' (C-Kermit's Rockwell, Zoom, Lucent,
		// Cardinal and ITU-T init strings, verbatim).
		{in: "AT+FCLASS=0S7=45", want: ok, check: wantReg(7, 45)},
		{in: "AT+FCLASS=1S7=45", want: er},
		{in: `ATQ0V1N1X4Y0&C1&D2%E2\K5+FCLASS=0S37=0`, want: ok},
		{in: `ATQ0V1X4&C1&D2+FCLASS=0+MS=11,1`, want: ok},
		{in: `ATQ0V1X4&C1&D2+FCLASS=0S37=0+MS=V92`, want: ok},
		{in: `ATQ0V1X4&C1&D2+FCLASS=0N1S37=0`, want: ok},
		{in: "AT+EB=1,0,30", want: ok},
		{in: `AT+MS="V92"E0`, want: ok, check: wantEcho(false)},
		{in: `AT+MS="a;b"E0`, want: ok, check: wantEcho(false)},
		{in: `AT+MS=1,"a",2;E0`, want: ok, check: wantEcho(false)},
		{in: "AT&E8", want: ok},
		// unknown commands
		{in: "ATJ", want: er},
		{in: "ATG", want: er},
		{in: "ATK", want: er},
		{in: "ATR", want: er},
		{in: "ATU", want: er},
		{in: "AT&", want: er},
		{in: "AT&Z", want: er},
		{in: "AT&E16", want: er},
		{in: "AT\\", want: er},
		{in: "AT\\Z", want: er},
		{in: "AT%", want: er},
		{in: "AT%Z", want: er},
		{in: "AT#CID=1", want: er},
		{in: "AT*", want: er},
		// Vendor commands C-Kermit's init strings send, verbatim: its
		// motorola-sm56-v90 (*MM, modulation) and telepath (#CLS, the
		// Rockwell data/fax class) types; before, ERROR, and Kermit's
		// dial stopped with "Error initializing modem".
		{in: "ATQ0V1X4&C1&D2*MM16", want: ok},
		{in: "ATQ0X4&N0&Y1#CLS=0S13=0S15=0S19=0", want: ok, regs: map[int]byte{13: 0, 15: 0, 19: 0}},
		{in: "AT*MM0", want: ok},
		{in: "AT*mm12E0", want: ok, check: wantEcho(false)},
		{in: "AT*MM17", want: er},
		{in: "AT*M", want: er},
		{in: "AT*XY", want: er},
		{in: "AT#CLS=0", want: ok},
		{in: "AT#cls=0E0", want: ok, check: wantEcho(false)},
		{in: "AT#CLS?", want: info("0") + ok},
		{in: "AT#CLS=?", want: info("0") + ok},
		{in: "AT#CLS=1", want: er},
		{in: "AT#CLS=2", want: er},
		{in: "AT#CLS", want: er},
		{in: "AT#", want: er},
		{in: "AT#CL=0", want: er},
		// real init strings from terminal programs and emulators
		{in: "AT S7=45 S0=0 L1 V1 X4 &c1 E1 Q0", want: ok, regs: map[int]byte{7: 45, 0: 0}}, // minicom's default
		{in: "ATZ", want: ok},        // Telix, Qmodem, CCGMS
		{in: "AT&F&C1&D2", want: ok}, // SyncTERM
		{in: "ATE1V1X4Q0&C1&D2 S7=60 S11=55 S0=0", want: ok, regs: map[int]byte{7: 60, 11: 55}}, // ProComm Plus
		{in: "AT&FE1V1Q0X4&C1&D2S0=0&K3", want: ok},                                             // HyperTerminal-ish
		{in: "AT&F1E0V1&C1&D2S95=47S0=0", want: ok, regs: map[int]byte{95: 47}},                 // USR-style with S95
		{in: "ATM0L0", want: ok},
		{in: "ATM1L2", want: ok},
		{in: "ATE0 Q0 V1 X1 S0=0 &C1 &D2 M1", want: ok}, // Terminate
		{in: "AT&F&C1&D2&K3\\N3%C1", want: ok},          // error control and compression
		{in: "AT&FX4&C1&D2\\N3W2", want: ok},            // Windows modem.inf
		{in: "ATB0", want: ok},
		{in: "ATB1", want: ok},
		{in: "ATN1", want: ok},
		{in: "ATW2", want: ok},
		{in: "ATY0", want: ok},
		{in: "AT&S0", want: ok},
		{in: "AT&S1", want: ok},
		{in: "AT&Q5", want: ok},
		{in: "AT&R1", want: ok},
		{in: "AT&B1", want: ok},
		{in: "AT&H1&R2&I0", want: ok},    // USR hardware flow control
		{in: "AT&A3&M4&N0&U0", want: ok}, // USR Sportster
		{in: "AT&G0&J0&L0&P0&T0&X0&Y0", want: ok},
		{in: "AT\\Q3\\V1\\J0\\K5\\A3\\G0\\T0\\B3", want: ok},
		{in: "AT%C0%E1", want: ok},
		{in: "ATE1Q0V1X4&C1&D2S0=0S7=60J", want: er, regs: map[int]byte{7: 50}}, // a bad command at the end
		{in: "ATJE1Q0V1X4&C1&D2S0=0S7=60", want: er, regs: map[int]byte{7: 50}}, // ... at the start
		{in: "ATE1Q0V1&Z3S7=60", want: er, regs: map[int]byte{7: 50}},           // ... in the middle
		{in: "ATPT", want: ok},
		{in: "ATT", want: ok},
		{in: "ATP", want: ok},
		{in: "ATP1", want: er},
		{in: "ATC1", want: ok},
		{in: "ATF1", want: ok},
		{in: "ATF2", want: er},
		{in: "AT&V1", want: "", check: nil},
		{in: "AT&V2", want: er},
	}
	// Every ignored command at its largest value is accepted, one more is not.
	for name, maxN := range ignored {
		cs = append(cs,
			confCase{in: fmt.Sprintf("AT%s%d", name, maxN), want: ok},
			confCase{in: fmt.Sprintf("AT%s%d", name, maxN+1), want: er},
			confCase{in: fmt.Sprintf("at%s", strings.ToLower(name)), want: ok},
		)
	}
	// Every register takes 0..255 and reads back.
	for _, r := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 36, 46, 48, 99} {
		if r == RegCR || r == RegLF {
			continue // they change the framing of the reply
		}
		cs = append(cs, confCase{in: fmt.Sprintf("ATS%d=17S%d?", r, r), want: info("017") + ok, regs: map[int]byte{r: 17}})
	}
	return cs
}

func wantProfile(f func(Profile) bool) func(Profile) error {
	return func(p Profile) error {
		if !f(p) {
			return fmt.Errorf("profile %+v", profileLine(&p))
		}
		return nil
	}
}

func wantEcho(on bool) func(Profile) error {
	return func(p Profile) error {
		if p.Echo != on {
			return fmt.Errorf("echo %v, want %v", p.Echo, on)
		}
		return nil
	}
}

func wantReg(r, v int) func(Profile) error {
	return func(p Profile) error {
		if int(p.Regs[r]) != v {
			return fmt.Errorf("S%d = %d, want %d", r, p.Regs[r], v)
		}
		return nil
	}
}

func wantX(x int) func(Profile) error {
	return func(p Profile) error {
		if p.X != x {
			return fmt.Errorf("X%d, want X%d", p.X, x)
		}
		return nil
	}
}

func TestConformance(t *testing.T) {
	cases := conformanceCases()
	if len(cases) < 200 {
		t.Fatalf("only %d conformance cases", len(cases))
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%03d_%s", i, c.in), func(t *testing.T) {
			m := newTestInterp(t, c.pre)
			before := m.Profile()
			out := m.FromDTE(t0, []byte(c.in+"\r"))
			got := string(out.DTE)
			want := c.want
			if c.in == "AT&V1" {
				if !strings.Contains(got, "ACTIVE PROFILE:") || !strings.HasSuffix(got, ok) {
					t.Fatalf("&V: %q", got)
				}
				return
			}
			if got != want {
				t.Errorf("output %q, want %q", got, want)
			}
			if strings.HasSuffix(want, er) && m.Profile() != before {
				t.Errorf("ERROR line changed the profile: %s -> %s", profileLine(&before), profileLine(ptr(m.Profile())))
			}
			for r, v := range c.regs {
				if m.Reg(r) != v {
					t.Errorf("S%d = %d, want %d", r, m.Reg(r), v)
				}
			}
			if c.check != nil {
				if err := c.check(m.Profile()); err != nil {
					t.Error(err)
				}
			}
			var kinds []ActionKind
			for _, a := range out.Actions {
				kinds = append(kinds, a.Kind)
			}
			if fmt.Sprint(kinds) != fmt.Sprint(c.acts) {
				t.Errorf("actions %v, want %v", kinds, c.acts)
			}
			if m.State() != c.state {
				t.Errorf("state %v, want %v", m.State(), c.state)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
