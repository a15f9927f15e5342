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
