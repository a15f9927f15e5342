package modem

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
)

// Tests of the circuits and flow control the modem shows the DTE: &S
// (DSR), RI while ringing, &K (flow control: in band on a pty, termios on
// a serial port).

// TestInterpDSRAndFlow: &S1 shows DSR while a call is in progress, &S0
// always; &K selects the flow control; both are in &V, saved by &W and
// restored by Z, reset by &F; out-of-range values are ERROR.
func TestInterpDSRAndFlow(t *testing.T) {
	m := newTestInterp(t, "")
	if !m.DSR() || m.Flow() != (Flow{}) {
		t.Fatalf("factory: DSR %v flow %v", m.DSR(), m.Flow())
	}
	m.FromDTE(t0, []byte("AT&S1&K4\r"))
	if m.DSR() || m.Flow() != (Flow{XONXOFF: true}) {
		t.Fatalf("&S1&K4 on hook: DSR %v flow %v", m.DSR(), m.Flow())
	}
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	if !m.DSR() {
		t.Error("&S1 dialing: DSR off")
	}
	m.Connected(t0, ConnectInfo{})
	if !m.DSR() {
		t.Error("&S1 online: DSR off")
	}
	m.CarrierLost(t0, "")
	if m.DSR() {
		t.Error("&S1 after the call: DSR on")
	}
	for k, want := range []Flow{{}, {}, {}, {RTSCTS: true}, {XONXOFF: true}, {XONXOFF: true}, {RTSCTS: true, XONXOFF: true}} {
		out := m.FromDTE(t0, fmt.Appendf(nil, "AT&K%d\r", k))
		if !bytes.HasSuffix(out.DTE, []byte("OK\r\n")) || m.Flow() != want {
			t.Errorf("&K%d: %q, flow %v, want %v", k, out.DTE, m.Flow(), want)
		}
	}
	for _, bad := range []string{"AT&K7\r", "AT&S2\r"} {
		if out := m.FromDTE(t0, []byte(bad)); !bytes.Contains(out.DTE, []byte("ERROR")) {
			t.Errorf("%q: %q", bad, out.DTE)
		}
	}
	m.FromDTE(t0, []byte("AT&K4&S1&W\r"))
	out := m.FromDTE(t0, []byte("AT&V\r"))
	if !bytes.Contains(out.DTE, []byte("&C1 &D2 &K4 &S1")) {
		t.Errorf("&V: %q", out.DTE)
	}
	m.FromDTE(t0, []byte("AT&F\r"))
	if m.Flow() != (Flow{}) || !m.DSR() {
		t.Error("&F did not restore &K0 &S0")
	}
	m.FromDTE(t0, []byte("ATZ\r"))
	if m.Flow() != (Flow{XONXOFF: true}) || m.DSR() {
		t.Error("Z did not restore the stored &K4 &S1")
	}

	// The profile file keeps them.
	path := filepath.Join(t.TempDir(), "profile.toml")
	if err := SaveProfile(path, m.Profile()); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProfile(path)
	if err != nil || p.Flow != 4 || p.DSR != 1 {
		t.Fatalf("loaded %+v %v", p, err)
	}
	os.WriteFile(path, []byte("flow = 9\n"), 0o600)
	if _, err := LoadProfile(path); !errors.Is(err, ErrProfile) {
		t.Errorf("flow 9: %v", err)
	}
}

// signalDTE is a DTE that records the circuits and flow control Run sets.
type signalDTE struct {
	net.Conn
	mu     sync.Mutex
	events []string
	added  chan struct{}
}

func newSignalDTE(c net.Conn) *signalDTE {
	return &signalDTE{Conn: c, added: make(chan struct{}, 100)}
}

func (d *signalDTE) record(e string) error {
	d.mu.Lock()
	d.events = append(d.events, e)
	d.mu.Unlock()
	d.added <- struct{}{}
	return nil
}

func (d *signalDTE) SetDSR(on bool) error  { return d.record(fmt.Sprintf("DSR %v", on)) }
func (d *signalDTE) SetRing(on bool) error { return d.record(fmt.Sprintf("RI %v", on)) }
func (d *signalDTE) SetFlow(f Flow) error  { return d.record("flow " + f.String()) }

// waitEvents waits until the DTE has recorded want (in that order, after
// what it had already recorded when skip events were seen).
func (d *signalDTE) waitEvents(t *testing.T, skip int, want ...string) int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		d.mu.Lock()
		got := append([]string(nil), d.events[min(skip, len(d.events)):]...)
		d.mu.Unlock()
		if len(got) >= len(want) {
			if strings.Join(got[:len(want)], "|") != strings.Join(want, "|") {
				t.Fatalf("DTE saw %q, want %q", got, want)
			}
			return skip + len(want)
		}
		select {
		case <-d.added:
		case <-deadline:
			t.Fatalf("DTE saw %q, want %q", got, want)
		}
	}
}

// TestRunDrivesDSRRingFlow: Run shows DSR per &S, RI on for RingOn at
// each RING of an incoming call, and hands &K to a DTE whose device does
// the flow control, each once per change and once at the start.
func TestRunDrivesDSRRingFlow(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	dte := newSignalDTE(ours)
	a := &fakeAnswerer{calls: make(chan *fakeIncoming), closed: make(chan struct{})}
	h := startModemWith(t, dte, theirs, Options{Dialer: newFakeDialer(), Answerer: a})
	n := dte.waitEvents(t, 0, "DSR true", "RI false", "flow none")
	h.cmd(t, "ATE0&S1&K3", "OK\r\n")
	n = dte.waitEvents(t, n, "DSR false", "flow RTS/CTS")
	h.cmd(t, "AT&K4", "OK\r\n")
	n = dte.waitEvents(t, n, "flow XON/XOFF")

	// An incoming call: RI on with the RING, off RingOn later; ATA
	// answers and DSR comes on with the call.
	ourEnd, remote := net.Pipe()
	defer remote.Close()
	a.calls <- &fakeIncoming{conn: ourEnd}
	h.exp.expect(t, "RING\r\n")
	n = dte.waitEvents(t, n, "RI true", "RI false")
	h.cmd(t, "ATA", "CONNECT 9600\r\n")
	dte.waitEvents(t, n, "DSR true")
}

// TestPTYInbandXONXOFF: through a real pty (the DTE opens the terminal
// as a terminal program would), &K4 makes DC3 from the DTE hold the
// modem's output to it until DC1, and neither character reaches the
// line; with &K0 both are data and pass through.
func TestPTYInbandXONXOFF(t *testing.T) {
	testutil.CheckGoroutines(t)
	p, err := OpenPTY("")
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	dte, err := os.OpenFile(p.Path(), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	defer dte.Close()
	logs := &logRecorder{seen: make(chan string, 100)}
	d := newFakeDialer()
	h := startModemWith(t, p, dte, Options{Dialer: d, Logger: logs})
	h.cmd(t, "ATE0S12=5", "OK\r\n")

	// &K0: DC1 and DC3 are data.
	h.send(t, "ATDThost:1\r")
	remote := <-d.remotes
	rexp := newExpecter(remote)
	h.exp.expect(t, "CONNECT")
	h.send(t, "a\x13b\x11c")
	rexp.expect(t, "a\x13b\x11c")
	h.escape(t, 100*time.Millisecond)
	h.cmd(t, "ATH", "OK\r\n")
	remote.Close()

	// &K4: they are flow control.
	h.cmd(t, "AT&K4", "OK\r\n")
	h.send(t, "ATDThost:1\r")
	remote = <-d.remotes
	defer remote.Close()
	rexp = newExpecter(remote)
	h.exp.expect(t, "CONNECT")
	h.send(t, "a\x13b")
	rexp.expect(t, "ab")
	if _, err := remote.Write([]byte("held until XON")); err != nil {
		t.Fatal(err)
	}
	// The writer logs before it waits, instead of writing.
	logs.wait(t, "XOFF from the DTE: output held")
	if strings.Contains(h.exp.All(), "held until XON") {
		t.Fatal("the DTE received output after its XOFF")
	}
	h.send(t, "\x11c")
	h.exp.expect(t, "held until XON")
	rexp.expect(t, "c")
	// The line never saw DC1/DC3: what follows "ab" is exactly "c".
	if got := rexp.All(); got != "abc" {
		t.Errorf("line received %q", got)
	}
}

// logRecorder is a Logger whose lines tests can wait for.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	seen  chan string
}

func (l *logRecorder) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	select {
	case l.seen <- s:
	default:
	}
}

func (l *logRecorder) wait(t *testing.T, substr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.Contains(s, substr) {
				l.mu.Unlock()
				return
			}
		}
		lines := append([]string(nil), l.lines...)
		l.mu.Unlock()
		select {
		case <-l.seen:
		case <-deadline:
			t.Fatalf("no log line with %q: %q", substr, lines)
		}
	}
}

// TestSerialCircuitsAndFlow: a serial DTE drives DSR and RI on the
// outputs configured for them and sets &K in its termios; one output
// cannot carry two circuits, nor RTS a circuit under RTS/CTS.
func TestSerialCircuitsAndFlow(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer master.Close()
	defer slave.Close()
	s, err := OpenSerial(SerialConfig{Device: slave.Name(), Baud: 9600, DCD: "dtr", RI: "rts"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var calls []string
	s.setBit = func(req uint, bit int) error {
		op := map[uint]string{unix.TIOCMBIS: "set", unix.TIOCMBIC: "clear"}[req]
		calls = append(calls, fmt.Sprintf("%s %#x", op, bit))
		return nil
	}
	s.SetRing(true)
	s.SetRing(false)
	s.SetDSR(true) // no output carries DSR: nothing happens
	if want := fmt.Sprintf("[set %#x clear %#x]", unix.TIOCM_RTS, unix.TIOCM_RTS); fmt.Sprint(calls) != want {
		t.Errorf("ioctls %v, want %s", calls, want)
	}
	termios := func() *unix.Termios {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio
	}
	if err := s.SetFlow(Flow{XONXOFF: true}); err != nil {
		t.Fatal(err)
	}
	if tio := termios(); tio.Iflag&(unix.IXON|unix.IXOFF) != unix.IXON|unix.IXOFF || tio.Cflag&unix.CRTSCTS != 0 {
		t.Errorf("XON/XOFF: iflag %#o cflag %#o", tio.Iflag, tio.Cflag)
	}
	if err := s.SetFlow(Flow{RTSCTS: true}); err == nil {
		t.Error("RTS/CTS accepted while RTS carries RI")
	}
	if err := s.SetFlow(Flow{}); err != nil {
		t.Fatal(err)
	}
	if tio := termios(); tio.Iflag&(unix.IXON|unix.IXOFF) != 0 || tio.Cflag&unix.CRTSCTS != 0 {
		t.Errorf("none: iflag %#o cflag %#o", tio.Iflag, tio.Cflag)
	}

	s2, err := OpenSerial(SerialConfig{Device: slave.Name(), Baud: 9600, DSR: "dtr"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.SetFlow(Flow{RTSCTS: true}); err != nil {
		t.Fatal(err)
	}
	if tio := termios(); tio.Cflag&unix.CRTSCTS == 0 {
		t.Errorf("RTS/CTS: cflag %#o", tio.Cflag)
	}
	s2.Close()

	for _, bad := range []SerialConfig{
		{DCD: "dtr", DSR: "dtr"}, {DSR: "rts", RI: "rts"}, {RI: "rts", Flow: "rtscts"}, {DSR: "cts"}, {RI: "ri"},
	} {
		bad.Device, bad.Baud = slave.Name(), 9600
		if s, err := OpenSerial(bad); !errors.Is(err, ErrSerialConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
