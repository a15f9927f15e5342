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
	"strings"
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
	return walkDirs(what, dir, forEdit, sentinel, currentCreds(), systemNames, os.Lstat, os.Readlink)
}

// maxLinks bounds the symbolic links walkDirs follows (Linux's
// MAXSYMLINKS).
const maxLinks = 40

// walkDirs resolves dir one name at a time, as the kernel does (".."
// included), and
// judges every directory it passes through: those of the path as
// written, the directory holding each symbolic link on the way (with the
// link's owner), and those of the path each link leads to, down to the
// directory itself (judged as holding the file). Judging only the
// resolved path would miss a link in a world-writable directory, which
// its writers may point anywhere; judging only the path as written would
// miss the directories the link leads through. The deepest refusal is
// reported. lstat and readlink are os.Lstat and os.Readlink but in tests.
func walkDirs(what, dir string, forEdit bool, sentinel error, p procCreds, n names, lstat func(string) (fs.FileInfo, error), readlink func(string) (string, error)) error {
	// Made absolute but not cleaned (filepath.Abs would be): ".." is
	// taken below as the kernel takes it, the parent of the directory
	// reached so far, which after a link is the parent of its target,
	// not the name before it as written. Configured paths are cleaned
	// (internal/config), so that the gateway uses the path judged.
	d := dir
	if !filepath.IsAbs(d) {
		wd, err := os.Getwd()
		if err != nil {
			return nil // the open that follows says what is wrong
		}
		d = wd + "/" + d
	}
	type step struct {
		path string
		fi   fs.FileInfo
		link bool
	}
	var passed []step
	todo := strings.Split(strings.TrimPrefix(d, "/"), "/")
	cur, links, complete := "/", 0, false
	if fi, err := lstat(cur); err == nil {
		passed = append(passed, step{path: cur, fi: fi})
	}
walk:
	for {
		for len(todo) > 0 && (todo[0] == "" || todo[0] == ".") {
			todo = todo[1:]
		}
		if len(todo) == 0 {
			complete = true
			break
		}
		next := filepath.Join(cur, todo[0]) // cur holds no links: ".." is its parent
		todo = todo[1:]
		fi, err := lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			break walk // made later by the gateway, 0700
		case err != nil:
			return nil // the open that follows says what is wrong
		case fi.Mode()&fs.ModeSymlink != 0:
			links++
			target, err := readlink(next)
			if err != nil || links > maxLinks {
				return nil
			}
			passed = append(passed, step{path: next, fi: fi, link: true})
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(strings.Split(target, "/"), todo...)
		case fi.IsDir():
			passed = append(passed, step{path: next, fi: fi})
			cur = next
		default:
			break walk // not a directory: the open that follows says so
		}
	}
	for i := len(passed) - 1; i >= 0; i-- {
		s := passed[i]
		var err error
		noun := "directory"
		if s.link {
			noun = "symbolic link"
			err = judgeLink(what, s.path, ownerOf(s.fi), p, n, sentinel)
		} else {
			holding := complete && i == len(passed)-1
			err = judgeDir(what, s.path, holding, s.fi.Mode(), ownerOf(s.fi), p, n, sentinel)
		}
		if u, ok := AsUnsafePath(err); ok && !(forEdit && p.uid == 0 && u.ForUser) {
			return fmt.Errorf("auth: %s %w", noun, err)
		}
	}
	return nil
}

// openNoFollow opens path with flag (and perm when it creates it), but
// not through a symbolic link in its last name: one planted where the
// gateway reads or writes its files would lead it to another (a root
// gateway appending to /etc/shadow). A link there is an error naming it.
//
// The open is O_NONBLOCK too, so that a FIFO there does not block it
// until a writer comes (gateway check and serve hung on a FIFO at
// host_key): the caller's fstat then refuses what is not a regular file.
// The flag is left set on the file returned: reads and writes of a
// regular file do not depend on it.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &symlinkError{path}
		}
	}
	return f, err
}

// openReading opens path for reading, following a symbolic link, without
// waiting: O_NONBLOCK, so that a FIFO (or a device) at the name does not
// hang the open; the caller's fstat refuses what is not a regular file,
// and the flag does not change reads of one.
func openReading(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// ownedByRoot reports whether fi is root's (uid 0).
func ownedByRoot(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
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
