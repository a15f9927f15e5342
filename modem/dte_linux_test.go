package modem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
)

func TestSerialTermios(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer master.Close()
	defer slave.Close()
	// The termios settings for each configuration (a pty ignores parity
	// and character size, so they are checked on the structure).
	for _, c := range []struct {
		cfg         SerialConfig
		cflag, iflg uint32
		speed       uint32
	}{
		{SerialConfig{Baud: 9600, Parity: "even", Flow: "rtscts"}, unix.CS8 | unix.PARENB | unix.CRTSCTS, unix.INPCK, unix.B9600},
		{SerialConfig{Baud: 2400, DataBits: 7, Parity: "odd", StopBits: 2}, unix.CS7 | unix.PARENB | unix.PARODD | unix.CSTOPB, unix.INPCK, unix.B2400},
		{SerialConfig{Baud: 115200, Flow: "xonxoff"}, unix.CS8, unix.IXON | unix.IXOFF, unix.B115200},
		{SerialConfig{Baud: 300, Parity: "none", Flow: "none"}, unix.CS8, 0, unix.B300},
	} {
		tio := unix.Termios{Lflag: unix.ICANON | unix.ECHO | unix.ISIG, Oflag: unix.OPOST, Iflag: unix.ICRNL, Cflag: unix.PARENB | unix.CS7}
		if err := serialTermios(&tio, c.cfg); err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		if tio.Cflag&^unix.CBAUD != c.cflag|unix.CREAD|unix.CLOCAL || tio.Iflag != c.iflg {
			t.Errorf("%+v: cflag %#o iflag %#o", c.cfg, tio.Cflag, tio.Iflag)
		}
		if tio.Cflag&unix.CBAUD != c.speed || tio.Ispeed != c.speed || tio.Ospeed != c.speed {
			t.Errorf("%+v: speed %#o, want %#o", c.cfg, tio.Cflag&unix.CBAUD, c.speed)
		}
		if tio.Lflag != 0 || tio.Oflag != 0 || tio.Cc[unix.VMIN] != 1 || tio.Cc[unix.VTIME] != 0 {
			t.Errorf("%+v: not raw: lflag %#o oflag %#o", c.cfg, tio.Lflag, tio.Oflag)
		}
	}
	// OpenSerial applies them to the device.
	f, err := OpenSerial(SerialConfig{Device: slave.Name(), Baud: 9600, Flow: "rtscts"})
	if err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(f.f.Fd()), unix.TCGETS)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tio.Cflag&unix.CBAUD != unix.B9600 || tio.Cflag&unix.CRTSCTS == 0 || tio.Lflag&(unix.ICANON|unix.ECHO) != 0 {
		t.Errorf("device termios: cflag %#o lflag %#o", tio.Cflag, tio.Lflag)
	}
	for _, bad := range []SerialConfig{
		{Baud: 1234}, {Baud: 9600, DataBits: 6}, {Baud: 9600, Parity: "mark"},
		{Baud: 9600, StopBits: 3}, {Baud: 9600, Flow: "dsrdtr"}, {Baud: 9600, DTR: "cts"},
	} {
		bad.Device = slave.Name()
		if f, err := OpenSerial(bad); !errors.Is(err, ErrSerialConfig) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := OpenSerial(SerialConfig{Device: filepath.Join(t.TempDir(), "none"), Baud: 9600}); err == nil {
		t.Error("missing device opened")
	}
	plain := filepath.Join(t.TempDir(), "file")
	os.WriteFile(plain, nil, 0o600)
	if _, err := OpenSerial(SerialConfig{Device: plain, Baud: 9600}); err == nil {
		t.Error("a plain file taken for a serial port")
	}
}

// TestPTYDTRDrop: the pty reports DTR drop once when the DTE closes it and
// works again when the DTE comes back; the link follows the pty.
func TestPTYDTRDrop(t *testing.T) {
	testutil.CheckGoroutines(t)
	link := filepath.Join(t.TempDir(), "ttyModem")
	p, err := OpenPTY(link)
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer p.Close()
	if target, err := os.Readlink(link); err != nil || target != p.Path() {
		t.Fatalf("link %q %v", target, err)
	}
	reads := make(chan error, 10)
	data := make(chan string, 10)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := p.Read(buf)
			if n > 0 {
				data <- string(buf[:n])
			}
			if err != nil {
				reads <- err
				if !errors.Is(err, ErrDTRDrop) {
					return
				}
			}
		}
	}()
	for round := range 2 {
		dte, err := os.OpenFile(link, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dte.Write([]byte("AT\r")); err != nil {
			t.Fatal(err)
		}
		if got := <-data; got != "AT\r" {
			t.Fatalf("round %d: read %q (raw mode?)", round, got)
		}
		if _, err := p.Write([]byte("OK")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if n, err := dte.Read(buf); err != nil || string(buf[:n]) != "OK" {
			t.Fatalf("DTE read %q %v", buf[:n], err)
		}
		dte.Close()
		select {
		case err := <-reads:
			if !errors.Is(err, ErrDTRDrop) {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no DTR drop")
		}
	}
	// Writes without a DTE are dropped, not blocked.
	if n, err := p.Write([]byte("nobody")); err != nil || n != 6 {
		t.Fatal(n, err)
	}
	p.Close()
	if err := <-reads; errors.Is(err, ErrDTRDrop) {
		t.Fatal("second DTR drop reported without a DTE")
	} else if err == nil {
		t.Fatal("read after close")
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link left behind: %v", err)
	}
	// A regular file where the link should go is not replaced.
	os.WriteFile(link, []byte("precious"), 0o600)
	if p2, err := OpenPTY(link); err == nil {
		p2.Close()
		t.Fatal("a regular file was replaced by the link")
	}
}

// TestSerialDTRLine: with a DTR line configured, the serial DTE reports
// ErrDTRDrop once when the line falls after having been up, and reads
// data as usual (the status lines are injected: a pty has none).
func TestSerialDTRLine(t *testing.T) {
	testutil.CheckGoroutines(t)
	master, slave, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer master.Close()
	defer slave.Close()
	s, err := OpenSerial(SerialConfig{Device: slave.Name(), Baud: 9600, DTR: "dsr"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	status := unix.TIOCM_DSR
	s.stat = func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return status, nil
	}
	type result struct {
		data string
		err  error
	}
	reads := make(chan result)
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := s.Read(buf)
			reads <- result{string(buf[:n]), err}
			if err != nil && !errors.Is(err, ErrDTRDrop) {
				return
			}
		}
	}()
	if _, err := master.Write([]byte("ATZ\r")); err != nil {
		t.Fatal(err)
	}
	if r := <-reads; r.data != "ATZ\r" || r.err != nil {
		t.Fatalf("read %+v", r)
	}
	mu.Lock()
	status = 0
	mu.Unlock()
	if r := <-reads; !errors.Is(r.err, ErrDTRDrop) {
		t.Fatalf("after DSR fell: %+v", r)
	}
	// Up again, then data.
	mu.Lock()
	status = unix.TIOCM_DSR | unix.TIOCM_CTS
	mu.Unlock()
	if _, err := master.Write([]byte("AT\r")); err != nil {
		t.Fatal(err)
	}
	if r := <-reads; r.data != "AT\r" || r.err != nil {
		t.Fatalf("read %+v", r)
	}
	s.Close()
	if r := <-reads; r.err == nil || errors.Is(r.err, ErrDTRDrop) {
		t.Fatalf("after close: %+v", r)
	}
}

// TestSerialDCD: SetCarrier raises and lowers the configured output with
// TIOCMBIS/TIOCMBIC (injected: a pty has no modem-control lines, and the
// real ioctl on one fails, which SetCarrier reports); without a DCD line
// it does nothing; bad DCD settings are refused.
func TestSerialDCD(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	defer master.Close()
	defer slave.Close()
	type call struct {
		req uint
		bit int
	}
	for _, c := range []struct {
		dcd string
		bit int
	}{{"dtr", unix.TIOCM_DTR}, {"rts", unix.TIOCM_RTS}, {"none", 0}, {"", 0}} {
		s, err := OpenSerial(SerialConfig{Device: slave.Name(), Baud: 9600, DCD: c.dcd})
		if err != nil {
			t.Fatalf("%q: %v", c.dcd, err)
		}
		if c.bit != 0 {
			// The real ioctl: a pty cannot drive DCD, and says so.
			if err := s.SetCarrier(true); err == nil {
				t.Logf("%q: this kernel's pty accepted TIOCMBIS", c.dcd)
			} else if !strings.HasPrefix(err.Error(), "modem: serial ") {
				t.Errorf("%q: error %v", c.dcd, err)
			}
		}
		var calls []call
		s.setBit = func(req uint, bit int) error {
			calls = append(calls, call{req, bit})
			return nil
		}
		if err := s.SetCarrier(true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCarrier(false); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var want []call
		if c.bit != 0 {
			want = []call{{unix.TIOCMBIS, c.bit}, {unix.TIOCMBIC, c.bit}}
		}
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Errorf("%q: ioctls %v, want %v", c.dcd, calls, want)
		}
	}
	for _, bad := range []SerialConfig{{Baud: 9600, DCD: "cts"}, {Baud: 9600, DCD: "rts", Flow: "rtscts"}} {
		bad.Device = slave.Name()
		if s, err := OpenSerial(bad); !errors.Is(err, ErrSerialConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestPTYReadEmptyBuffer: a Read into an empty buffer returns at once
// (it used to spin until the DTE typed), with or without a DTE.
func TestPTYReadEmptyBuffer(t *testing.T) {
	p, err := OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Read(nil): %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read(nil) did not return")
	}
}

// TestPTYDTRDropBehindFullInput: the DTE pastes into a call whose remote
// takes nothing until every buffer is full (the line's queue, the
// modem's input buffer, the pty's), then closes the terminal: the modem
// hears the DTR drop all the same and hangs up. Review: readDTE waited
// for room without reading, and Read is where a pty tells the drop.
func TestPTYDTRDropBehindFullInput(t *testing.T) {
	testutil.CheckGoroutines(t)
	p, err := OpenPTY("")
	if err != nil {
		testutil.Missing(t, "no pseudo-terminal: "+err.Error())
	}
	d := newFakeDialer()
	logs := &logLines{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, p, Options{Dialer: d, Logger: logs}) }()
	defer func() { cancel(); <-done }()
	term, err := os.OpenFile(p.Path(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	exp := newExpecter(term)
	if _, err := term.Write([]byte("ATE0DThost:1\r")); err != nil {
		t.Fatal(err)
	}
	remote := <-d.remotes
	defer remote.Close()
	exp.expect(t, "CONNECT")
	// Paste until the pty takes no more (the terminal's write would
	// block), through a second, non-blocking descriptor of the terminal.
	wfd, err := unix.Open(p.Path(), unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Commands, as text a modem would run if it took them for the next
	// DTE's (review: it did, and reported the one close eight times).
	chunk := bytes.Repeat([]byte("ATS7=77\r"), 512)
	total := 0
	for deadline := time.Now().Add(20 * time.Second); ; {
		n, err := unix.Write(wfd, chunk)
		total += max(n, 0)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(50 * time.Millisecond)
			if n, err = unix.Write(wfd, chunk); errors.Is(err, unix.EAGAIN) {
				break
			}
			total += max(n, 0)
		} else if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pty took %d octets and still takes more", total)
		}
	}
	// The DTE goes: DTR drop (&D2: hang up).
	unix.Close(wfd)
	term.Close()
	// The remote reads nothing meanwhile: only the drop can end the
	// call, then its first read finds it gone.
	time.Sleep(2 * time.Second)
	_ = remote.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := remote.Read(make([]byte, 512)); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("2 s after the DTR drop (%d octets pasted) the call is up: read %d, %v", total, n, err)
	}
	// The next DTE finds the factory S7, and one drop was reported.
	next, err := os.OpenFile(p.Path(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	nexp := newExpecter(next)
	if _, err := next.Write([]byte("ATS7?\r")); err != nil {
		t.Fatal(err)
	}
	nexp.expect(t, "050")
	logs.mu.Lock()
	drops := 0
	for _, l := range logs.lines {
		if strings.Contains(l, "DTE dropped DTR") {
			drops++
		}
	}
	logs.mu.Unlock()
	if drops != 1 {
		t.Errorf("one close reported as %d DTR drops", drops)
	}
}
