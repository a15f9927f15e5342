//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

// usersFileAccessOf: without Unix ownership the mode is judged as for
// the file's owner.
func usersFileAccessOf(fs.FileInfo) usersFileAccess { return accessOwner }

// keepOwner: without Unix ownership there is nothing to keep.
func keepOwner(fs.FileInfo) func(*os.File) error { return nil }
