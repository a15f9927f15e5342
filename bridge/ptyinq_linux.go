package bridge

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ptyInputQueued is how many octets the program on the pty whose master
// is ptmx has not read yet from its terminal's input (TIOCINQ on the
// slave side, opened by name for the question: the gateway keeps only
// the master); ok is false when that cannot be told.
func ptyInputQueued(ptmx *os.File) (n int, ok bool) {
	rc, err := ptmx.SyscallConn()
	if err != nil {
		return 0, false
	}
	var num uint32
	var ierr error
	if err := rc.Control(func(fd uintptr) { num, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN) }); err != nil || ierr != nil {
		return 0, false
	}
	fd, err := unix.Open("/dev/pts/"+strconv.FormatUint(uint64(num), 10), unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	n, err = unix.IoctlGetInt(fd, unix.TIOCINQ)
	return n, err == nil
}
