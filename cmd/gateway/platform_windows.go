package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/windows"

	"github.com/dialgate/dialgate/internal/config"
)

// errConnRefused is the error of a connect nobody answers (Winsock's
// own code: syscall.ECONNREFUSED is not what Windows returns).
var errConnRefused error = windows.WSAECONNREFUSED

// unixFileModes is false: Windows reports every writable file as mode
// 0666 whoever may read it (access is in ACLs), so a mode says nothing.
const unixFileModes = false

// fileOwner: Windows files have no Unix owner to report.
func fileOwner(string) (uid, gid int, ok bool) { return 0, 0, false }

// mayWriteIn cannot be judged without access(2): taken as yes, and the
// create itself says otherwise.
func mayWriteIn(string) bool { return true }

func mayWrite(string) bool { return true }

// readOnlyFS is never known on Windows (gateway serve does not run there).
var readOnlyFS = func(string) bool { return false }

// platformProblems is what gateway check reports about c that Windows
// cannot do: gateway serve does not run (its store needs Unix), and a pty
// backend is refused as gateway serve would refuse it.
func platformProblems(c *config.Config) (warnings []string, failed []error) {
	warnings = append(warnings, fmt.Sprintf("gateway serve does not run on %s: its state directory (session numbers, call records) needs a Unix system (Linux, macOS, FreeBSD); the users file and host key are judged by Unix file modes too, and Windows shows every writable file as mode 0666, so existing ones are refused here", runtime.GOOS))
	for _, b := range c.Backends {
		if b.Type == config.BackendPTY {
			failed = append(failed, fmt.Errorf("backend %q: pty backends need a Unix system, not %s", b.Name, runtime.GOOS))
		}
	}
	return warnings, failed
}

// lockOffset is where tryLockFile's one-octet lock lies: far past
// anything the lock file holds. Windows locks are mandatory, so while a
// lock covers a byte, other processes' reads of it fail; locking byte 0
// made a waiting writer's lockHolder read of the pid fail, and its
// message lost "another command (pid N)". A lock may lie past the end
// of the file.
const lockOffset = 1 << 62

// lockOverlapped is the Overlapped that puts a LockFileEx or UnlockFileEx
// range at lockOffset.
func lockOverlapped() *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(lockOffset & 0xFFFFFFFF), OffsetHigh: uint32(lockOffset >> 32)}
}

// tryLockFile takes an exclusive LockFileEx lock on one byte of f at
// lockOffset without waiting; busy says another holder has it.
func tryLockFile(f *os.File) (busy bool, err error) {
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, lockOverlapped())
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return true, nil
	}
	return false, err
}

// unlockFile releases tryLockFile's lock.
func unlockFile(f *os.File) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockOverlapped())
}

// listenUnixPrivate listens on a Unix socket at path (AF_UNIX, Windows 10
// and later); the socket's file takes the directory's access list.
func listenUnixPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}

// oNoFollow is 0: Windows has no O_NOFOLLOW, and no chown either (see
// takeDirOwner).
const oNoFollow = 0

// singleLink is true: nothing is given away on Windows.
func singleLink(*os.File) bool { return true }

// closeInheritedOnExec does nothing: Windows hands a child only the
// handles it is given.
func closeInheritedOnExec() {}
