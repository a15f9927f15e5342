//go:build unix

package auth

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// usersFileAccessOf tells how this process reaches the file fi describes
// (see usersFileAccess). Root reads any file; a root-owned file whose
// group is not root's is taken to be shared with the gateway's group,
// as it is when root checks the configuration of a gateway that runs as
// a user of that group.
func usersFileAccessOf(fi fs.FileInfo) usersFileAccess {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return accessOwner
	}
	uid, fileUID, fileGID := os.Geteuid(), int(st.Uid), int(st.Gid)
	switch {
	case uid == 0:
		if fileUID == 0 && fileGID != 0 {
			return accessGroup
		}
		return accessOwner
	case fileUID == uid:
		return accessOwner
	case fileGID == os.Getegid():
		return accessGroup
	}
	if groups, err := os.Getgroups(); err == nil && slices.Contains(groups, fileGID) {
		return accessGroup
	}
	return accessOther
}

// keepOwner returns what gives a file replacing the one fi describes
// that file's owner and group, when this process is root and they are
// not root's own (nil otherwise: a file written by its owner stays
// theirs, and other users cannot give a file away).
func keepOwner(fi fs.FileInfo) func(*os.File) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	uid, gid := int(st.Uid), int(st.Gid)
	return func(f *os.File) error {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("keeping the file's owner and group %d:%d: %w", uid, gid, err)
		}
		return nil
	}
}
