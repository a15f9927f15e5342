//go:build !unix

package auth

import "io/fs"

// usersFileAccessOf: without Unix ownership the mode is judged as for
// the file's owner.
func usersFileAccessOf(fs.FileInfo) usersFileAccess { return accessOwner }
