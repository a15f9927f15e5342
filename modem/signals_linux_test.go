package modem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
)

// The tests of signals_test.go that need the Linux DTEs (dte_linux.go):
// a real pty and a serial port's termios and modem-control lines.

// TestPTYInbandXONXOFF: through a real pty (the DTE opens the terminal
// as a terminal program would), &K4 makes DC3 from the DTE hold the
// modem's output to it until DC1, and neither character reaches the
// line; with &K0 both are data and pass through.
func TestPTYInbandXONXOFF(t *testing.T) {
	testutil.CheckGoroutines(t)
	p, dte := openPTYTerminal(t)
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

// TestPTYXOFFThenTypingThenXON: a DTE that holds the output with DC3
// while the far end keeps sending, types or pastes meanwhile (Ctrl-C to
// stop a listing, a paste), then releases with DC1, gets the output
// again. Before, the modem froze for good: its loop waited to queue
// output for the held DTE, the reader waited for the loop with the
// typing, and the DC1 behind it was never read (nor a DTR drop). Input
// beyond the modem's buffer while held is dropped, and the log says so.
func TestPTYXOFFThenTypingThenXON(t *testing.T) {
	testutil.CheckGoroutines(t)
	h, dte, remote, logs := onlinePTY(t)
	defer dte.Close()
	defer remote.Close()
	h.send(t, "\x13")
	// The far end sends far more than the modem queues for the DTE: a
	// marker first, then a listing that fills every queue.
	go func() {
		if _, err := remote.Write([]byte("marker after XON ")); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("listing ", 1024))
		for range 256 { // 2 MiB
			if _, err := remote.Write(chunk); err != nil {
				return
			}
		}
	}()
	go io.Copy(io.Discard, remote) // what the DTE types reaches the line
	logs.wait(t, "XOFF from the DTE: output held")
	// Ctrl-C and a paste of 200 KiB while held: all of it is read.
	typed := make(chan error, 1)
	go func() {
		_, err := dte.Write([]byte("\x03" + strings.Repeat("x", 200<<10)))
		typed <- err
	}()
	select {
	case err := <-typed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the modem stopped reading the DTE while its output was held")
	}
	logs.wait(t, "dropping input")
	h.send(t, "\x11")
	h.exp.expect(t, "marker after XON listing listing")
}

// TestPTYPasteOnSlowLineIntact: a paste far larger than the modem's input
// buffer, onto a line that takes it slowly, arrives whole: without an
// XOFF from the DTE the reader waits for room (the pty holds the rest
// back from the terminal program) and drops nothing.
func TestPTYPasteOnSlowLineIntact(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, dte, remote, logs := onlinePTY(t)
	defer dte.Close()
	defer remote.Close()
	var paste strings.Builder
	for i := 0; paste.Len() < 3*maxDTEBacklog; i++ {
		fmt.Fprintf(&paste, "line %d of the paste\r", i)
	}
	go dte.Write([]byte(paste.String())) // blocks while the modem waits for room
	time.Sleep(300 * time.Millisecond)   // the line takes nothing yet
	got := make([]byte, paste.Len())
	if _, err := io.ReadFull(remote, got); err != nil {
		t.Fatalf("the line got %d octets: %v", len(got), err)
	}
	if string(got) != paste.String() {
		t.Error("the paste arrived altered")
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, l := range logs.lines {
		if strings.Contains(l, "dropping input") {
			t.Errorf("input dropped: %q", l)
		}
	}
}

// openPTYTerminal opens a pty and its terminal side, as a terminal program
// does (not as its controlling terminal).
func openPTYTerminal(t *testing.T) (*PTY, *os.File) {
	t.Helper()
	p, err := OpenPTY("")
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	dte, err := os.OpenFile(p.Path(), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	return p, dte
}

// onlinePTY starts the modem on a real pty whose terminal side is open in
// raw mode (as a terminal program sets it: DC1, DC3 and Ctrl-C reach the
// modem as octets), sets E0 &K4 and dials the fake dialer: it returns
// once CONNECT is read, with the DTE's end and the call's far end.
func onlinePTY(t *testing.T) (*harness, *os.File, net.Conn, *logRecorder) {
	t.Helper()
	p, dte := openPTYTerminal(t)
	tio, err := unix.IoctlGetTermios(int(dte.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG | unix.IEXTEN
	tio.Iflag &^= unix.IXON | unix.IXOFF | unix.ICRNL
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(dte.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{seen: make(chan string, 100)}
	d := newFakeDialer()
	h := startModemWith(t, p, dte, Options{Dialer: d, Logger: logs})
	h.cmd(t, "ATE0&K4", "OK\r\n")
	h.send(t, "ATDThost:1\r")
	remote := <-d.remotes
	h.exp.expect(t, "CONNECT")
	return h, dte, remote, logs
}
