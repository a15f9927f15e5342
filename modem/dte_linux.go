package modem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// PTY is a pseudo-terminal DTE: the retro machine's emulator or a terminal
// program opens Path (or the stable symlink) as its serial port. When every
// process has closed the terminal, Read reports ErrDTRDrop once and then
// waits for the next open.
//
// The master side is non-blocking and waited on with poll(2) by Read and
// Write themselves, each wait at most ptyPoll: a Write waiting for a DTE
// that stopped reading gives up when the DTE drops DTR (a blocking
// write(2) could not be interrupted, and the modem would never act on the
// drop). As a modem under &D2 does, the output pending for the DTE that
// went is discarded, in our hands and in the kernel's, and never reaches
// the next DTE that opens the terminal.
type PTY struct {
	master *os.File
	raw    syscall.RawConn // master's descriptor, held while in use
	path   string
	link   string

	mu      sync.Mutex
	dropped bool // no DTE attached (true until the first open)
	// wmu is held by Write while it writes, and by Read while it flushes
	// the output of a DTE that has gone, so that no write lands after
	// the flush.
	wmu    sync.Mutex
	closed chan struct{}
	once   sync.Once
}

// ptyPoll is how often a PTY without a DTE looks for the next open, and
// the longest a Read or Write waits in poll(2) before it looks again at
// DTR and Close.
const ptyPoll = 50 * time.Millisecond

// OpenPTY creates a pty in raw mode. A non-empty link names a symlink to
// the terminal's path, replaced if it exists (a regular file there is an
// error).
func OpenPTY(link string) (*PTY, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("modem: pty: %w", err)
	}
	if _, err := term.MakeRaw(int(slave.Fd())); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("modem: pty raw mode: %w", err)
	}
	// Keep no descriptor of our own to the terminal, so that the DTE
	// closing it is seen as DTR drop.
	slave.Close()
	raw, err := master.SyscallConn()
	if err == nil {
		err = unix.SetNonblock(int(master.Fd()), true)
	}
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("modem: pty: %w", err)
	}
	p := &PTY{master: master, raw: raw, path: slave.Name(), dropped: true, closed: make(chan struct{})}
	if link != "" {
		if st, err := os.Lstat(link); err == nil && st.Mode()&fs.ModeSymlink == 0 {
			master.Close()
			return nil, fmt.Errorf("modem: pty link %s exists and is not a symlink", link)
		}
		_ = os.Remove(link)
		if err := os.Symlink(p.path, link); err != nil {
			master.Close()
			return nil, fmt.Errorf("modem: pty link: %w", err)
		}
		p.link = link
	}
	return p, nil
}

// Path is the terminal device the DTE opens (/dev/pts/N).
func (p *PTY) Path() string { return p.path }

// io waits up to ptyPoll for the master to be ready for events (POLLIN
// or POLLOUT), then reads or writes b once. It returns 0, EAGAIN when
// the wait ended without that.
func (p *PTY) io(events int16, b []byte) (int, error) {
	n, ioErr := 0, error(syscall.EAGAIN)
	err := p.raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		k, err := unix.Poll(fds, int(ptyPoll/time.Millisecond))
		if err != nil || k == 0 {
			return // EINTR or the time is up: look again
		}
		if events == unix.POLLIN {
			n, ioErr = unix.Read(int(fd), b)
		} else {
			n, ioErr = unix.Write(int(fd), b)
		}
		n = max(n, 0)
	})
	if err != nil {
		return 0, err // closed
	}
	return n, ioErr
}

// Read implements io.Reader with DTR-drop reporting (see ErrDTRDrop).
func (p *PTY) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		select {
		case <-p.closed:
			return 0, fmt.Errorf("modem: pty: %w", os.ErrClosed)
		default:
		}
		n, err := p.io(unix.POLLIN, b)
		if n > 0 {
			p.mu.Lock()
			p.dropped = false
			p.mu.Unlock()
			return n, nil
		}
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR), err == nil:
			continue
		case !errors.Is(err, syscall.EIO):
			return 0, fmt.Errorf("modem: pty: %w", err)
		}
		if p.drop() {
			return 0, fmt.Errorf("modem: pty %s closed: %w (%w)", p.path, ErrDTRDrop, ErrDTEClosed)
		}
		t := time.NewTimer(ptyPoll)
		select {
		case <-t.C:
		case <-p.closed:
			t.Stop()
			return 0, fmt.Errorf("modem: pty: %w", os.ErrClosed)
		}
	}
}

// drop records that the DTE has gone and reports whether it was there
// until now. A Write waiting for the DTE to read gives up (within
// ptyPoll), and what the kernel still holds for the DTE is flushed.
func (p *PTY) drop() bool {
	p.mu.Lock()
	first := !p.dropped
	p.dropped = true
	p.mu.Unlock()
	if !first {
		return false
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.flushTerminal()
	return true
}

// DTRDropped reports, without reading, whether the DTE has closed the
// terminal since the last look (POLLHUP on the master), and records the
// drop as Read does: readDTE asks while it holds the DTE's input back
// (the line is slow), when Read, which sees the drop, does not run. A
// pty's DTE that drops DTR has closed it (closed).
func (p *PTY) DTRDropped() (dropped, closed bool) {
	hup := false
	_ = p.raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if k, err := unix.Poll(fds, 0); err == nil && k > 0 && fds[0].Revents&unix.POLLHUP != 0 {
			hup = true
		}
	})
	if !hup || !p.drop() {
		return false, true
	}
	// What the DTE that went had typed and the modem had not read goes
	// with it: read later, it would count as a new DTE's (and be run as
	// commands), and each read of it would end the drop, to be reported
	// again (review: one close made eight drops).
	_ = p.raw.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH) })
	return true, true
}

// flushTerminal discards what the kernel holds for the DTE: the output
// written to the master and not yet read, which the terminal's line
// discipline has taken in (its read buffer, kept while nobody has the
// terminal open). Only a TCIFLUSH on the terminal itself reaches it; a
// TCOFLUSH on the master does not (on current Linux the master's side
// holds nothing by then). The terminal is open here only for that ioctl;
// Read does not run meanwhile, so the short open is not taken for a DTE.
func (p *PTY) flushTerminal() {
	fd, err := unix.Open(p.path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	_ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
	unix.Close(fd)
}

func (p *PTY) isDropped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Write implements io.Writer. With no DTE attached the bytes are dropped;
// a Write waiting for the DTE to read ends when the DTE drops DTR, and the
// rest of b is dropped.
func (p *PTY) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	done := 0
	for done < len(b) {
		if p.isDropped() {
			return len(b), nil
		}
		n, err := p.io(unix.POLLOUT, b[done:])
		done += n
		switch {
		case err == nil, errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EIO):
			// The DTE went away (before Read saw it).
			return len(b), nil
		default:
			return done, fmt.Errorf("modem: pty: %w", err)
		}
	}
	return done, nil
}

// Close removes the symlink and closes the pty. It is idempotent.
func (p *PTY) Close() error {
	var err error
	p.once.Do(func() {
		close(p.closed)
		if p.link != "" {
			if target, e := os.Readlink(p.link); e == nil && target == p.path {
				_ = os.Remove(p.link)
			}
		}
		err = p.master.Close()
	})
	return err
}

// SerialConfig describes a serial port DTE.
type SerialConfig struct {
	Device   string
	Baud     int    // bit/s
	DataBits int    // 7 or 8 (0 means 8)
	Parity   string // "none" (or ""), "even", "odd"
	StopBits int    // 1 or 2 (0 means 1)
	Flow     string // "none" (or ""), "rtscts", "xonxoff"
	// DTR names the modem-status input that carries the DTE's DTR through
	// the cable: "dsr" (null-modem wiring), "dcd", or "none" (or "") to
	// ignore it. When it falls, Read reports ErrDTRDrop.
	DTR string
	// DCD names the output that carries our DCD (circuit 109, driven per
	// &C) to the DTE: "dtr" (null-modem wiring: our DTR reaches the DTE's
	// DCD and DSR), "rts", or "none" (or "") to drive nothing.
	DCD string
	// DSR and RI name the outputs that carry our DSR (circuit 107, per
	// &S) and Ring Indicator (circuit 125, on for each RING), the same
	// way. A serial port has two outputs, DTR and RTS: each carries at
	// most one circuit, and RTS none with RTS/CTS flow control.
	DSR string
	RI  string
}

// Errors from OpenSerial.
var ErrSerialConfig = errors.New("modem: bad serial configuration")

var baudRates = map[int]uint32{
	300: unix.B300, 600: unix.B600, 1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800,
	9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800, 921600: unix.B921600,
}

// serialTermios sets t to raw mode with the configuration's framing, speed
// and flow control.
func serialTermios(t *unix.Termios, c SerialConfig) error {
	speed, ok := baudRates[c.Baud]
	if !ok {
		return fmt.Errorf("%w: unsupported baud rate %d", ErrSerialConfig, c.Baud)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
	t.Cflag |= unix.CREAD | unix.CLOCAL | speed
	t.Ispeed, t.Ospeed = speed, speed
	switch c.DataBits {
	case 0, 8:
		t.Cflag |= unix.CS8
	case 7:
		t.Cflag |= unix.CS7
	default:
		return fmt.Errorf("%w: data bits must be 7 or 8", ErrSerialConfig)
	}
	switch c.Parity {
	case "", "none":
	case "even":
		t.Cflag |= unix.PARENB
		t.Iflag |= unix.INPCK
	case "odd":
		t.Cflag |= unix.PARENB | unix.PARODD
		t.Iflag |= unix.INPCK
	default:
		return fmt.Errorf("%w: parity must be none, even or odd", ErrSerialConfig)
	}
	switch c.StopBits {
	case 0, 1:
	case 2:
		t.Cflag |= unix.CSTOPB
	default:
		return fmt.Errorf("%w: stop bits must be 1 or 2", ErrSerialConfig)
	}
	switch c.Flow {
	case "", "none":
	case "rtscts":
		t.Cflag |= unix.CRTSCTS
	case "xonxoff":
		t.Iflag |= unix.IXON | unix.IXOFF
	default:
		return fmt.Errorf("%w: flow control must be none, rtscts or xonxoff", ErrSerialConfig)
	}
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return nil
}

// serialPoll is how often a serial DTE with a DTR line checks it.
const serialPoll = 100 * time.Millisecond

// Serial is a serial-port DTE.
type Serial struct {
	f    *os.File
	mask int                 // TIOCM_DSR or TIOCM_CAR; 0 when DTR is not watched
	stat func() (int, error) // modem status lines (TIOCMGET)
	high bool                // the DTR line was seen up
	seen bool                // the line's state was read once

	dcdBit int                           // TIOCM_DTR or TIOCM_RTS; 0 when DCD is not driven
	dsrBit int                           // the same for DSR
	riBit  int                           // the same for RI
	setBit func(req uint, bit int) error // TIOCMBIS or TIOCMBIC on the device

	// The termios flow control in force (&K changes it).
	getTermios func() (*unix.Termios, error)
	setTermios func(*unix.Termios) error
}

// outputBit maps an output name of SerialConfig to its TIOCM bit.
func outputBit(circuit, name string) (int, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "dtr":
		return unix.TIOCM_DTR, nil
	case "rts":
		return unix.TIOCM_RTS, nil
	}
	return 0, fmt.Errorf("%w: %s line must be dtr, rts or none", ErrSerialConfig, circuit)
}

// OpenSerial opens and configures a serial device as the DTE.
func OpenSerial(c SerialConfig) (*Serial, error) {
	var mask int
	switch c.DTR {
	case "", "none":
	case "dsr":
		mask = unix.TIOCM_DSR
	case "dcd":
		mask = unix.TIOCM_CAR
	default:
		return nil, fmt.Errorf("%w: DTR line must be dsr, dcd or none", ErrSerialConfig)
	}
	var dcdBit, dsrBit, riBit int
	used := 0
	for _, o := range []struct {
		circuit, name string
		bit           *int
	}{{"DCD", c.DCD, &dcdBit}, {"DSR", c.DSR, &dsrBit}, {"RI", c.RI, &riBit}} {
		b, err := outputBit(o.circuit, o.name)
		if err != nil {
			return nil, err
		}
		if b == unix.TIOCM_RTS && c.Flow == "rtscts" {
			return nil, fmt.Errorf("%w: RTS cannot carry %s with RTS/CTS flow control", ErrSerialConfig, o.circuit)
		}
		if b != 0 && used&b != 0 {
			return nil, fmt.Errorf("%w: %s cannot carry two circuits (%s)", ErrSerialConfig, strings.ToUpper(o.name), o.circuit)
		}
		used |= b
		*o.bit = b
	}
	fd, err := unix.Open(c.Device, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("modem: serial %s: %w", c.Device, err)
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("modem: serial %s is not a terminal: %w", c.Device, err)
	}
	if err := serialTermios(t, c); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("modem: serial %s: %w", c.Device, err)
	}
	// A non-blocking descriptor makes the file pollable, so Close
	// interrupts a pending Read and read deadlines work.
	s := &Serial{f: os.NewFile(uintptr(fd), c.Device), mask: mask}
	s.stat = func() (int, error) { return unix.IoctlGetInt(fd, unix.TIOCMGET) }
	s.dcdBit, s.dsrBit, s.riBit = dcdBit, dsrBit, riBit
	s.setBit = func(req uint, bit int) error { return unix.IoctlSetPointerInt(fd, req, bit) }
	s.getTermios = func() (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS) }
	// TCSETS, not TCSETSW: TCSETSW waits until written output has gone,
	// which with CTS low (&K3) or output held by XOFF could block the
	// modem's event loop for ever (and SIGTERM with it). The cost: octets
	// still in the UART's buffer go out under the new setting.
	s.setTermios = func(t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TCSETS, t) }
	return s, nil
}

// setOutput raises (TIOCMBIS) or lowers (TIOCMBIC) one output; bit 0
// does nothing.
func (s *Serial) setOutput(circuit string, bit int, on bool) error {
	if bit == 0 {
		return nil
	}
	req := uint(unix.TIOCMBIC)
	if on {
		req = unix.TIOCMBIS
	}
	if err := s.setBit(req, bit); err != nil {
		return fmt.Errorf("modem: serial %s: setting %s: %w", s.f.Name(), circuit, err)
	}
	return nil
}

// SetDSR implements DSRSetter on the output configured to carry DSR.
func (s *Serial) SetDSR(on bool) error { return s.setOutput("DSR", s.dsrBit, on) }

// SetRing implements RingSetter on the output configured to carry RI.
func (s *Serial) SetRing(on bool) error { return s.setOutput("RI", s.riBit, on) }

// SetFlow implements FlowSetter: the device's termios does the flow
// control (CRTSCTS for RTS/CTS, IXON and IXOFF for XON/XOFF: the driver
// stops our output on the DTE's DC3 and sends DC3 when its input fills).
// RTS/CTS is refused while RTS carries a circuit.
func (s *Serial) SetFlow(f Flow) error {
	if f.RTSCTS && (s.dcdBit|s.dsrBit|s.riBit)&unix.TIOCM_RTS != 0 {
		return fmt.Errorf("modem: serial %s: RTS/CTS flow control: RTS carries a circuit (--dcd/--dsr/--ri rts)", s.f.Name())
	}
	t, err := s.getTermios()
	if err != nil {
		return fmt.Errorf("modem: serial %s: %w", s.f.Name(), err)
	}
	t.Cflag &^= unix.CRTSCTS
	t.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY
	if f.RTSCTS {
		t.Cflag |= unix.CRTSCTS
	}
	if f.XONXOFF {
		t.Iflag |= unix.IXON | unix.IXOFF
	}
	if err := s.setTermios(t); err != nil {
		return fmt.Errorf("modem: serial %s: flow control: %w", s.f.Name(), err)
	}
	return nil
}

// SetCarrier implements CarrierSetter: it raises (TIOCMBIS) or lowers
// (TIOCMBIC) the output configured to carry DCD. Without one it does
// nothing; a device without modem-control lines (a pty, some USB
// adapters) fails.
func (s *Serial) SetCarrier(on bool) error { return s.setOutput("DCD", s.dcdBit, on) }

// Read implements io.Reader. With a DTR line configured it checks the
// line every serialPoll while no data arrives, and reports ErrDTRDrop
// (once) when the line falls after having been up, and ErrDTRRaise when
// it rises again.
func (s *Serial) Read(b []byte) (int, error) {
	for {
		if s.mask == 0 {
			n, err := s.f.Read(b)
			if err != nil {
				err = fmt.Errorf("modem: serial: %w", err)
			}
			return n, err
		}
		if !s.seen {
			st, err := s.stat()
			if err != nil {
				return 0, fmt.Errorf("modem: serial status lines: %w", err)
			}
			s.high, s.seen = st&s.mask != 0, true
		}
		if err := s.f.SetReadDeadline(time.Now().Add(serialPoll)); err != nil {
			return 0, fmt.Errorf("modem: serial: %w", err)
		}
		n, err := s.f.Read(b)
		if n > 0 {
			return n, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, fmt.Errorf("modem: serial: %w", err)
		}
		st, err := s.stat()
		if err != nil {
			return 0, fmt.Errorf("modem: serial status lines: %w", err)
		}
		up := st&s.mask != 0
		if s.high && !up {
			s.high = false
			s.flushOutput()
			return 0, fmt.Errorf("modem: serial %s: %w", s.f.Name(), ErrDTRDrop)
		}
		if !s.high && up {
			s.high = true
			return 0, fmt.Errorf("modem: serial %s: %w", s.f.Name(), ErrDTRRaise)
		}
	}
}

// DTRDropped reports, without reading, whether the DTE's DTR (the input
// --dtr names) has fallen since the last look, as Read reports it.
func (s *Serial) DTRDropped() (dropped, closed bool) {
	if s.mask == 0 || !s.seen || !s.high {
		return false, false
	}
	st, err := s.stat()
	if err != nil || st&s.mask != 0 {
		return false, false
	}
	s.high = false
	s.flushOutput()
	return true, false
}

// flushOutput discards the kernel's output queue for the DTE that
// dropped DTR (tcflush TCOFLUSH). A Write already under way, held by
// flow control, is not interrupted: what it has not yet handed to the
// kernel when it goes on is still sent, to whoever is on the line next.
func (s *Serial) flushOutput() {
	raw, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCOFLUSH) })
}

// Write implements io.Writer.
func (s *Serial) Write(b []byte) (int, error) {
	n, err := s.f.Write(b)
	if err != nil {
		err = fmt.Errorf("modem: serial: %w", err)
	}
	return n, err
}

// Close closes the device.
func (s *Serial) Close() error { return s.f.Close() }

// Stdio is the DTE on standard input and output; when standard input is a
// terminal it is put in raw mode until Close.
type Stdio struct {
	in    *os.File
	out   *os.File
	state *term.State
	once  sync.Once
}

// OpenStdio returns the stdio DTE.
func OpenStdio() (*Stdio, error) {
	s := &Stdio{out: os.Stdout}
	if term.IsTerminal(0) {
		st, err := term.MakeRaw(0)
		if err != nil {
			return nil, fmt.Errorf("modem: stdin raw mode: %w", err)
		}
		s.state = st
	}
	fd, err := unix.Dup(0)
	if err != nil {
		return nil, fmt.Errorf("modem: stdin: %w", err)
	}
	// Non-blocking so that Close interrupts a pending Read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("modem: stdin: %w", err)
	}
	s.in = os.NewFile(uintptr(fd), "stdin")
	return s, nil
}

// Read implements io.Reader; the end of standard input is io.EOF (wrapped).
func (s *Stdio) Read(b []byte) (int, error) {
	n, err := s.in.Read(b)
	if err != nil {
		err = fmt.Errorf("modem: stdin: %w", err)
	}
	return n, err
}

// Write implements io.Writer.
func (s *Stdio) Write(b []byte) (int, error) {
	n, err := s.out.Write(b)
	if err != nil {
		err = fmt.Errorf("modem: stdout: %w", err)
	}
	return n, err
}

// Close restores the terminal and stops reading standard input.
func (s *Stdio) Close() error {
	s.once.Do(func() {
		if s.state != nil {
			_ = term.Restore(0, s.state)
		}
		_ = unix.SetNonblock(0, false)
		s.in.Close()
	})
	return nil
}
