package auth

import (
	"fmt"
	"io/fs"
)

// usersFileAccess is how the gateway's process reaches its users file,
// which decides which permissions the file needs and which chmod fixes
// a mode that lets others in without locking the gateway out.
type usersFileAccess int

const (
	// accessOwner: the file is the process's own (or its owner cannot be
	// told): it needs no permission for its group or others.
	accessOwner usersFileAccess = iota
	// accessGroup: the file is another user's, usually root's, and shared
	// with the gateway through its group (root:dialgate, mode 0640): the
	// group's read permission is how the gateway reads it.
	accessGroup
	// accessOther: the file is neither the process's nor shared through
	// its group: only the permissions for others let it be read.
	accessOther
)

// checkUsersFileMode judges a users file's permission bits for a process
// that reaches it as access says: an error wrapping ErrUsersFilePerm
// when users other than the gateway's may change it, a warning when they
// may read the password hashes. Both name the fix that keeps the file
// readable by the gateway (chmod 600 on a root-owned file that the
// gateway reads through its group would lock every user out).
func checkUsersFileMode(path string, perm fs.FileMode, access usersFileAccess) (warning string, err error) {
	fix := "run chmod 600 " + path
	switch access {
	case accessGroup:
		fix = "run chmod 640 " + path + " (the gateway reads it through the file's group)"
	case accessOther:
		fix = "make the gateway's user its owner and run chmod 600 " + path
	}
	if perm&0o022 != 0 {
		return "", fmt.Errorf("auth: users file %s has mode %04o: other users can change the accounts and password hashes, so it is not loaded; %s (%w)", path, perm, fix, ErrUsersFilePerm)
	}
	readers := perm & 0o044
	if access == accessGroup {
		readers &^= 0o040 // the gateway's own way in
	}
	if readers != 0 {
		return fmt.Sprintf("users file %s has mode %04o: other users can read the password hashes; %s", path, perm, fix), nil
	}
	return "", nil
}
