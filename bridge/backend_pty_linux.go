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
