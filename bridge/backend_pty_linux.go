//go:build linux

package bridge

import (
	"os"

	"golang.org/x/sys/unix"
)

// pollable returns the pty master f as a non-blocking file on Go's poller
// and closes f. creack/pty hands it over in blocking mode (its ioctls
// take the descriptor with Fd, which makes a file blocking for good). A
// write blocked there, behind a program that reads none of its input,
// could not be interrupted by closing the file: the call never ended,
// held its line and kept the gateway from stopping (browser trial, a big
// paste into `sleep`). On the poller, Close ends a blocked Read or Write
// at once. Nothing may call Fd on the file returned (ioctls go through
// SyscallConn).
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	var fd int
	var err error
	cerr := withFD(f, func(old int) {
		if fd, err = unix.FcntlInt(uintptr(old), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			if err = unix.SetNonblock(fd, true); err != nil {
				unix.Close(fd)
			}
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor: os.NewFile puts it on the poller.
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// packetMode puts the pty master f in packet mode (TIOCPKT), and reports
// whether it did: ptyConn.Read then holds output while the terminal is
// stopped. Linux only, where the tests run it.
func packetMode(f *os.File) bool {
	var err error
	cerr := withFD(f, func(fd int) { err = unix.IoctlSetPointerInt(fd, unix.TIOCPKT, 1) })
	return cerr == nil && err == nil
}

// tryRead reads the master f into p if it has something now, without
// waiting (f is non-blocking, on the poller); ok is false when it has
// nothing or the read failed (the next blocking read reports that).
func tryRead(f *os.File, p []byte) (n int, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), p)
		return true // do not wait for readiness
	}); err != nil || rerr != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// termSpeeds are the terminal speeds a Linux termios can name (CBAUD),
// slowest first.
var termSpeeds = []struct {
	rate int
	baud uint32
}{
	{50, unix.B50}, {75, unix.B75}, {110, unix.B110}, {134, unix.B134}, {150, unix.B150},
	{200, unix.B200}, {300, unix.B300}, {600, unix.B600}, {1200, unix.B1200}, {1800, unix.B1800},
	{2400, unix.B2400}, {4800, unix.B4800}, {9600, unix.B9600}, {19200, unix.B19200}, {38400, unix.B38400},
	{57600, unix.B57600}, {115200, unix.B115200}, {230400, unix.B230400},
}

// termBaud is the fastest terminal speed not above rate bit/s (the
// slowest there is for a slower rate): 33,600 is 19,200.
func termBaud(rate int) uint32 {
	baud := termSpeeds[0].baud
	for _, s := range termSpeeds {
		if s.rate <= rate {
			baud = s.baud
		}
	}
	return baud
}

// setTermSpeed sets the input and output speed of the terminal tty (a
// pty's slave, before its program starts) to termBaud(rate).
func setTermSpeed(tty *os.File, rate int) error {
	baud := termBaud(rate)
	var err error
	cerr := withFD(tty, func(fd int) {
		var t *unix.Termios
		if t, err = unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			return
		}
		t.Cflag = t.Cflag&^unix.CBAUD | baud
		t.Ispeed, t.Ospeed = baud, baud
		err = unix.IoctlSetTermios(fd, unix.TCSETS, t)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// dropOutput drops the program's output waiting in the pty (telnet AO:
// "Abort Output", as telnetd flushes its pty for it): TCIFLUSH on the
// master, which discards what the slave wrote and the master has not
// read.
func (c *ptyConn) dropOutput() error {
	c.sizeMu.Lock()
	defer c.sizeMu.Unlock()
	if c.ptmxClosed {
		return os.ErrClosed
	}
	var err error
	if cerr := withFD(c.ptmx, func(fd int) { err = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) }); cerr != nil {
		return cerr
	}
	return err
}
