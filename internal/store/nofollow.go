package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrSymlink is wrapped when a file of the state directory is a symbolic
// link, which the store does not follow.
var ErrSymlink = errors.New("store: symbolic link not followed")

// linkError names a symbolic link openFile did not follow.
type linkError struct{ path string }

func (e *linkError) Error() string {
	return e.path + " is a symbolic link, which the gateway does not follow (whoever put it there chose the file it leads to): remove it, and see who may create files in " + filepath.Dir(e.path)
}

func (e *linkError) Is(target error) bool { return target == ErrSymlink }

// openFile opens a file of the state directory with flag (and perm when
// it creates it), never through a symbolic link in its last name and
// only if it is a regular file. A link planted there (calls.jsonl
// pointing at /etc/shadow, where sysctl fs.protected_symlinks is 0)
// would have a gateway running as root append to, or truncate, the file
// it leads to; the state directory's check (auth's, at start) keeps
// others from planting one, and this is the store's own guard. The
// directories above are not its concern: a state_dir that is a link is
// judged by that check. Errors are the os package's or a *linkError (a
// message without the package's prefix, for the caller to add).
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW, perm)
	if errors.Is(err, unix.ELOOP) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &linkError{path}
		}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readFile is os.ReadFile through openFile, of at most max octets.
func readFile(path string, max int64) ([]byte, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d octets", path, max)
	}
	return b, nil
}
