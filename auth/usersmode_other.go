//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

// usersFileAccessOf: without Unix ownership the mode is judged as for
// the file's owner.
func usersFileAccessOf(fs.FileInfo) usersFileAccess { return accessOwner }

// checkUsersFile: without Unix ownership only the mode is judged.
func checkUsersFile(path string, fi fs.FileInfo, forEdit bool) (warning string, err error) {
	return checkUsersFileMode(path, fi.Mode().Perm(), accessOwner)
}

// checkHostKeyOwner: without Unix ownership there is no owner to judge.
func checkHostKeyOwner(string, fs.FileInfo) error { return nil }

// checkDirs: without Unix ownership directories are not judged.
func checkDirs(string, string, bool, error) error { return nil }

// openNoFollow: where there are no symbolic links to plant (or no
// O_NOFOLLOW), a plain open.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// openReading opens path for reading.
func openReading(path string) (*os.File, error) { return os.Open(path) }

// keepOwner: without Unix ownership there is nothing to keep.
func keepOwner(fs.FileInfo) func(*os.File) error { return nil }

func ownedByRoot(fs.FileInfo) bool { return true }
