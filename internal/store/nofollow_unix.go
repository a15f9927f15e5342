//go:build unix

package store

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openFile opens a file of the state directory with flag (and perm when
// it creates it), never through a symbolic link in its last name and
// only if it is a regular file. A link planted there (calls.jsonl
// pointing at /etc/shadow, where sysctl fs.protected_symlinks is 0)
// would have a gateway running as root append to, or truncate, the file
// it leads to; the state directory's check (auth's, at start) keeps
// others from planting one, and this is the store's own guard. The
// directories above are not its concern: a state_dir that is a link is
// judged by that check. Errors are the os package's, a *linkError or a
// *notRegularError (messages without the package's prefix, for the
// caller to add).
//
// The open is O_NONBLOCK so that a FIFO there is refused at once, after
// fstat, rather than blocking the open until a writer (or, for writing,
// a reader) comes: an open(2) for writing of a FIFO without a reader
// fails with ENXIO instead, and a directory opened for writing with
// EISDIR, which are then told apart with Lstat (the name's type, for the
// message only). The flag is left set on the regular file returned:
// reads and writes of regular files, and flock(2) (which has its own
// LOCK_NB), do not depend on it.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, perm)
	if errors.Is(err, unix.ELOOP) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &linkError{path}
		}
	}
	if errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EISDIR) {
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, &notRegularError{path, fi.Mode().Type()}
		}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &notRegularError{path, fi.Mode().Type()}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// tryLock takes an exclusive flock(2) on the lock file lk without
// waiting; busy reports that another process holds it.
func tryLock(lk *os.File) (busy bool, err error) {
	err = unix.Flock(int(lk.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	return errors.Is(err, unix.EWOULDBLOCK), err
}
