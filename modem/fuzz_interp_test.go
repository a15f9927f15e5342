package modem

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// interpEvent codes of FuzzInterp's input: each octet is one event; any
// octet not listed is a DTE character that comes that many milliseconds
// after the previous event.
const (
	fzTick         = 0x100 // not an input octet: the Tick at the Interp's deadline
	fzConnected    = 0x01
	fzGuard        = 0x02 // 1.5 s pass
	fzCarrierLost  = 0x03
	fzIncoming     = 0x04
	fzRing         = 0x05 // RingInterval passes
	fzIncomingGone = 0x06
	fzDTRDrop      = 0x07
	fzDialFailed   = 0x08
	fzFromLine     = 0x09
	fzATZ          = 0x0b // the DTE types S3 "ATZ" S3
	fzAmpW         = 0x0c // the DTE types S3 "AT&W" S3
	fzDTRRaise     = 0x0e
)

// interpStep is what one event produced, for the determinism check.
type interpStep struct {
	dte, line string
	actions   string
	state     State
	deadline  time.Time
}

// maxInfo bounds the information text one command can produce: &V, two
// profiles of a header, the settings line and up to 13 lines of 8
// registers.
const maxInfo = 2 * (24 + 64 + 13*72)

// FuzzInterp drives the interpreter with an arbitrary stream of DTE bytes
// and call events at arbitrary times, and checks after every event:
//
//   - the profile (active and stored) stays in range: X 0..4, &C 0..1,
//     &D 0..3, &S 0..1, &K 0..MaxFlow, \N 0..MaxEC, S3/S4/S5 at most 127;
//   - output is bounded: line data only while online, no more than the
//     DTE sent; DTE output at most the echo plus maxInfo per command of
//     the longest line and one result;
//   - a command line that answers ERROR leaves no effect: active and
//     stored profile, state and actions as before (V.250 5.2: the line is
//     atomic, Interp.execute);
//   - echo obeys E: an ordinary character typed in command state is echoed
//     exactly with E1 and not at all with E0;
//   - ActDial and ActAnswer come exactly when the state enters dialing or
//     answering, and a dial or answer ends (online, or back in command
//     state) with exactly one final result code at the end of the output
//     (CONNECT, NO CARRIER, BUSY, NO ANSWER, NO DIALTONE, ERROR), unless Q1;
//   - a command line executed in command state ends the output with its
//     final result code (OK, ERROR, NO CARRIER for A with nothing ringing)
//     or starts a dial or answer, and O ends it with CONNECT;
//   - ATZ restores the stored profile and answers OK; AT&W stores the
//     active one, but for S1 (the ring count, a counter: stored as 0),
//     and asks the driver to save that;
//   - Connected when no call is awaited asks for a hang-up and changes
//     nothing;
//   - deadlines are never long past;
//   - the same input gives the same output (no hidden clock or map order).
func FuzzInterp(f *testing.F) {
	f.Add([]byte("ATDTbbs\r\x01+++\x02ATO\r\x03"))
	f.Add([]byte("ATS0=1\r\x04\x05\x06ATA\r"))
	f.Add([]byte("AT&D3\r\x07ATDL\r\x01data\x08"))
	f.Add([]byte("ATE0&WX9\r\x0b"))
	f.Add([]byte("ATE0V0Q0X3\r\x0cATE1Q1\r\x0bATI2\r"))
	f.Add([]byte("ATS3=65\rATZ\x0b\x0c"))
	f.Add([]byte("AT&V\rA/ATH1\r\x04\x05\x05ATH\r"))
	f.Add([]byte("ATDT\"bbs:23\";S0=1\r\x08\x04ATA\r\x01\x02+++\x02ATH\r"))
	f.Add([]byte("ATS7=1\rATDTx\r\x05\x02ATX0\rATDTx\r\x08"))
	f.Fuzz(func(t *testing.T, in []byte) {
		a := runInterp(t, in)
		b := runInterp(t, in)
		if len(a) != len(b) {
			t.Fatalf("the same input gave %d then %d steps", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("step %d of the same input differs:\n%+v\n%+v", i, a[i], b[i])
			}
		}
	})
}

// finalResults are the result codes that end a command or a call attempt.
var finalResults = []Result{ResOK, ResConnect, ResNoCarrier, ResError, ResNoDialtone, ResBusy, ResNoAnswer}

// endsWithResult reports whether dte ends with one of rs as p formats it
// (for CONNECT, connect is the text with the rate).
func endsWithResult(dte []byte, p *Profile, connect string, rs ...Result) bool {
	for _, r := range rs {
		text := ""
		if r == ResConnect {
			text = connect
		}
		if bytes.HasSuffix(dte, formatResult(nil, p, r, text)) {
			return true
		}
	}
	return false
}

func checkProfileRange(t *testing.T, what string, p Profile) {
	t.Helper()
	if p.X < 0 || p.X > 4 || p.DCD < 0 || p.DCD > 1 || p.DTR < 0 || p.DTR > 3 || p.DSR < 0 || p.DSR > 1 ||
		p.Flow < 0 || p.Flow > MaxFlow || p.EC < 0 || p.EC > MaxEC ||
		p.Regs[RegCR] > 127 || p.Regs[RegLF] > 127 || p.Regs[RegBS] > 127 {
		t.Fatalf("%s profile out of range: %+v", what, p)
	}
}

func runInterp(t *testing.T, in []byte) []interpStep {
	m := NewInterp(Config{Identity: Identity{Version: "1.0"}})
	now := t0
	var steps []interpStep
	// step runs one event (an input octet, or fzTick) and checks it.
	step := func(i int, c int) {
		before, storedBefore, stateBefore := m.p, m.stored, m.state
		inLineBefore, sawABefore := m.inLine, m.sawA
		var out Output
		var typed []byte // what the DTE sent, for a DTE event
		switch c {
		case fzTick:
			out = m.Tick(now)
		case fzConnected:
			out = m.Connected(now, ConnectInfo{Rate: 33600, LAPM: true})
		case fzGuard:
			now = now.Add(1500 * time.Millisecond)
			out = m.Tick(now)
		case fzCarrierLost:
			out = m.CarrierLost(now, "gone")
		case fzIncoming:
			out = m.Incoming(now)
		case fzRing:
			now = now.Add(RingInterval)
			out = m.Tick(now)
		case fzIncomingGone:
			out = m.IncomingGone(now)
		case fzDTRDrop:
			out = m.DTRDrop(now)
		case fzDialFailed:
			out = m.DialFailed(now, Reason(i%6), "explained")
		case fzFromLine:
			var n int
			out, n = m.FromLine([]byte("line data"))
			if (stateBefore == StateOnline) != (string(out.DTE) == "line data") || (n == 0) != (stateBefore == StateOnline) {
				t.Fatalf("FromLine in state %v: %q to the DTE, %d discarded", stateBefore, out.DTE, n)
			}
		case fzDTRRaise:
			m.DTRRaise()
		case fzATZ, fzAmpW:
			cmd := "ATZ"
			if c == fzAmpW {
				cmd = "AT&W"
			}
			cr := m.p.Regs[RegCR]
			typed = append(append([]byte{cr}, cmd...), cr)
			out = m.FromDTE(now, typed)
		default:
			now = now.Add(time.Duration(c) * time.Millisecond)
			typed = []byte{byte(c)}
			out = m.FromDTE(now, typed)
		}
		checkProfileRange(t, "active", m.p)
		checkProfileRange(t, "stored", m.stored)

		// Bounded output.
		if len(out.Line) > len(typed) || len(out.Line) > 0 && stateBefore != StateOnline {
			t.Fatalf("event %#x in state %v sent %q to the line", c, stateBefore, out.Line)
		}
		if limit := len(typed)*3 + (maxLine+2)*maxInfo + 256 + len("line data"); len(out.DTE) > limit {
			t.Fatalf("event %#x gave %d octets for the DTE", c, len(out.DTE))
		}

		// Actions against state changes.
		var dials, answers, hangups, saves int
		for _, a := range out.Actions {
			switch a.Kind {
			case ActDial:
				dials++
				if a.Dial == "" {
					t.Fatal("empty dial string")
				}
			case ActAnswer:
				answers++
			case ActHangup:
				hangups++
			case ActSave:
				saves++
				if a.Profile != m.stored {
					t.Fatalf("&W saves %+v but stores %+v", a.Profile, m.stored)
				}
			}
		}
		// (Several typed characters may start a dial and abandon it at
		// once: then a hang-up follows the dial.)
		abandoned := len(out.Actions) > 0 && out.Actions[len(out.Actions)-1].Kind == ActHangup && m.state == StateCommand
		if dials > 1 || dials == 1 && m.state != StateDialing && !abandoned || m.state == StateDialing && stateBefore != StateDialing && dials != 1 {
			t.Fatalf("event %#x: %d dials, state %v -> %v, actions %v", c, dials, stateBefore, m.state, out.Actions)
		}
		if answers > 1 || answers == 1 && m.state != StateAnswering && !abandoned || m.state == StateAnswering && stateBefore != StateAnswering && answers != 1 {
			t.Fatalf("event %#x: %d answers, state %v -> %v, actions %v", c, answers, stateBefore, m.state, out.Actions)
		}
		if c == fzConnected && stateBefore != StateDialing && stateBefore != StateAnswering {
			if hangups != 1 || m.state != stateBefore || m.p != before || len(out.DTE) != 0 {
				t.Fatalf("Connected in state %v: %+v, state %v", stateBefore, out, m.state)
			}
		}

		// A dial or answer ends with one final result code.
		pending := stateBefore == StateDialing || stateBefore == StateAnswering
		if pending && m.state != stateBefore && !m.p.Quiet {
			if !endsWithResult(out.DTE, &m.p, m.connectText(), finalResults...) {
				t.Fatalf("event %#x ended the %v state with %q, no final result code", c, stateBefore, out.DTE)
			}
		}

		// Command lines: typed characters in a command state.
		if typed != nil && (stateBefore == StateCommand || stateBefore == StateOnlineCommand) {
			checkCommandEvent(t, m, c, typed, out, before, storedBefore, stateBefore, inLineBefore, sawABefore)
		}

		d, _ := m.Deadline()
		steps = append(steps, interpStep{dte: string(out.DTE), line: string(out.Line), actions: fmt.Sprint(out.Actions), state: m.state, deadline: d})
	}
	for i, c := range in {
		step(i, int(c))
		if d, ok := m.Deadline(); ok {
			if now.Sub(d) > time.Minute {
				t.Fatalf("deadline %v long past (now %v, state %v)", d, now, m.state)
			}
			if d.After(now) {
				now = d
			}
			step(i, fzTick)
		}
	}
	return steps
}

// checkCommandEvent checks what characters typed in a command state did.
func checkCommandEvent(t *testing.T, m *Interp, c int, typed []byte, out Output, before, storedBefore Profile, stateBefore State, inLine, sawA bool) {
	t.Helper()
	cr, bs := before.Regs[RegCR], before.Regs[RegBS]
	if c == fzATZ || c == fzAmpW {
		if inLine || sawA || cr == ' ' || bytes.IndexByte([]byte("AaTtZz&Ww"), cr) >= 0 || bytes.IndexByte([]byte("AaTtZz&Ww\x7f"), bs) >= 0 {
			return // the line cannot be typed with these S3/S5
		}
		if c == fzATZ {
			if m.state != StateCommand || m.p != m.stored || m.ringing {
				t.Fatalf("ATZ left state %v, profile %+v, stored %+v", m.state, m.p, m.stored)
			}
			if !m.p.Quiet && !endsWithResult(out.DTE, &m.p, "", ResOK) {
				t.Fatalf("ATZ answered %q", out.DTE)
			}
			return
		}
		want := m.p
		want.Regs[RegRingCount] = 0
		if m.stored != want || len(out.Actions) == 0 || out.Actions[len(out.Actions)-1].Kind != ActSave || out.Actions[len(out.Actions)-1].Profile != want {
			t.Fatalf("AT&W: profile %+v, stored %+v, actions %v", m.p, m.stored, out.Actions)
		}
		return
	}
	b := typed[0]
	switch {
	case b == cr && inLine:
		// A command line executed.
		if m.state == StateDialing || m.state == StateAnswering {
			return
		}
		if m.p.Quiet {
			return
		}
		want := []Result{ResOK, ResError, ResNoCarrier}
		if m.state == StateOnline {
			want = []Result{ResConnect}
		}
		if !endsWithResult(out.DTE, &m.p, m.connectText(), want...) {
			t.Fatalf("command line ended with %q, no final result code", out.DTE)
		}
		if endsWithResult(out.DTE, &m.p, "", ResError) && !bytes.HasSuffix(out.DTE, formatResult(nil, &m.p, ResOK, "")) {
			// ERROR: the line had no effect (it may be an overflowing
			// one, which ran nothing either).
			if m.p != before || m.stored != storedBefore || m.state != stateBefore || len(out.Actions) != 0 {
				t.Fatalf("an ERROR line had effects: profile %+v -> %+v, stored %+v -> %+v, state %v -> %v, actions %v",
					before, m.p, storedBefore, m.stored, stateBefore, m.state, out.Actions)
			}
		}
	case b >= 0x20 && b < 0x7f && b != cr && b != bs && !(sawA && b == '/'):
		// An ordinary character: echoed exactly under E1.
		want := ""
		if before.Echo {
			want = string(b)
		}
		if string(out.DTE) != want || m.p != before {
			t.Fatalf("typed %q with E%d in state %v: %q to the DTE", b, b2i(before.Echo), stateBefore, out.DTE)
		}
	}
}
