package modem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestInterpDCD: &C1 shows the carrier only while a call is up (online or
// in command mode after an escape); &C0 always shows it (V.250 6.2.8).
func TestInterpDCD(t *testing.T) {
	m := newTestInterp(t, "ATS12=0")
	check := func(what string, want bool) {
		t.Helper()
		if got := m.DCD(); got != want {
			t.Errorf("%s (%v, &C%d): DCD %v, want %v", what, m.State(), m.Profile().DCD, got, want)
		}
	}
	check("power-on (&C1 factory)", false)
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	check("dialing", false)
	m.Connected(t0, ConnectInfo{})
	check("online", true)
	m.Tick(t0.Add(time.Second))
	m.FromDTE(t0.Add(2*time.Second), []byte("+++"))
	m.Tick(t0.Add(3 * time.Second))
	if m.State() != StateOnlineCommand {
		t.Fatalf("escape: state %v", m.State())
	}
	check("online command", true)
	m.FromDTE(t0.Add(3*time.Second), []byte("ATH\r"))
	check("after ATH", false)
	m.Incoming(t0)
	check("ringing", false)
	m.FromDTE(t0, []byte("ATA\r"))
	check("answering", false)
	m.Connected(t0, ConnectInfo{})
	check("answered", true)
	m.CarrierLost(t0, "")
	check("carrier lost", false)
	m.FromDTE(t0, []byte("AT&C0\r"))
	check("&C0 on hook", true)
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	check("&C0 dialing", true)
	m.DialFailed(t0, ReasonBusy, "")
	check("&C0 after a failed call", true)
	m.FromDTE(t0, []byte("ATZ\r")) // the stored profile is the factory one: &C1
	check("ATZ", false)
}

// carrierDTE is a DTE that records the DCD the modem drives.
type carrierDTE struct {
	net.Conn
	mu   sync.Mutex
	set  []bool
	fail error
	// sizes records the buffer size of every Read (input pacing).
	sizes []int
}

func (d *carrierDTE) SetCarrier(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = append(d.set, on)
	return d.fail
}

func (d *carrierDTE) Read(b []byte) (int, error) {
	d.mu.Lock()
	d.sizes = append(d.sizes, len(b))
	d.mu.Unlock()
	return d.Conn.Read(b)
}

func (d *carrierDTE) history() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(d.set)
}

// TestRunDrivesDCD: Run drives a DTE's DCD from the interpreter's
// decision, once at the start and on every change only.
func TestRunDrivesDCD(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	dte := &carrierDTE{Conn: ours}
	d := newFakeDialer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, dte, Options{Dialer: d, Interp: Config{DTERate: 9600}}) }()
	defer func() {
		cancel()
		<-done
		theirs.Close()
	}()
	h := &harness{dte: theirs, exp: newExpecter(theirs)}
	h.cmd(t, "ATE0", "OK\r\n")
	if got := dte.history(); got != "[false]" {
		t.Fatalf("on hook with &C1: DCD %s", got)
	}
	h.send(t, "ATDTbbs\r")
	remote := <-d.remotes
	h.exp.expect(t, "CONNECT 33600/LAPM\r\n")
	remote.Close()
	h.exp.expect(t, "NO CARRIER\r\n")
	h.cmd(t, "AT&C0", "OK\r\n")
	h.cmd(t, "AT&C0", "OK\r\n") // no change, nothing driven
	if got := dte.history(); got != "[false true false true]" {
		t.Fatalf("DCD history %s", got)
	}
}

// TestRunDCDUnsupported: a DTE whose device cannot drive DCD (a pty, an
// adapter without modem-control lines) is logged once and otherwise works.
func TestRunDCDUnsupported(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	dte := &carrierDTE{Conn: ours, fail: errors.New("test: inappropriate ioctl for device")}
	var log logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, dte, Options{Dialer: newFakeDialer(), Logger: &log}) }()
	h := &harness{dte: theirs, exp: newExpecter(theirs)}
	h.cmd(t, "ATE0&C0", "OK\r\n")
	h.cmd(t, "AT&C1", "OK\r\n")
	cancel()
	<-done
	theirs.Close()
	if n := log.count("cannot drive DCD"); n != 1 {
		t.Fatalf("logged %d times: %s", n, log.String())
	}
}

// TestRunPacesDTEInput: with PaceDTE the DTE is read at most one burst
// at a time (at 300 bit/s, one character), each read waiting for the
// simulated wire; the data arrives intact.
func TestRunPacesDTEInput(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	dte := &carrierDTE{Conn: ours}
	exp := newExpecter(theirs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, dte, Options{Dialer: newFakeDialer(), PaceDTE: true, Interp: Config{DTERate: 300}})
	}()
	if _, err := theirs.Write([]byte("ATE0\r")); err != nil {
		t.Fatal(err)
	}
	exp.expect(t, "ATE0\r\r\nOK\r\n")
	cancel()
	<-done
	theirs.Close()
	dte.mu.Lock()
	defer dte.mu.Unlock()
	for _, n := range dte.sizes {
		if n != 1 {
			t.Fatalf("read sizes %v, want one character at a time", dte.sizes)
		}
	}
}

// logBuffer is a Logger that keeps the lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
