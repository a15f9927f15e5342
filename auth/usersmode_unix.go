//go:build unix

package auth

import (
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
