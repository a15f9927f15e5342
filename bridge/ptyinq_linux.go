package bridge

import (
	"os"

	"golang.org/x/sys/unix"
)

// ptyInputQueued is how many octets the program on the pty whose master
// is ptmx has not read yet from its terminal's input (TIOCINQ on the
// slave side, which TIOCGPTPEER opens from the master for the question:
// the gateway keeps only the master, and the slave's name could belong
// to another call's pty by the time it was opened); ok is false when
// that cannot be told (a kernel before 4.13, a closed master).
func ptyInputQueued(ptmx *os.File) (n int, ok bool) {
	rc, err := ptmx.SyscallConn()
	if err != nil {
		return 0, false
	}
	cerr := rc.Control(func(fd uintptr) {
		slave, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.TIOCGPTPEER, uintptr(unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC))
		if errno != 0 {
			return
		}
		defer unix.Close(int(slave))
		q, err := unix.IoctlGetInt(int(slave), unix.TIOCINQ)
		n, ok = q, err == nil
	})
	return n, ok && cerr == nil
}
