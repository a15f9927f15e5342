//go:build unix

package main

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/config"
)

// errConnRefused is the error of a connect(2) nobody answers.
var errConnRefused error = syscall.ECONNREFUSED

// unixFileModes says a file's permission bits tell who may read it.
const unixFileModes = true

// fileOwner returns the uid and gid owning path; ok is false when it
// cannot be stat'ed.
func fileOwner(path string) (uid, gid int, ok bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// mayWriteIn reports whether this process may create files in the
// directory dir (access(2) W_OK|X_OK).
func mayWriteIn(dir string) bool { return unix.Access(dir, unix.W_OK|unix.X_OK) == nil }

// mayWrite reports whether this process may write the file path.
func mayWrite(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// readOnlyFS reports whether dir is on a file system mounted read-only
// (no user may write in it). A variable for tests.
var readOnlyFS = func(dir string) bool { return errors.Is(unix.Access(dir, unix.W_OK), unix.EROFS) }

// platformProblems is what gateway check reports about c that this
// system cannot do: nothing on Unix.
func platformProblems(*config.Config) (warnings []string, failed []error) { return nil, nil }

// tryLockFile takes an exclusive flock(2) on f without waiting; busy
// says another holder has it.
func tryLockFile(f *os.File) (busy bool, err error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return true, nil
		}
		return false, err
	}
}

// unlockFile releases tryLockFile's lock.
func unlockFile(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// listenUnixPrivate listens on a Unix socket at path that is mode 0600
// from its creation: bind(2) makes the socket file with the process's
// umask, so the umask is tightened around it. Only for start-up, before
// other goroutines create files (the umask is the process's).
func listenUnixPrivate(path string) (net.Listener, error) {
	old := unix.Umask(0o177)
	defer unix.Umask(old)
	return net.Listen("unix", path)
}

// oNoFollow makes an open fail (ELOOP) on a symbolic link in the last
// name of the path: root opening a file in a directory the gateway's
// user owns (the users file's lock, the log file) must not be led to
// another file (/etc/shadow) that it then gives that user (fchown).
const oNoFollow = unix.O_NOFOLLOW

// singleLink reports whether the open file f is a regular file with one
// name: a hard link to another user's file (where fs.protected_hardlinks
// allows one) must not be given to the gateway's user either.
func singleLink(f *os.File) bool {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1
}

// closeInheritedOnExec marks the descriptors above standard error that
// this process inherited without close-on-exec (a harness's pipe, a
// shell's redirection) close-on-exec: a pty backend's program would
// otherwise inherit them (pentest: a door program found the harness's
// pipe on fd 251). The gateway's own descriptors are close-on-exec
// already, as Go opens them.
func closeInheritedOnExec() {
	ents, err := os.ReadDir("/dev/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
}
