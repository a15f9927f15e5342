package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// ErrNotRegular is wrapped when a name of the state directory the store
// opens is not a regular file (a FIFO, a directory, a device).
var ErrNotRegular = errors.New("store: not a regular file")

// notRegularError names what openFile found instead of a regular file.
type notRegularError struct {
	path string
	typ  fs.FileMode
}

func (e *notRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file but a %s, which the gateway does not use: remove it, and see who may create files in %s", e.path, typeName(e.typ), filepath.Dir(e.path))
}

func (e *notRegularError) Is(target error) bool { return target == ErrNotRegular }

// typeName names a file type for notRegularError.
func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "file of type " + t.String()
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
