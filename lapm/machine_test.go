package lapm

import (
	"bytes"
	"errors"
	goflag "flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// -update rewrites the golden transcripts under testdata/machine.
var updateGolden = goflag.Bool("update", false, "rewrite golden transcripts in testdata")

// mpair is two machines joined by an in-test wire: frames are encoded with
// Frame.Append and parsed back with ParseFrame, time is a fake clock, and a
// drop hook loses chosen frames. No goroutines, no sleeps.
type mpair struct {
	t        *testing.T
	now      time.Time
	m        [2]*machine // 0 originator, 1 answerer
	drop     func(from int, f Frame) bool
	tamper   func(from int, raw []byte) []byte
	rx       [2][]byte
	ev       [2][]event
	slow     [2]bool // reader does not consume
	autoXID  bool    // answer every XID command with "resp:"+command
	trace    []string
	sentKind [2]map[Kind]int
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newPair(t *testing.T, p linkParams) *mpair {
	t.Helper()
	mp := &mpair{t: t, now: t0, autoXID: true}
	for i, r := range []Role{Originator, Answerer} {
		mp.m[i] = newMachine(machineConfig{role: r, t401: time.Second, t403: 10 * time.Second, n400: 5,
			logf: func(format string, args ...any) { t.Logf(format, args...) }})
		mp.m[i].paramsAgreed(p)
		mp.sentKind[i] = map[Kind]int{}
	}
	return mp
}

// settle moves frames between the machines until both are quiet.
func (mp *mpair) settle() {
	mp.t.Helper()
	for round := 0; round < 10000; round++ {
		moved := false
		for i := range 2 {
			m, peer := mp.m[i], mp.m[1-i]
			var frames [][]byte
			for _, f := range m.flush(mp.now) {
				mp.sentKind[i][f.Kind]++
				mp.trace = append(mp.trace, fmt.Sprintf("%6v %s> %02x %v", mp.now.Sub(t0), []string{"O", "A"}[i], f.Addr, f))
				if mp.drop != nil && mp.drop(i, f) {
					mp.trace[len(mp.trace)-1] += " LOST"
					continue
				}
				frames = append(frames, f.Append(nil))
			}
			for _, raw := range frames {
				moved = true
				if mp.tamper != nil {
					raw = mp.tamper(i, raw)
				}
				f, err := ParseFrame(raw)
				if err != nil {
					peer.recvInvalid(mp.now, raw, err)
				} else {
					peer.recvFrame(mp.now, f)
				}
			}
		}
		for i := range 2 {
			m := mp.m[i]
			for _, e := range m.takeEvents() {
				mp.ev[i] = append(mp.ev[i], e)
				if e.kind == evXIDCommand && mp.autoXID {
					if err := m.respondXID(append([]byte("resp:"), e.info...)); err != nil {
						mp.t.Fatalf("respondXID: %v", err)
					}
					moved = true
				}
			}
			for _, p := range m.takeRx() {
				mp.rx[i] = append(mp.rx[i], p.p...)
				if !mp.slow[i] {
					m.consumed(mp.now, 1)
				}
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	mp.t.Fatal("machines never settled")
}

// advance moves the clock to the next deadline (at most limit ahead),
// fires it and settles. It reports false when no timer is armed.
func (mp *mpair) advance(limit time.Duration) bool {
	next := time.Time{}
	for _, m := range mp.m {
		if d := m.deadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() || next.Sub(mp.now) > limit {
		return false
	}
	if next.After(mp.now) {
		mp.now = next
	}
	for _, m := range mp.m {
		if d := m.deadline(); !d.IsZero() && !mp.now.Before(d) {
			m.timeout(mp.now)
		}
	}
	mp.settle()
	return true
}

func (mp *mpair) establish() {
	mp.t.Helper()
	if err := mp.m[0].establish(mp.now); err != nil {
		mp.t.Fatal(err)
	}
	mp.settle()
	if mp.m[1].st == stateXIDReady && mp.m[1].sabmeSeen {
		if err := mp.m[1].establish(mp.now); err != nil {
			mp.t.Fatal(err)
		}
		mp.settle()
	}
}

func (mp *mpair) write(i int, data []byte, chunk int) {
	for len(data) > 0 {
		n := min(chunk, len(data))
		for !mp.m[i].enqueue(data[:n]) {
			mp.settle()
			if mp.m[i].txRoom() <= 0 && !mp.advance(time.Minute) {
				mp.t.Fatalf("write stuck: state %s", mp.m[i].st)
			}
		}
		data = data[n:]
	}
	mp.settle()
}

func (mp *mpair) hasEvent(i int, k eventKind) bool {
	for _, e := range mp.ev[i] {
		if e.kind == k {
			return true
		}
	}
	return false
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestMachineStateString(t *testing.T) {
	for s := stateNegotiating; s <= stateFailed; s++ {
		if strings.HasPrefix(s.String(), "state(") {
			t.Errorf("state %d has no name", s)
		}
	}
	if got := state(99).String(); got != "state(99)" {
		t.Errorf("unknown state = %q", got)
	}
}

func TestMachineEstablishAndTransfer(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	for i := range 2 {
		if mp.m[i].st != stateConnected {
			t.Fatalf("side %d state %s", i, mp.m[i].st)
		}
	}
	data := pattern(5000)
	mp.write(0, data, 128)
	mp.write(1, data[:999], 100)
	for mp.advance(time.Minute) && (len(mp.rx[1]) < len(data) || len(mp.rx[0]) < 999) {
	}
	if !bytes.Equal(mp.rx[1], data) || !bytes.Equal(mp.rx[0], data[:999]) {
		t.Fatalf("data mismatch: got %d and %d octets", len(mp.rx[1]), len(mp.rx[0]))
	}
	if n := mp.m[0].stats.Retransmitted; n != 0 {
		t.Errorf("retransmissions on a perfect wire: %d", n)
	}
}

func TestMachineLostSABME(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	lost := 0
	mp.drop = func(from int, f Frame) bool {
		if f.Kind == KindSABME && lost < 2 {
			lost++
			return true
		}
		return false
	}
	mp.establish()
	if mp.m[0].st != stateEstablishing {
		t.Fatalf("originator state %s, want establishing", mp.m[0].st)
	}
	for mp.m[0].st == stateEstablishing && mp.advance(time.Minute) {
		if mp.m[1].sabmeSeen && mp.m[1].st == stateXIDReady {
			_ = mp.m[1].establish(mp.now)
			mp.settle()
		}
	}
	if mp.m[0].st != stateConnected || mp.m[1].st != stateConnected {
		t.Fatalf("states %s/%s", mp.m[0].st, mp.m[1].st)
	}
	if got := mp.sentKind[0][KindSABME]; got != 3 {
		t.Errorf("SABME sent %d times, want 3", got)
	}
	if got := mp.now.Sub(t0); got != 2*time.Second {
		t.Errorf("established after %v, want 2 T401", got)
	}
}

func TestMachineLostUA(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	lost := false
	mp.drop = func(from int, f Frame) bool {
		if f.Kind == KindUA && !lost {
			lost = true
			return true
		}
		return false
	}
	mp.establish()
	if mp.m[1].st != stateConnected || mp.m[0].st != stateEstablishing {
		t.Fatalf("states %s/%s", mp.m[0].st, mp.m[1].st)
	}
	// The answerer sends data at once; its frames must survive the
	// originator's repeated SABME.
	data := pattern(600)
	for i := 0; i < len(data); i += 100 {
		mp.m[1].enqueue(data[i : i+100])
	}
	mp.settle()
	for (mp.m[0].st != stateConnected || len(mp.rx[0]) < len(data)) && mp.advance(time.Minute) {
	}
	if mp.m[0].st != stateConnected {
		t.Fatalf("originator state %s", mp.m[0].st)
	}
	if !bytes.Equal(mp.rx[0], data) {
		t.Fatalf("data after lost UA: %d octets, want %d", len(mp.rx[0]), len(data))
	}
}

func testLostIFrame(t *testing.T, srej bool) *mpair {
	p := defaultLinkParams()
	p.srej = srej
	mp := newPair(t, p)
	mp.establish()
	lost := false
	mp.drop = func(from int, f Frame) bool {
		if from == 0 && f.Kind == KindI && f.NS == 3 && !lost {
			lost = true
			return true
		}
		return false
	}
	data := pattern(10 * 128)
	mp.write(0, data, 128)
	for len(mp.rx[1]) < len(data) && mp.advance(time.Minute) {
	}
	if !bytes.Equal(mp.rx[1], data) {
		t.Fatalf("got %d octets, want %d", len(mp.rx[1]), len(data))
	}
	if mp.now != t0 {
		t.Errorf("recovery waited for a timer (%v): want immediate REJ/SREJ recovery", mp.now.Sub(t0))
	}
	return mp
}

func TestMachineLostIFrameREJ(t *testing.T) {
	mp := testLostIFrame(t, false)
	if mp.m[1].stats.REJSent != 1 || mp.m[1].stats.SREJSent != 0 {
		t.Errorf("REJ sent %d, SREJ sent %d; want 1, 0", mp.m[1].stats.REJSent, mp.m[1].stats.SREJSent)
	}
	// Go-back-N resends frame 3 and the 6 frames after it.
	if got := mp.m[0].stats.Retransmitted; got != 7 {
		t.Errorf("retransmitted %d frames, want 7", got)
	}
}

func TestMachineLostIFrameSREJ(t *testing.T) {
	mp := testLostIFrame(t, true)
	if mp.m[1].stats.SREJSent != 1 || mp.m[1].stats.REJSent != 0 {
		t.Errorf("SREJ sent %d, REJ sent %d; want 1, 0", mp.m[1].stats.SREJSent, mp.m[1].stats.REJSent)
	}
	if got := mp.m[0].stats.Retransmitted; got != 1 {
		t.Errorf("retransmitted %d frames, want 1", got)
	}
}

func TestMachineLostLastIFramePoll(t *testing.T) {
	// The last frame of a burst is lost: nothing follows to reveal the
	// gap, so T401 expiry polls (RR P=1) and the F=1 answer triggers the
	// retransmission.
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	lost := false
	mp.drop = func(from int, f Frame) bool {
		if from == 0 && f.Kind == KindI && f.NS == 4 && !lost {
			lost = true
			return true
		}
		return false
	}
	data := pattern(5 * 100)
	mp.write(0, data, 100)
	for len(mp.rx[1]) < len(data) && mp.advance(time.Minute) {
	}
	if !bytes.Equal(mp.rx[1], data) {
		t.Fatalf("got %d octets", len(mp.rx[1]))
	}
	if mp.m[0].stats.T401Expiries != 1 || mp.m[0].stats.Retransmitted != 1 {
		t.Errorf("T401 expiries %d, retransmissions %d; want 1, 1", mp.m[0].stats.T401Expiries, mp.m[0].stats.Retransmitted)
	}
}

// TestMachineSREJNotNegotiated: an SREJ on a link that did not agree on
// SREJ (the adversarial trial's "srejbogus" was served silently) is a
// control field the link does not implement: FRMR with W, then DISC.
func TestMachineSREJNotNegotiated(t *testing.T) {
	p := defaultLinkParams()
	p.srej = false
	m := soloConnected(t, p, 3)
	m.recvFrame(t0, Frame{Addr: Answerer.ResponseAddr(), Kind: KindSREJ, NR: 1})
	out := m.flush(t0)
	if countKind(out, KindI) != 0 || len(out) < 2 || out[0].Kind != KindFRMR || out[1].Kind != KindDISC {
		t.Fatalf("sent %v, want FRMR then DISC and no I frame", out)
	}
	if info := out[0].Info; len(info) != 5 || info[4] != frmrW {
		t.Errorf("FRMR info % x, want W (%#x)", info, frmrW)
	}
}

func TestMachineNROutsideWindowFRMR(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	// The answerer receives an RR acknowledging frames never sent.
	mp.m[1].recvFrame(mp.now, Frame{Addr: Originator.CommandAddr(), Kind: KindRR, NR: 5})
	out := mp.m[1].flush(mp.now)
	if len(out) < 2 || out[0].Kind != KindFRMR || out[1].Kind != KindDISC {
		t.Fatalf("sent %v, want FRMR then DISC", out)
	}
	if info := out[0].Info; len(info) != 5 || info[0] != ctlRR || info[1] != 5<<1 || info[4] != frmrZ {
		t.Errorf("FRMR info % x", info)
	}
	if mp.m[1].stats.FRMRSent != 1 {
		t.Errorf("FRMRSent = %d", mp.m[1].stats.FRMRSent)
	}
	mp.settle() // deliver nothing more; now lose the link's answer
	mp.m[1].recvFrame(mp.now, Frame{Addr: Originator.ResponseAddr(), Kind: KindUA, PF: true})
	if mp.m[1].st != stateFailed || !errors.Is(mp.m[1].err, ErrFrameReject) {
		t.Fatalf("state %s err %v, want failed with ErrFrameReject", mp.m[1].st, mp.m[1].err)
	}
}

func TestMachineInvalidFramesFRMR(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
		bits byte
	}{
		{"unknown U control", []byte{AddrCR1, 0xFF}, frmrW},
		{"UA with info", []byte{AddrCR1, ctlUA, 1}, frmrW | frmrX},
		{"I too long", append([]byte{AddrCR1, 0, 0}, make([]byte, 129)...), frmrY},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mp := newPair(t, defaultLinkParams())
			mp.establish()
			f, err := ParseFrame(tc.raw)
			if err != nil {
				mp.m[1].recvInvalid(mp.now, tc.raw, err)
			} else {
				mp.m[1].recvFrame(mp.now, f)
			}
			out := mp.m[1].flush(mp.now)
			if len(out) == 0 || out[0].Kind != KindFRMR {
				t.Fatalf("sent %v, want FRMR", out)
			}
			if got := out[0].Info[4]; got != tc.bits {
				t.Errorf("FRMR bits 0x%02x, want 0x%02x", got, tc.bits)
			}
			if want := tc.raw[1:2]; tc.raw[1]&3 == 3 && (out[0].Info[0] != want[0] || out[0].Info[1] != 0) {
				t.Errorf("FRMR rejected control % x, want %02x 00 for a U frame", out[0].Info[:2], want[0])
			}
		})
	}
}

// Invalid frames in the sense of V.42 §8.1.3 (an address we do not use,
// too few octets) are counted and discarded, not answered with FRMR: a
// stray frame must not tear down the link.
func TestMachineInvalidFramesDiscarded(t *testing.T) {
	for _, raw := range [][]byte{
		{0x07, ctlRR, 0x00},                // DLCI 1
		{0x02, ctlRR, 0x00},                // EA bit clear
		{AddrCR1, 0x00},                    // I frame without its second control octet
		{AddrCR1, ctlRR},                   // S frame without N(R)
		{AddrCR1 | 0xFC, 0x00, 0x00, 1, 2}, // DLCI 63
	} {
		mp := newPair(t, defaultLinkParams())
		mp.establish()
		f, err := ParseFrame(raw)
		if err == nil {
			t.Fatalf("% x parsed as %v", raw, f)
		}
		mp.m[1].recvInvalid(mp.now, raw, err)
		if out := mp.m[1].flush(mp.now); len(out) != 0 || mp.m[1].st != stateConnected {
			t.Fatalf("% x (%v): sent %v, state %s; want discarded", raw, err, out, mp.m[1].st)
		}
		if mp.m[1].stats.InvalidFrames != 1 {
			t.Errorf("% x not counted", raw)
		}
	}
}

func TestMachineN400Exhaustion(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.drop = func(int, Frame) bool { return true } // the line dies
	mp.m[0].enqueue([]byte("hello"))
	mp.settle()
	for mp.m[0].st == stateConnected && mp.advance(time.Minute) {
	}
	if mp.m[0].st != stateFailed || !errors.Is(mp.m[0].err, ErrLinkFailure) {
		t.Fatalf("state %s err %v, want failed with ErrLinkFailure", mp.m[0].st, mp.m[0].err)
	}
	// 1 transmission, then N400=5 polls, failure at the 6th expiry.
	if got, want := mp.now.Sub(t0), 6*time.Second; got != want {
		t.Errorf("failed after %v, want %v", got, want)
	}
	if got := mp.sentKind[0][KindRR]; got != 5 {
		t.Errorf("polls sent %d, want 5", got)
	}
	if !mp.hasEvent(0, evEnded) {
		t.Error("no evEnded")
	}
}

// TestMachineREJStormFails: a peer that acknowledges nothing and answers
// no poll but sends REJ N(R)=V(A) every 200 ms (the adversarial trial's
// "rejstorm") does not keep the link up for ever: the REJs do not restart
// T401, so it reaches timer recovery and fails after N400 polls, as a
// silent peer does. Meanwhile the window goes out again at most once per
// T401/2, not for every REJ (the retest: 46,000 frames a second for a REJ
// every 2 ms).
func TestMachineREJStormFails(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.drop = func(int, Frame) bool { return true }
	for range 3 {
		if !mp.m[0].enqueue(bytes.Repeat([]byte("x"), 100)) {
			t.Fatal("enqueue refused")
		}
	}
	mp.settle()
	start := mp.now
	for mp.m[0].st == stateConnected && mp.now.Sub(start) < time.Minute {
		mp.now = mp.now.Add(200 * time.Millisecond)
		if d := mp.m[0].deadline(); !d.IsZero() && !mp.now.Before(d) {
			mp.m[0].timeout(mp.now)
		}
		mp.m[0].recvFrame(mp.now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindREJ, NR: mp.m[0].va})
		mp.settle()
	}
	if !errors.Is(mp.m[0].err, ErrLinkFailure) {
		t.Fatalf("after %v of REJs: state %s, err %v; want a link failure", mp.now.Sub(start), mp.m[0].st, mp.m[0].err)
	}
	if d := mp.now.Sub(start); d > 8*time.Second {
		t.Errorf("failed after %v, want within (N400+2) x T401 = 7s", d)
	}
	// 3 frames resent at most every 500 ms over at most 7 s.
	if n := mp.m[0].stats.Retransmitted; n > 3*15 {
		t.Errorf("%d frames resent for %v of REJs every 200 ms, want at most %d", n, mp.now.Sub(start), 3*15)
	}
}

func TestMachineT403Poll(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	if !mp.advance(time.Minute) {
		t.Fatal("no timer armed on an idle link")
	}
	if got := mp.now.Sub(t0); got != 10*time.Second {
		t.Errorf("first idle poll after %v, want T403 = 10s", got)
	}
	if mp.m[0].stats.T403Polls+mp.m[1].stats.T403Polls == 0 {
		t.Fatal("no T403 poll")
	}
	for i := range 2 {
		if mp.m[i].st != stateConnected || mp.m[i].timerRecovery {
			t.Errorf("side %d: state %s recovery %v after answered poll", i, mp.m[i].st, mp.m[i].timerRecovery)
		}
	}
	// Now the peer is gone: the idle poll leads to failure.
	mp.drop = func(int, Frame) bool { return true }
	for mp.m[0].st == stateConnected && mp.advance(time.Minute) {
	}
	if !errors.Is(mp.m[0].err, ErrLinkFailure) {
		t.Fatalf("err %v, want ErrLinkFailure", mp.m[0].err)
	}
}

func TestMachineXIDExchangeAndRetransmission(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	lost := 0
	mp.drop = func(from int, f Frame) bool {
		if f.Kind == KindXID && lost < 2 {
			lost++ // lose the command, then the first response
			return true
		}
		return false
	}
	if err := mp.m[0].sendXID(mp.now, []byte("offer")); err != nil {
		t.Fatal(err)
	}
	mp.settle()
	for !mp.hasEvent(0, evXIDResponse) && mp.advance(time.Minute) {
	}
	var cmds, resps int
	for _, e := range mp.ev[1] {
		if e.kind == evXIDCommand {
			cmds++
		}
	}
	for _, e := range mp.ev[0] {
		if e.kind == evXIDResponse {
			resps++
			if string(e.info) != "resp:offer" {
				t.Errorf("response %q", e.info)
			}
		}
	}
	if cmds != 1 || resps != 1 {
		t.Errorf("upper layers saw %d commands and %d responses, want 1 and 1", cmds, resps)
	}
}

func TestMachineXIDCollision(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	// Both send XID commands at the same instant.
	if err := mp.m[0].sendXID(mp.now, []byte("from-originator")); err != nil {
		t.Fatal(err)
	}
	if err := mp.m[1].sendXID(mp.now, []byte("from-answerer")); err != nil {
		t.Fatal(err)
	}
	mp.settle()
	// The originator's command wins at once.
	if !mp.hasEvent(0, evXIDResponse) {
		t.Fatal("originator's command not answered")
	}
	if mp.hasEvent(0, evXIDCommand) {
		t.Fatal("originator took the colliding command")
	}
	// The answerer's command is answered after its T401 retransmission.
	for !mp.hasEvent(1, evXIDResponse) && mp.advance(time.Minute) {
	}
	if !mp.hasEvent(1, evXIDResponse) {
		t.Fatal("answerer's command never answered")
	}
	if got := mp.now.Sub(t0); got != time.Second {
		t.Errorf("answerer's exchange done after %v, want one T401", got)
	}
}

func TestMachineXIDNoAnswer(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.drop = func(int, Frame) bool { return true }
	_ = mp.m[0].sendXID(mp.now, []byte("x"))
	mp.settle()
	for !mp.m[0].st.ended() && mp.advance(time.Minute) {
	}
	if !errors.Is(mp.m[0].err, ErrLinkFailure) {
		t.Fatalf("err %v", mp.m[0].err)
	}
}

func TestMachineRefusedDM(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	_ = mp.m[0].establish(mp.now)
	mp.settle()
	if !mp.hasEvent(1, evSABME) {
		t.Fatal("answerer did not report SABME")
	}
	mp.m[1].refuse()
	mp.settle()
	if !errors.Is(mp.m[0].err, ErrRefused) || !errors.Is(mp.m[1].err, ErrRefused) {
		t.Fatalf("errors %v / %v, want ErrRefused", mp.m[0].err, mp.m[1].err)
	}
}

// TestMachineDISCInEveryState sends the peer's DISC to a machine in each
// state and checks the answer and the outcome.
func TestMachineDISCInEveryState(t *testing.T) {
	type want struct {
		answer Kind
		st     state
		err    error
	}
	cases := []struct {
		name  string
		setup func(mp *mpair)
		want  want
	}{
		{"negotiating", func(mp *mpair) { mp.m[1].st = stateNegotiating }, want{KindDM, stateDisconnected, ErrPeerDisconnected}},
		{"xid-ready", func(mp *mpair) {}, want{KindDM, stateDisconnected, ErrPeerDisconnected}},
		{"establishing", func(mp *mpair) {
			mp.drop = func(int, Frame) bool { return true }
			_ = mp.m[1].establish(mp.now)
			mp.settle()
			mp.drop = nil
		}, want{KindUA, stateDisconnected, ErrPeerDisconnected}},
		{"connected", func(mp *mpair) { mp.establish() }, want{KindUA, stateDisconnected, ErrPeerDisconnected}},
		{"disconnecting", func(mp *mpair) {
			mp.establish()
			mp.drop = func(int, Frame) bool { return true }
			mp.m[1].close(mp.now)
			mp.settle()
			mp.drop = nil
		}, want{KindUA, stateDisconnected, nil}},
		{"disconnected", func(mp *mpair) {
			mp.establish()
			mp.m[1].close(mp.now)
			mp.settle()
		}, want{KindDM, stateDisconnected, nil}},
		{"failed", func(mp *mpair) { mp.m[1].fail(ErrLinkFailure) }, want{KindDM, stateFailed, ErrLinkFailure}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mp := newPair(t, defaultLinkParams())
			tc.setup(mp)
			m := mp.m[1]
			m.flush(mp.now)
			m.recvFrame(mp.now, Frame{Addr: Originator.CommandAddr(), Kind: KindDISC, PF: true})
			out := m.flush(mp.now)
			if len(out) != 1 || out[0].Kind != tc.want.answer || !out[0].PF || out[0].Addr != Answerer.ResponseAddr() {
				t.Fatalf("answer %v, want %s response F=1", out, tc.want.answer)
			}
			if m.st != tc.want.st {
				t.Errorf("state %s, want %s", m.st, tc.want.st)
			}
			if tc.want.err == nil && m.err != nil || tc.want.err != nil && !errors.Is(m.err, tc.want.err) {
				t.Errorf("err %v, want %v", m.err, tc.want.err)
			}
		})
	}
}

func TestMachineCloseDrainsThenDISC(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	data := pattern(3000)
	mp.write(0, data[:2000], 128)
	mp.m[0].close(mp.now)
	if mp.m[0].enqueue([]byte("late")) {
		t.Error("enqueue accepted after close")
	}
	mp.settle()
	for !mp.m[0].st.ended() && mp.advance(time.Minute) {
	}
	if mp.m[0].st != stateDisconnected || mp.m[0].err != nil {
		t.Fatalf("closer: %s %v", mp.m[0].st, mp.m[0].err)
	}
	if !errors.Is(mp.m[1].err, ErrPeerDisconnected) {
		t.Errorf("peer err %v", mp.m[1].err)
	}
	if !bytes.Equal(mp.rx[1], data[:2000]) {
		t.Errorf("peer got %d octets before DISC, want 2000", len(mp.rx[1]))
	}
}

func TestMachineCloseUnansweredEnds(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.drop = func(int, Frame) bool { return true }
	mp.m[0].close(mp.now)
	mp.settle()
	for !mp.m[0].st.ended() && mp.advance(time.Minute) {
	}
	if !errors.Is(mp.m[0].err, ErrLinkFailure) {
		t.Fatalf("err %v", mp.m[0].err)
	}
	if got := mp.now.Sub(t0); got != 6*time.Second {
		t.Errorf("gave up after %v, want (N400+1)*T401", got)
	}
}

func TestMachineSlowReaderPushesBack(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.slow[1] = true
	data := pattern(200 * 100)
	sent := 0
	for sent < len(data) && mp.m[0].enqueue(data[sent:sent+100]) {
		sent += 100
	}
	mp.settle()
	for i := 0; i < 20 && mp.advance(time.Minute); i++ {
		for sent < len(data) && mp.m[0].enqueue(data[sent:sent+100]) {
			sent += 100
		}
		mp.settle()
	}
	m := mp.m[1]
	if !m.ownBusy || mp.m[1].stats.RNRSent == 0 {
		t.Fatalf("receiver not busy (ownBusy %v, RNR sent %d)", m.ownBusy, m.stats.RNRSent)
	}
	if m.rxFrames > m.rxHard {
		t.Fatalf("receiver buffered %d payloads, bound %d", m.rxFrames, m.rxHard)
	}
	if !mp.m[0].peerBusy {
		t.Fatal("sender not told the peer is busy")
	}
	if sent == len(data) {
		t.Fatal("sender accepted everything: no push back")
	}
	if mp.m[0].st != stateConnected {
		t.Fatalf("busy peer made the link fail: %v", mp.m[0].err)
	}
	// The reader catches up: everything arrives.
	mp.slow[1] = false
	m.consumed(mp.now, m.rxFrames)
	mp.settle()
	for len(mp.rx[1]) < len(data) {
		for sent < len(data) && mp.m[0].enqueue(data[sent:sent+100]) {
			sent += 100
		}
		mp.settle()
		if len(mp.rx[1]) < len(data) && !mp.advance(time.Minute) {
			break
		}
	}
	if !bytes.Equal(mp.rx[1], data) {
		t.Fatalf("got %d octets, want %d", len(mp.rx[1]), len(data))
	}
}

func TestMachineBreak(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	lost := false
	mp.drop = func(from int, f Frame) bool {
		if f.Kind == KindUI && from == 1 && !lost { // lose the first BRKACK
			lost = true
			return true
		}
		return false
	}
	if err := mp.m[0].sendBreak(mp.now); err != nil {
		t.Fatal(err)
	}
	mp.settle()
	for !mp.hasEvent(0, evBreakAck) && mp.advance(time.Minute) {
	}
	breaks := 0
	for _, e := range mp.ev[1] {
		if e.kind == evBreak {
			breaks++
		}
	}
	if breaks != 1 || !mp.hasEvent(0, evBreakAck) {
		t.Fatalf("breaks delivered %d, ack %v; want 1, true", breaks, mp.hasEvent(0, evBreakAck))
	}
	// A second break uses the other sequence bit and is delivered too.
	_ = mp.m[0].sendBreak(mp.now)
	mp.settle()
	breaks = 0
	for _, e := range mp.ev[1] {
		if e.kind == evBreak {
			breaks++
		}
	}
	if breaks != 2 {
		t.Fatalf("second break not delivered")
	}
}

// TestMachineBreakWireFormat pins the break frames to V.42 §8.13.1: BRK is
// a UI command with P=0 whose first information octet is BRK with the
// sequence bit, and BRKACK is a UI response whose F bit equals the P bit of
// the BRK it answers (a peer that sets P=1 gets F=1 back) and whose
// information octet is BRKACK with the same sequence bit. Octets after the
// first (break option and length, §12.3) do not change the answer.
func TestMachineBreakWireFormat(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	if err := mp.m[0].sendBreak(mp.now); err != nil {
		t.Fatal(err)
	}
	out := mp.m[0].flush(mp.now)
	if len(out) != 1 || out[0].Kind != KindUI || out[0].PF || out[0].Addr != Originator.CommandAddr() ||
		len(out[0].Info) < 1 || out[0].Info[0] != brkType {
		t.Fatalf("BRK sent as %v, want one UI command, P=0, info %02x ...", out, brkType)
	}
	a := mp.m[1]
	for _, tc := range []struct {
		pf   bool
		info []byte
	}{
		{false, []byte{brkType}},
		{true, []byte{brkType | brkSeqBit, 0x40}},
		{false, []byte{brkType, 0x40, 30}},
	} {
		a.recvFrame(mp.now, Frame{Addr: Originator.CommandAddr(), Kind: KindUI, PF: tc.pf, Info: tc.info})
		resp := a.flush(mp.now)
		want := brkAckType | tc.info[0]&brkSeqBit
		if len(resp) != 1 || resp[0].Kind != KindUI || resp[0].Addr != Answerer.ResponseAddr() ||
			resp[0].PF != tc.pf || !bytes.Equal(resp[0].Info, []byte{want}) {
			t.Errorf("BRK P=%v info % x: answered %v, want UI response F=%v info %02x", tc.pf, tc.info, resp, tc.pf, want)
		}
	}
}

func TestMachineDuplicateIFramesIgnored(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.tamper = nil
	data := pattern(300)
	mp.write(0, data, 100)
	// Replay frame 1 (a line duplicate).
	mp.m[1].recvFrame(mp.now, Frame{Addr: AddrCR1, Kind: KindI, NS: 1, NR: 0, Info: data[100:200]})
	mp.settle()
	if !bytes.Equal(mp.rx[1], data) || mp.m[1].stats.Duplicates != 1 || mp.m[1].stats.REJSent != 0 {
		t.Fatalf("rx %d octets, duplicates %d, REJ %d", len(mp.rx[1]), mp.m[1].stats.Duplicates, mp.m[1].stats.REJSent)
	}
}

// FuzzMachineFrames feeds arbitrary frames (as a peer could send them) to
// a machine in the data phase with data outstanding both ways, and checks
// after every frame and timeout:
//
//   - it never panics, keeps its buffers bounded and only sends frames
//     that parse; payload buffers are owned as the Link's pools need;
//   - V(S), V(A), V(R) are sequence numbers (0..127), V(A) <= V(S) modulo
//     128 with no more than k outstanding, and unacked holds exactly the
//     frames V(A)..V(S)-1;
//   - an I frame it sends has N(S) in [V(A), V(S)) and is byte-identical
//     to the outstanding copy (a retransmission is the first transmission);
//     the N(R) of an I, RR, RNR or REJ it sends is at most V(R) and no more
//     than k behind, an SREJ's is at or past V(R) within k;
//   - the SREJ hold keeps its counts: holdN entries held, srejN asked,
//     none for V(R) itself (that one is delivered), within k;
//   - delivery is in order with no duplicates and no gaps: the n-th payload
//     delivered is the information field of a frame that decoded with
//     N(S) = n mod 128, V(R) is the count of payloads delivered, and no
//     payload comes from a frame that failed to decode;
//   - nothing is delivered or sent as an I frame once the link ended.
//
// The machine knows nothing of the payload transform (the Link seals
// before enqueue and opens after delivery), so there is no sealed variant
// here; the payloads it carries are opaque octets either way.
func FuzzMachineFrames(f *testing.F) {
	f.Add([]byte{3, AddrCR1, 0x00, 0x00})
	f.Add([]byte{3, AddrCR1, ctlRR, 0x0B, 3, AddrCR1, ctlREJ, 0x01, 2, AddrCR1, ctlSABME | pfBitU})
	f.Add([]byte{4, AddrCR1, 0x04, 0x00, 0xAA, 3, AddrCR1, 0x02, 0x01, 2, AddrCR1, ctlDISC | pfBitU})
	f.Add([]byte{3, AddrCR0, ctlSREJ, 0x02, 3, AddrCR1, ctlUI, brkType, 2, AddrCR1, 0xFF})
	// In order, go-back-N (odd length: no SREJ); out of order with SREJ
	// (even length), with a duplicate and a timeout.
	f.Add([]byte{4, AddrCR1, 0x00, 0x00, 'a', 4, AddrCR1, 0x02, 0x00, 'b', 4, AddrCR1, 0x04, 0x02, 'c'})
	f.Add([]byte{4, AddrCR1, 0x02, 0x00, 'b', 4, AddrCR1, 0x04, 0x00, 'c', 4, AddrCR1, 0x00, 0x00, 'a', 4, AddrCR1, 0x02, 0x00, 'B', 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		p := defaultLinkParams()
		p.srej = len(in)%2 == 0
		p.kRx, p.kTx = 4, 4
		m := newMachine(machineConfig{role: Answerer, t401: time.Second, t403: 10 * time.Second, n400: 3})
		m.paramsAgreed(p)
		now := t0
		m.sabmeSeen = true
		if err := m.establish(now); err != nil {
			t.Fatal(err)
		}
		// Buffer ownership, as the Link's pools need it: a payload
		// takeAcked returned (given back to the pool) is never sent
		// again and returned once; a received frame's array the machine
		// did not take (rxBuf left) is given back and nothing the
		// machine keeps points into it.
		sent := map[*byte]bool{}
		for i := range 6 {
			p := []byte(fmt.Sprintf("outgoing %d", i))
			sent[&p[0]] = true
			m.enqueue(p)
		}
		putBack := map[*byte]bool{}
		var returned [][]byte            // received arrays given back
		var decoded [128]map[string]bool // I fields of frames that decoded, by N(S)
		delivered := 0
		ended := false
		inReturned := func(b []byte) bool {
			if cap(b) == 0 {
				return false
			}
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			for _, r := range returned {
				lo := uintptr(unsafe.Pointer(unsafe.SliceData(r)))
				if p >= lo && p < lo+uintptr(cap(r)) {
					return true
				}
			}
			return false
		}
		check := func() {
			iframes := 0
			if m.vs > 127 || m.va > 127 || m.vr > 127 || seqDiff(m.vs, m.va) != len(m.unacked) {
				t.Fatalf("V(S) %d V(A) %d V(R) %d with %d outstanding", m.vs, m.va, m.vr, len(m.unacked))
			}
			for _, f := range m.flush(now) {
				switch f.Kind {
				case KindI:
					i := seqDiff(f.NS, m.va)
					if ended || i >= len(m.unacked) || !bytes.Equal(f.Info, m.unacked[i].p) {
						t.Fatalf("I frame N(S)=%d sent with V(A) %d V(S) %d (ended %v)", f.NS, m.va, m.vs, ended)
					}
					fallthrough
				case KindRR, KindRNR, KindREJ:
					if seqDiff(m.vr, f.NR) > m.p.kRx {
						t.Fatalf("%v sent with N(R) %d, V(R) %d", f.Kind, f.NR, m.vr)
					}
				case KindSREJ:
					if seqDiff(f.NR, m.vr) >= m.p.kRx {
						t.Fatalf("SREJ N(R) %d with V(R) %d", f.NR, m.vr)
					}
				}
				if f.Kind == KindI && putBack[&f.Info[0]] {
					t.Fatalf("I frame N(S)=%d sent from a payload takeAcked gave back", f.NS)
				}
				if inReturned(f.Info) {
					t.Fatalf("frame %v sent from a received array given back", f)
				}
				if f.Kind == KindI {
					// Retransmissions included: a burst of REJ/SREJ/F=1
					// resends each frame once per batch.
					if iframes++; iframes > 2*m.p.kTx {
						t.Fatalf("%d I frames in one batch, window %d", iframes, m.p.kTx)
					}
				}
				raw := f.Append(nil)
				if _, err := ParseFrame(raw); err != nil {
					t.Fatalf("machine sent an unparsable frame %v: %v", f, err)
				}
			}
			acked := m.takeAcked()
			for _, p := range acked {
				if !sent[&p[0]] || putBack[&p[0]] {
					t.Fatalf("takeAcked returned %q, not outstanding", p)
				}
				putBack[&p[0]] = true
			}
			clear(acked)
			for _, e := range m.unacked {
				if putBack[&e.p[0]] {
					t.Fatalf("payload %q given back while outstanding", e.p)
				}
			}
			for _, e := range m.takeEvents() {
				if inReturned(e.info) {
					t.Fatalf("event %v refers to a received array given back", e.kind)
				}
			}
			for _, h := range m.hold {
				if inReturned(h.p) {
					t.Fatal("a held frame refers to a received array given back")
				}
			}
			if inReturned(m.xidLastCmd) || inReturned(m.xidCmd) {
				t.Fatal("the XID state refers to a received array given back")
			}
			rx := m.takeRx()
			for _, r := range rx {
				if inReturned(r.p) || inReturned(r.buf) {
					t.Fatal("a delivered payload refers to a received array given back")
				}
				if ended || !decoded[delivered%128][string(r.p)] {
					t.Fatalf("payload %d (%q) delivered, not the I field of a frame N(S)=%d that decoded (ended %v)", delivered, r.p, delivered%128, ended)
				}
				delivered++
			}
			if int(m.vr) != delivered%128 || m.stats.IFramesRecv != uint64(delivered) {
				t.Fatalf("V(R) %d after %d payloads delivered (%d counted)", m.vr, delivered, m.stats.IFramesRecv)
			}
			held, asked := 0, 0
			for i, h := range m.hold {
				if h.p != nil {
					held++
					if i == 0 {
						t.Fatalf("frame V(R)=%d held, not delivered", m.vr)
					}
				}
				if h.asked {
					asked++
				}
			}
			if held != m.holdN || asked != m.srejN || len(m.hold) > m.p.kRx {
				t.Fatalf("hold of %d: %d held (holdN %d), %d asked (srejN %d)", len(m.hold), held, m.holdN, asked, m.srejN)
			}
			ended = ended || m.st.ended()
			if len(rx) > 0 && len(in)%3 == 0 {
				m.consumed(now, len(rx))
			}
			if m.rxFrames > m.rxHard || m.holdN > m.p.kRx || len(m.txq) > m.txqCap {
				t.Fatalf("unbounded: rx %d/%d hold %d txq %d", m.rxFrames, m.rxHard, m.holdN, len(m.txq))
			}
			if seqDiff(m.vs, m.va) > m.p.kTx {
				t.Fatalf("window overrun: vs %d va %d", m.vs, m.va)
			}
		}
		check()
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n == 0 {
				now = now.Add(1100 * time.Millisecond)
				m.timeout(now)
				check()
				continue
			}
			n = min(n, len(in))
			// Every frame in an array of its own, handed over as the
			// Link does with long frames (rxBuf).
			raw := append([]byte(nil), in[:n]...)
			in = in[n:]
			if fr, err := ParseFrame(raw); err != nil {
				m.recvInvalid(now, raw, err)
				returned = append(returned, raw)
			} else {
				if fr.Kind == KindI {
					if decoded[fr.NS] == nil {
						decoded[fr.NS] = map[string]bool{}
					}
					decoded[fr.NS][string(fr.Info)] = true
				}
				m.rxBuf = raw
				m.recvFrame(now, fr)
				if m.rxBuf != nil {
					m.rxBuf = nil
					returned = append(returned, raw)
				}
			}
			check()
		}
	})
}

// TestMachineGoldenTranscript runs a scripted call (XID, lost SABME,
// data both ways with lost I frames and a lost SREJ, a break, release)
// between two machines and compares every frame sent, with its time, to
// testdata/machine/recovery.golden. Run with -update to rewrite it after a
// deliberate change, and review the diff.
func TestMachineGoldenTranscript(t *testing.T) {
	p := defaultLinkParams()
	p.srej = true
	p.kTx, p.kRx = 7, 7
	mp := newPair(t, p)
	losses := map[string]int{"SABME": 1, "I3": 1, "SREJ": 1, "I9": 2}
	mp.drop = func(from int, f Frame) bool {
		key := f.Kind.String()
		if f.Kind == KindI {
			key = fmt.Sprintf("I%d", f.NS)
		}
		if from == 0 && losses[key] > 0 || from == 1 && key == "SREJ" && losses[key] > 0 {
			losses[key]--
			return true
		}
		return false
	}
	_ = mp.m[0].sendXID(mp.now, []byte("offer"))
	mp.settle()
	mp.establish()
	for mp.m[0].st != stateConnected && mp.advance(time.Minute) {
		if mp.m[1].sabmeSeen && mp.m[1].st == stateXIDReady {
			_ = mp.m[1].establish(mp.now)
			mp.settle()
		}
	}
	data := pattern(12 * 64)
	mp.write(0, data, 64)
	mp.write(1, data[:3*64], 64)
	for (len(mp.rx[1]) < len(data) || len(mp.rx[0]) < 3*64) && mp.advance(time.Minute) {
	}
	_ = mp.m[1].sendBreak(mp.now)
	mp.settle()
	mp.m[0].close(mp.now)
	mp.settle()
	for !mp.m[0].st.ended() && mp.advance(time.Minute) {
	}
	if !bytes.Equal(mp.rx[1], data) || !bytes.Equal(mp.rx[0], data[:3*64]) {
		t.Fatalf("data mismatch: %d / %d octets", len(mp.rx[1]), len(mp.rx[0]))
	}
	got := strings.Join(mp.trace, "\n") + "\n"
	path := filepath.Join("testdata", "machine", "recovery.golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (run with -update after a deliberate change):\n%s", path, got)
	}
}

func TestMachineCloseBoundedByBusyPeer(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	mp.slow[1] = true // the peer's reader never reads: it stays busy
	mp.m[1].rxSoft, mp.m[1].rxHard = 1, 2
	data := pattern(40 * 100)
	for i := 0; i < len(data) && mp.m[0].enqueue(data[i:i+100]); i += 100 {
	}
	mp.settle()
	mp.m[0].close(mp.now)
	mp.settle()
	for !mp.m[0].st.ended() && mp.advance(time.Minute) {
	}
	if mp.m[0].st != stateDisconnected {
		t.Fatalf("state %s err %v", mp.m[0].st, mp.m[0].err)
	}
	// N400 x T401 of draining, then DISC/UA.
	if got := mp.now.Sub(t0); got != 5*time.Second {
		t.Errorf("release took %v, want N400 x T401 = 5s", got)
	}
	if mp.m[0].stats.RNRReceived == 0 {
		t.Error("peer never reported busy: the test did not exercise a busy peer")
	}
}

func TestMachineLostREJRepeated(t *testing.T) {
	mp := newPair(t, defaultLinkParams())
	mp.establish()
	lostI, lostREJ := false, false
	mp.drop = func(from int, f Frame) bool {
		switch {
		case from == 0 && f.Kind == KindI && f.NS == 2 && !lostI:
			lostI = true
			return true
		case from == 1 && f.Kind == KindREJ && !lostREJ:
			lostREJ = true
			return true
		}
		return false
	}
	data := pattern(6 * 100)
	mp.write(0, data, 100)
	for len(mp.rx[1]) < len(data) && mp.advance(time.Minute) {
	}
	if !bytes.Equal(mp.rx[1], data) {
		t.Fatalf("got %d octets", len(mp.rx[1]))
	}
	if got := mp.m[1].stats.REJSent; got != 2 {
		t.Errorf("REJ sent %d times, want 2 (the first was lost)", got)
	}
}

// soloConnected returns an originator machine in the data phase with
// payloads I frames outstanding, driven by hand (the test plays the
// answerer), and the frames it sent.
func soloConnected(t *testing.T, p linkParams, payloads int) *machine {
	t.Helper()
	m := newMachine(machineConfig{role: Originator, t401: time.Second, n400: 5,
		logf: func(format string, args ...any) { t.Logf(format, args...) }})
	m.paramsAgreed(p)
	if err := m.establish(t0); err != nil {
		t.Fatal(err)
	}
	m.flush(t0)
	m.recvFrame(t0, Frame{Addr: Answerer.ResponseAddr(), Kind: KindUA, PF: true})
	if m.st != stateConnected {
		t.Fatalf("state %s", m.st)
	}
	for i := range payloads {
		if !m.enqueue([]byte{byte(i)}) {
			t.Fatal("enqueue refused")
		}
	}
	if got := countKind(m.flush(t0), KindI); got != payloads {
		t.Fatalf("sent %d I frames, want %d", got, payloads)
	}
	return m
}

func countKind(fs []Frame, k Kind) int {
	n := 0
	for _, f := range fs {
		if f.Kind == k {
			n++
		}
	}
	return n
}

// A peer that answers every poll with RR F=1 but never acknowledges kept
// the link retransmitting its window for ever; it must fail after N400
// such answers like a silent peer does.
func TestMachineNeverAckingPeerFails(t *testing.T) {
	for _, answer := range []Kind{KindRR, KindSREJ} {
		t.Run(answer.String(), func(t *testing.T) {
			p := defaultLinkParams()
			p.srej = answer == KindSREJ
			m := soloConnected(t, p, 3)
			for i := 0; i < 100 && m.st == stateConnected; i++ {
				now := m.deadline()
				if now.IsZero() {
					t.Fatal("no timer armed with frames outstanding")
				}
				m.timeout(now)
				m.flush(now)
				m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: answer, NR: 0, PF: true})
				m.flush(now)
			}
			if m.st != stateFailed || !errors.Is(m.err, ErrLinkFailure) {
				t.Fatalf("state %s err %v, want failed with ErrLinkFailure", m.st, m.err)
			}
			if m.stats.Retransmitted > uint64(3*(m.cfg.n400+1)) {
				t.Errorf("%d retransmissions, want at most a window per poll", m.stats.Retransmitted)
			}
		})
	}
}

// A peer busy for ever (RNR F=1 to every poll) keeps the link up and
// polled, but is not sent I frames it would discard; memory stays put.
func TestMachineRNRForever(t *testing.T) {
	m := soloConnected(t, defaultLinkParams(), 3)
	m.recvFrame(t0, Frame{Addr: Answerer.ResponseAddr(), Kind: KindRNR, NR: 1})
	m.flush(t0)
	now := t0
	polls := 0
	for range 50 {
		now = m.deadline()
		if now.IsZero() {
			t.Fatal("busy peer not polled")
		}
		m.timeout(now)
		out := m.flush(now)
		if n := countKind(out, KindI); n != 0 {
			t.Fatalf("%d I frames sent to a busy peer", n)
		}
		polls += countKind(out, KindRR)
		m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindRNR, NR: 1, PF: true})
		if n := countKind(m.flush(now), KindI); n != 0 {
			t.Fatalf("%d I frames retransmitted on RNR F=1", n)
		}
	}
	if m.st != stateConnected || polls != 50 || m.stats.RNRReceived != 51 {
		t.Fatalf("state %s, %d polls, %d RNR counted", m.st, polls, m.stats.RNRReceived)
	}
	// The peer recovers: RR F=1 to the next poll brings the frames back.
	m.timeout(m.deadline())
	m.flush(now)
	m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindRR, NR: 1, PF: true})
	if n := countKind(m.flush(now), KindI); n != 2 {
		t.Fatalf("%d I frames retransmitted after the busy condition, want 2", n)
	}
}

// REJ and SREJ storms between two flushes resend each frame once: output
// per batch stays bounded by the window, whatever the peer sends.
func TestMachineRejectStormsBounded(t *testing.T) {
	for _, k := range []Kind{KindREJ, KindSREJ} {
		t.Run(k.String(), func(t *testing.T) {
			p := defaultLinkParams()
			p.srej = true
			m := soloConnected(t, p, 15)
			for range 5000 {
				m.recvFrame(t0, Frame{Addr: Answerer.ResponseAddr(), Kind: k, NR: 0})
			}
			got := countKind(m.flush(t0), KindI)
			want := 15
			if k == KindSREJ {
				want = 1
			}
			if got != want {
				t.Fatalf("%d I frames for 5000 %ss, want %d", got, k, want)
			}
			if k == KindREJ {
				// The same REJ again at once, after the frames went
				// out for it: they are on their way, and go out
				// again only for a REJ repeated after T401/2 (a peer
				// repeats its REJ after its T401).
				m.recvFrame(t0, Frame{Addr: Answerer.ResponseAddr(), Kind: k, NR: 0})
				if got := countKind(m.flush(t0), KindI); got != 0 {
					t.Fatalf("%d I frames for a REJ repeated at once, want 0", got)
				}
			}
			// A later REJ (the retransmission was lost) is honoured.
			later := t0.Add(time.Second)
			m.recvFrame(later, Frame{Addr: Answerer.ResponseAddr(), Kind: k, NR: 0})
			if got := countKind(m.flush(later), KindI); got != want {
				t.Fatalf("%d I frames for the next %s, want %d", got, k, want)
			}
			if m.st != stateConnected {
				t.Fatalf("state %s", m.st)
			}
		})
	}
}

// Hayes S141: an answerer that sent ADP waits for the originator's flags
// up to 2 x T400, then gives up.
func TestMachineFirstFrameWait(t *testing.T) {
	m := newMachine(machineConfig{role: Answerer})
	m.awaitFirstFrame(t0, FlagWaitAfterADP)
	if got := m.deadline(); !got.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Fatalf("deadline %v, want T400 x 2 after start", got.Sub(t0))
	}
	m.timeout(t0.Add(time.Second))
	if m.st != stateNegotiating {
		t.Fatalf("gave up early: %s", m.st)
	}
	m.timeout(t0.Add(1500 * time.Millisecond))
	if m.st != stateFailed || !errors.Is(m.err, ErrLinkFailure) {
		t.Fatalf("state %s err %v, want failure", m.st, m.err)
	}

	// Any frame, even one that does not parse, stops the wait.
	m = newMachine(machineConfig{role: Answerer})
	m.awaitFirstFrame(t0, FlagWaitAfterADP)
	m.recvInvalid(t0, []byte{AddrCR1, 0xFF}, ErrFrameControl)
	if !m.deadline().IsZero() {
		t.Fatal("timer still armed after a frame")
	}
	m.timeout(t0.Add(time.Hour))
	if m.st != stateNegotiating {
		t.Fatalf("state %s", m.st)
	}
}

// The interop stall: the peer's last I frame is lost, it polls, our RR
// F=1 asks for it again, and that retransmission is lost too (spandsp
// then waits for T403). One REJ after T401 without progress recovers; an
// idle peer's poll gets no REJ.
func TestMachinePollFollowUp(t *testing.T) {
	m := soloConnected(t, defaultLinkParams(), 0)
	peerCmd := Answerer.CommandAddr()
	now := t0
	for s := range uint8(3) {
		m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindI, NS: s, Info: []byte{s}})
	}
	m.flush(now)
	// Frame 3 is lost; the peer's T401 expires and it polls.
	now = now.Add(time.Second)
	m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindRR, PF: true})
	out := m.flush(now)
	if len(out) != 1 || out[0].Kind != KindRR || !out[0].PF || out[0].NR != 3 {
		t.Fatalf("answer to the poll: %v", out)
	}
	if got := m.deadline(); !got.Equal(now.Add(time.Second)) {
		t.Fatalf("follow-up at %v, want T401 after the poll", got.Sub(now))
	}
	now = m.deadline()
	m.timeout(now)
	out = m.flush(now)
	if len(out) != 1 || out[0].Kind != KindREJ || out[0].NR != 3 || out[0].PF {
		t.Fatalf("follow-up: %v, want one REJ N(R)=3", out)
	}
	// The retransmission is lost again: REJ every T401 while V(R) stays
	// put, N400 (5) times in all, then nothing.
	rejs := 1
	for d := m.deadline(); !d.IsZero() && d.Before(now.Add(time.Minute)); d = m.deadline() {
		now = d
		m.timeout(now)
		rejs += countKind(m.flush(now), KindREJ)
	}
	if rejs != 5 {
		t.Fatalf("%d REJs while V(R) stayed put, want N400 = 5", rejs)
	}
	// The frame arrives after the next poll: the follow-up stops.
	m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindRR, PF: true})
	m.flush(now)
	m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindI, NS: 3, Info: []byte{3}})
	m.flush(now)
	if d := m.deadline(); !d.IsZero() && d.Before(now.Add(5*time.Second)) {
		t.Fatalf("follow-up still armed after V(R) moved (+%v)", d.Sub(now))
	}
	m.timeout(now.Add(time.Second))
	if n := countKind(m.flush(now.Add(time.Second)), KindREJ); n != 0 {
		t.Fatalf("%d REJs after V(R) moved", n)
	}

	// An idle peer's poll (no I frame for a long time) is just answered.
	now = now.Add(time.Minute)
	m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindRR, PF: true})
	m.flush(now)
	if d := m.deadline(); !d.IsZero() && d.Before(now.Add(5*time.Second)) {
		t.Fatalf("follow-up armed for an idle poll (+%v)", d.Sub(now))
	}
}

// TestMachineWindowArrays: the window arrays hold only what is
// outstanding or held, never more than k entries (here 5), and are gone
// once the transfer is over; a transfer of 300 frames, crossing the
// modulo-128 wrap twice, with every seventh I frame sent lost, arrives
// intact with REJ and with SREJ recovery.
func TestMachineWindowArrays(t *testing.T) {
	for _, srej := range []bool{false, true} {
		t.Run(fmt.Sprintf("srej=%v", srej), func(t *testing.T) {
			p := defaultLinkParams()
			p.kTx, p.kRx, p.srej = 5, 5, srej
			mp := newPair(t, p)
			maxUnacked, maxHold := 0, 0
			check := func() {
				for i, m := range mp.m {
					if len(m.unacked) != seqDiff(m.vs, m.va) || len(m.unacked) > p.kTx {
						t.Fatalf("side %d: %d frames in unacked, V(S)-V(A) = %d, k %d", i, len(m.unacked), seqDiff(m.vs, m.va), p.kTx)
					}
					held, asked := 0, 0
					for _, h := range m.hold {
						if h.p != nil {
							held++
						}
						if h.asked {
							asked++
						}
					}
					if len(m.hold) > p.kRx || held != m.holdN || asked != m.srejN {
						t.Fatalf("side %d: hold %d entries (k %d), %d held (holdN %d), %d asked (srejN %d)", i, len(m.hold), p.kRx, held, m.holdN, asked, m.srejN)
					}
					maxUnacked, maxHold = max(maxUnacked, len(m.unacked)), max(maxHold, len(m.hold))
				}
			}
			mp.tamper = func(from int, raw []byte) []byte {
				check()
				return raw
			}
			for i, m := range mp.m {
				if cap(m.unacked) != 0 || cap(m.hold) != 0 {
					t.Fatalf("side %d: window arrays %d/%d before the data phase, want none", i, cap(m.unacked), cap(m.hold))
				}
			}
			mp.establish()
			n := 0
			mp.drop = func(from int, f Frame) bool {
				if from != 0 || f.Kind != KindI {
					return false
				}
				n++
				return n%7 == 0
			}
			data := pattern(300 * 10)
			mp.write(0, data, 10)
			for mp.advance(time.Minute) && len(mp.rx[1]) < len(data) {
			}
			if !bytes.Equal(mp.rx[1], data) {
				t.Fatalf("data mismatch: got %d of %d octets", len(mp.rx[1]), len(data))
			}
			if mp.m[0].stats.Retransmitted == 0 {
				t.Error("no retransmissions: the loss pattern did not bite")
			}
			check()
			if maxUnacked != p.kTx || (srej && maxHold == 0) {
				t.Errorf("at most %d outstanding and %d held entries: the transfer did not fill the window", maxUnacked, maxHold)
			}
			mp.settle()
			for i, m := range mp.m {
				if cap(m.unacked) > keepWindow || m.hold != nil {
					t.Errorf("side %d keeps window arrays of %d/%d entries after the transfer", i, cap(m.unacked), cap(m.hold))
				}
			}
		})
	}
}

// With T402 set, an in-sequence I frame is acknowledged by the next I
// frame we send, else by RR T402 after it arrived; at once when half the
// window waits for it, when the peer polls, and for a duplicate.
func TestMachineDelayedAck(t *testing.T) {
	const t402 = 10 * time.Millisecond
	m := newMachine(machineConfig{role: Originator, t401: time.Second, t402: t402, n400: 5,
		logf: func(format string, args ...any) { t.Logf(format, args...) }})
	m.paramsAgreed(defaultLinkParams()) // kRx 15: at once when 7 wait
	now := t0
	if err := m.establish(now); err != nil {
		t.Fatal(err)
	}
	m.flush(now)
	m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindUA, PF: true})
	peerI := func(ns uint8, pf bool) {
		t.Helper()
		m.recvFrame(now, Frame{Addr: Answerer.CommandAddr(), Kind: KindI, NS: ns, NR: m.vs, PF: pf, Info: []byte{ns}})
		m.consumed(now, len(m.takeRx()))
	}
	acks := func(fs []Frame) (n int, nr uint8, pf bool) {
		for _, f := range fs {
			if f.Kind == KindRR {
				n, nr, pf = n+1, f.NR, f.PF
			}
		}
		return n, nr, pf
	}

	peerI(0, false)
	if n, _, _ := acks(m.flush(now)); n != 0 {
		t.Fatal("RR sent at once with T402 set")
	}
	if got, want := m.deadline(), now.Add(t402); !got.Equal(want) {
		t.Fatalf("deadline %v, want T402 from the frame (%v)", got, want)
	}
	// Our I frame carries the acknowledgement: no RR afterwards.
	m.enqueue([]byte("echo"))
	out := m.flush(now)
	if n, _, _ := acks(out); n != 0 || countKind(out, KindI) != 1 || out[0].NR != 1 {
		t.Fatalf("want one I frame with N(R)=1 and no RR, got %v", out)
	}
	now = now.Add(t402)
	m.timeout(now)
	if n, _, _ := acks(m.flush(now)); n != 0 {
		t.Fatal("RR after the acknowledgement went with an I frame")
	}

	// Nothing to send: RR T402 after the frame, not before.
	peerI(1, false) // also acknowledges our I frame
	now = now.Add(t402 - time.Nanosecond)
	m.timeout(now)
	if n, _, _ := acks(m.flush(now)); n != 0 {
		t.Fatal("RR before T402")
	}
	now = now.Add(time.Nanosecond)
	m.timeout(now)
	if n, nr, _ := acks(m.flush(now)); n != 1 || nr != 2 {
		t.Fatalf("at T402: %d RR (N(R)=%d), want one with N(R)=2", n, nr)
	}

	// Half the window (7 of 15) waiting: RR at once, one for the seven.
	for ns := uint8(2); ns < 9; ns++ {
		peerI(ns, false)
		n, nr, _ := acks(m.flush(now))
		if ns < 8 && n != 0 || ns == 8 && (n != 1 || nr != 9) {
			t.Fatalf("after N(S)=%d: %d RR (N(R)=%d)", ns, n, nr)
		}
	}
	// A poll and a duplicate are answered at once.
	peerI(9, true)
	if n, nr, pf := acks(m.flush(now)); n != 1 || nr != 10 || !pf {
		t.Fatalf("poll: %d RR N(R)=%d F=%v, want RR F=1 N(R)=10", n, nr, pf)
	}
	peerI(3, false)
	if n, nr, _ := acks(m.flush(now)); n != 1 || nr != 10 {
		t.Fatalf("duplicate: %d RR N(R)=%d, want one with N(R)=10", n, nr)
	}
	if m.stats.Duplicates != 1 {
		t.Fatalf("duplicates %d, want 1", m.stats.Duplicates)
	}
}

// The interop DISC (TestInteropSpandsp we-are-answerer-noisy with T402):
// in the REJ condition the peer polls, and our RR F=1 answer makes it go
// back to N(R) and retransmit (V.42 §8.4.8). A REJ repeated by the REJ
// timer soon after asks for the same go-back a second time; spandsp 0.0.6
// obeys it (V(S) = N(R)) even though it has already retransmitted N(R),
// and then takes our acknowledgement of that retransmission for an N(R)
// beyond its V(S) and releases the link. So an answer to a poll restarts
// the REJ timer: the REJ is repeated only a full T401 after we last asked
// for the go-back, and then still (a lost retransmission).
func TestMachineNoREJRightAfterPollAnswer(t *testing.T) {
	m := soloConnected(t, defaultLinkParams(), 0)
	peerCmd := Answerer.CommandAddr()
	peerI := func(now time.Time, ns uint8) {
		m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindI, NS: ns, Info: []byte{ns}})
	}
	now := t0
	peerI(now, 0)
	peerI(now, 1)
	m.flush(now)
	// Frame 2 is lost; 3 and 4 arrive out of sequence: one REJ N(R)=2.
	now = now.Add(40 * time.Millisecond)
	peerI(now, 3)
	peerI(now, 4)
	if out := m.flush(now); countKind(out, KindREJ) != 1 || out[0].NR != 2 {
		t.Fatalf("after the gap: %v, want REJ N(R)=2", out)
	}
	// The REJ is lost; the peer's T401 (started by the acknowledgement of
	// frame 1, a little later than our REJ) expires and it polls.
	now = t0.Add(time.Second + 60*time.Millisecond)
	poll := now
	m.recvFrame(now, Frame{Addr: peerCmd, Kind: KindRR, PF: true})
	if out := m.flush(now); len(out) != 1 || out[0].Kind != KindRR || !out[0].PF || out[0].NR != 2 {
		t.Fatalf("answer to the poll: %v, want RR F=1 N(R)=2", out)
	}
	// The peer goes back and retransmits frame 2 (about a frame time
	// later): until then, and for T401 after the answer, no REJ.
	rejs := 0
	for d := m.deadline(); !d.IsZero() && d.Before(poll.Add(time.Second)); d = m.deadline() {
		now = d
		m.timeout(now)
		rejs += countKind(m.flush(now), KindREJ)
	}
	if rejs != 0 {
		t.Fatalf("%d REJ N(R)=2 within T401 of the poll answer (at +%v): the peer goes back twice", rejs, now.Sub(poll))
	}
	// The retransmission was lost as well: the REJ is repeated T401 after
	// the answer.
	now = m.deadline()
	if !now.Equal(poll.Add(time.Second)) {
		t.Fatalf("next deadline +%v after the poll answer, want T401", now.Sub(poll))
	}
	m.timeout(now)
	if out := m.flush(now); countKind(out, KindREJ) != 1 {
		t.Fatalf("T401 after the poll answer: %v, want REJ N(R)=2", out)
	}
	// The retransmission arrives: acknowledged at once, no more REJ.
	now = now.Add(40 * time.Millisecond)
	peerI(now, 2)
	if out := m.flush(now); len(out) != 1 || out[0].Kind != KindRR || out[0].NR != 3 {
		t.Fatalf("after the retransmission: %v, want RR N(R)=3", out)
	}
	if d := m.deadline(); !d.IsZero() && d.Before(now.Add(5*time.Second)) {
		t.Fatalf("a timer is still armed at +%v after recovery", d.Sub(now))
	}
}

// TestMachinePeerFRMRTextBounded: the error for a peer's FRMR shows its
// information field in hex, but at most the five octets the field has,
// however long the peer made it (the text reaches logs and call records).
func TestMachinePeerFRMRTextBounded(t *testing.T) {
	for _, n := range []int{5, 8 << 10} {
		mp := newPair(t, defaultLinkParams())
		mp.establish()
		info := bytes.Repeat([]byte{0xAB}, n)
		mp.m[1].recvFrame(mp.now, Frame{Addr: Originator.ResponseAddr(), Kind: KindFRMR, Info: info})
		if !errors.Is(mp.m[1].err, ErrFrameReject) {
			t.Fatalf("err %v, want ErrFrameReject", mp.m[1].err)
		}
		msg := mp.m[1].err.Error()
		if len(msg) > 200 || !strings.Contains(msg, "ab ab ab ab ab") {
			t.Errorf("FRMR of %d octets: error %.300q (%d characters)", n, msg, len(msg))
		}
	}
}

// An XID response's F bit is its command's P bit, for the first answer
// as for a repeated one (the first answer had F=1 always: a Python
// caller's trial).
func TestMachineXIDResponseFinalBit(t *testing.T) {
	for _, p := range []bool{false, true} {
		m := newMachine(machineConfig{role: Answerer, t401: time.Second, t403: 10 * time.Second, n400: 5})
		m.paramsAgreed(defaultLinkParams())
		cmd := Frame{Addr: Originator.CommandAddr(), Kind: KindXID, PF: p, Info: []byte("offer")}
		for round := range 2 { // the command, then its retransmission
			m.recvFrame(t0, cmd)
			for _, e := range m.takeEvents() {
				if e.kind == evXIDCommand {
					if err := m.respondXID([]byte("answer")); err != nil {
						t.Fatal(err)
					}
				}
			}
			out := m.flush(t0)
			if len(out) != 1 || out[0].Kind != KindXID {
				t.Fatalf("P=%v, round %d: sent %v, want one XID response", p, round, out)
			}
			if out[0].PF != p {
				t.Errorf("P=%v, round %d: response F=%v", p, round, out[0].PF)
			}
		}
	}
}
