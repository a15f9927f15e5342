//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// currentCreds is who this process is; tests replace it to judge files
// as another user would, without root.
var currentCreds = func() procCreds {
	groups, _ := os.Getgroups()
	return procCreds{uid: os.Geteuid(), gid: os.Getegid(), groups: groups}
}

// systemNames looks uids and gids up in the user and group databases.
var systemNames = names{
	user: func(uid int) string {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			return u.Username
		}
		return ""
	},
	group: func(gid int) string {
		if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
			return g.Name
		}
		return ""
	},
}

// ownerOf returns the owner and group of the file fi describes.
func ownerOf(fi fs.FileInfo) fileOwner {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileOwner{}
	}
	return fileOwner{uid: int(st.Uid), gid: int(st.Gid), known: true}
}

// usersFileAccessOf tells how this process reaches the file fi describes
// (see accessOf).
func usersFileAccessOf(fi fs.FileInfo) usersFileAccess {
	return accessOf(ownerOf(fi), currentCreds())
}

// checkUsersFile judges the users file path, fi its Stat, as
// judgeUsersFile does for this process.
func checkUsersFile(path string, fi fs.FileInfo, forEdit bool) (warning string, err error) {
	return judgeUsersFile(path, fi.Mode().Perm(), ownerOf(fi), currentCreds(), systemNames, forEdit)
}

// checkHostKeyOwner refuses a host key, fi its Stat, that a user other
// than root and this process's owns (judgeOwner).
func checkHostKeyOwner(path string, fi fs.FileInfo) error {
	if err := judgeOwner("host key", path, ownerOf(fi), currentCreds(), systemNames, ErrHostKeyPerm); err != nil {
		return fmt.Errorf("auth: host key %w", err)
	}
	return nil
}

// checkDirs judges dir, the directory holding the file what names, and
// every directory above it with judgeDir, as sshd's StrictModes judges
// the directories above authorized_keys: whoever may rename a directory
// on the way may put another in its place. Directories that do not exist
// yet are skipped (the gateway creates them, 0700). forEdit: as for
// judgeUsersFile, root editing the file skips what depends on the user.
func checkDirs(what, dir string, forEdit bool, sentinel error) error {
	return walkDirs(what, dir, forEdit, sentinel, currentCreds(), systemNames, os.Stat)
}

func walkDirs(what, dir string, forEdit bool, sentinel error, p procCreds, n names, stat func(string) (fs.FileInfo, error)) error {
	d, err := filepath.Abs(dir)
	if err != nil {
		return nil // the open that follows says what is wrong
	}
	if real, err := filepath.EvalSymlinks(d); err == nil {
		d = real
	}
	for {
		fi, err := stat(d)
		switch {
		case err == nil && fi.IsDir():
			err := judgeDir(what, d, fi.Mode(), ownerOf(fi), p, n, sentinel)
			if u, ok := AsUnsafePath(err); ok && !(forEdit && p.uid == 0 && u.ForUser) {
				return fmt.Errorf("auth: directory %w", err)
			}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil // the open that follows says what is wrong
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
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
