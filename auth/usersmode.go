package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
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

// fileOwner is a file's owner and group; known is false where the
// platform has no Unix ownership (nothing is then judged by owner).
type fileOwner struct {
	uid, gid int
	known    bool
}

// procCreds is who the process is: effective uid and gid, and its
// supplementary groups.
type procCreds struct {
	uid, gid int
	groups   []int
}

func (p procCreds) inGroup(gid int) bool { return gid == p.gid || slices.Contains(p.groups, gid) }

// trusts reports whether a file owned by o may hold what the gateway
// trusts: one that root or the process itself owns. Any other owner can
// chmod the file and change it whatever its mode says now (sshd's
// StrictModes asks the same of a user's authorized_keys).
func (p procCreds) trusts(o fileOwner) bool { return !o.known || o.uid == 0 || o.uid == p.uid }

// accessOf tells how process p reaches a file owned by o (see
// usersFileAccess). Root reads any file; a root-owned file whose group
// is not root's is taken to be shared with the gateway's group, as it
// is when root checks the configuration of a gateway that runs as a
// user of that group.
func accessOf(o fileOwner, p procCreds) usersFileAccess {
	switch {
	case !o.known:
		return accessOwner
	case p.uid == 0:
		if o.uid == 0 && o.gid != 0 {
			return accessGroup
		}
		return accessOwner
	case o.uid == p.uid:
		return accessOwner
	case p.inGroup(o.gid):
		return accessGroup
	}
	return accessOther
}

// UnsafePathError is wrapped (as the cause of ErrUsersFilePerm or
// ErrHostKeyPerm) when a users file, the host key or a directory above
// either is refused because a user other than root and the gateway's
// own may change it: the file is another user's, or the directory is
// another user's or writable by others without the sticky bit. Use
// AsUnsafePath to get it.
type UnsafePathError struct {
	Path   string // the file or directory judged
	Reason string // who else can change it and what to run
	// ForUser is true when the verdict depends on the process's user (an
	// owner, or a group, that is not the process's): a gateway running
	// as another user may judge the same path differently. "gateway
	// check" run as root (not the gateway's user) reports such a
	// refusal as a warning.
	ForUser bool
	dir     bool  // a directory (or link) on the way, not the file
	err     error // ErrUsersFilePerm or ErrHostKeyPerm
}

// Error names the sentinel only for the file itself: after a directory's
// reason, "(auth: host key file is accessible by other users)" would
// misstate what was refused (errors.Is still finds it, and ErrUnsafeDir).
func (e *UnsafePathError) Error() string {
	if e.dir {
		return e.Path + " " + e.Reason
	}
	return fmt.Sprintf("%s %s (%v)", e.Path, e.Reason, e.err)
}

func (e *UnsafePathError) Unwrap() []error {
	if e.dir {
		return []error{e.err, ErrUnsafeDir}
	}
	return []error{e.err}
}

// ErrUnsafeDir is wrapped, with ErrUsersFilePerm or ErrHostKeyPerm, when
// a directory (or a symbolic link) on the way to the users file or the
// host key is refused (an *UnsafePathError).
var ErrUnsafeDir = errors.New("auth: a directory on the way may be changed by other users")

// ErrSymlink is matched by the error of LoadHostKey when the host key's
// name is a symbolic link, which it does not follow.
var ErrSymlink = errors.New("auth: symbolic link not followed")

// symlinkError names a symbolic link that openNoFollow did not follow.
type symlinkError struct{ path string }

func (e *symlinkError) Error() string {
	return e.path + " is a symbolic link, which is not followed (whoever put it there chose the file it leads to); remove it"
}

func (e *symlinkError) Is(target error) bool { return target == ErrSymlink }

// AsUnsafePath returns the *UnsafePathError in err's chain, if any.
func AsUnsafePath(err error) (*UnsafePathError, bool) {
	var e *UnsafePathError
	ok := errors.As(err, &e)
	return e, ok
}

// names turns uids and gids into names for messages; tests replace it.
type names struct {
	user  func(uid int) string // "dialgate", or "" when unknown
	group func(gid int) string
}

func (n names) userOf(uid int) string {
	if s := n.user(uid); s != "" {
		return s
	}
	return fmt.Sprint(uid)
}

func (n names) groupOf(gid int) string {
	if s := n.group(gid); s != "" {
		return s
	}
	return fmt.Sprint(gid)
}

// judgeOwner refuses a file (what: "users file", "host key") owned by a
// user other than root and p, naming the owner and the chown that gives
// the file to the gateway's user (or, for a users file, to root and the
// gateway's group).
func judgeOwner(what, path string, o fileOwner, p procCreds, n names, sentinel error) error {
	if p.trusts(o) {
		return nil
	}
	me := n.userOf(p.uid)
	var fix string
	switch {
	case what == "host key":
		// A key its owner put there may be one they know.
		fix = fmt.Sprintf("make a new key with gateway keygen --force --state-dir %s (callers then pin the new fingerprint), or if the file is the gateway's own, run chown %s %s", filepath.Dir(path), me, path)
	case p.uid == 0:
		fix = fmt.Sprintf("check its accounts, then run chown root:root %s", path)
	default:
		fix = fmt.Sprintf("check its accounts, then run chown %s %s (or share it from root: chown root:%s %s; chmod 640 %s)", me, path, n.groupOf(p.gid), path, path)
	}
	return &UnsafePathError{
		Path:    path,
		Reason:  fmt.Sprintf("is owned by %s (uid %d), %s: that user can change it whatever its mode says, so it is not used; %s", n.userOf(o.uid), o.uid, notTrusted(p, n), fix),
		ForUser: true,
		err:     sentinel,
	}
}

// judgeDir refuses a directory on the way to a users file or host key
// (what names that file) that users other than root and p can change
// files in: one owned by another user, or one writable by others or by
// a group that is neither p's own (its effective gid) nor root's. holding
// is true for the directory the file is in (the state directory, the
// users file's directory), false for the directories above it.
//
// The sticky bit passes such a directory only above the file (/tmp on
// the way to /tmp/dialgate-alice): with it, others cannot rename or
// remove what they do not own, but they can still create new names. In
// the file's own directory that is enough to plant a symbolic link
// (calls.jsonl pointing at /etc/shadow) before the gateway creates the
// file, so there it is refused as if the bit were not set.
//
// Refused, not warned about: whoever may replace files there can, even
// with the host key and users file refused when they are another
// user's, rewrite or delete the call records, make session numbers
// repeat, or plant a symbolic link that a gateway running as root then
// appends a record to (/etc/shadow). The usual layouts pass: a state
// directory owned by the service user (/var/lib/dialgate 0700, 0750 or
// 0770 with the service user's group), a home directory 0755, /etc
// and /tmp (sticky) above them. Only a group other than the gateway's
// with write permission (0775 root:staff) may be a site's choice, and it
// is still refused: its members are not the gateway, and chmod g-w costs
// nothing.
func judgeDir(what, dir string, holding bool, mode fs.FileMode, o fileOwner, p procCreds, n names, sentinel error) error {
	if !o.known {
		return nil
	}
	e := &UnsafePathError{Path: dir, dir: true, err: sentinel}
	// Which directory it is, for the messages: the one the file is in,
	// or one passed through on the way there.
	where := "(holding the " + what + ")"
	if !holding {
		where = "(on the way to the " + what + ")"
	}
	perm := mode.Perm()
	sticky := mode&fs.ModeSticky != 0
	// What others may do there, for the messages.
	can := "replace the files in it"
	if sticky {
		can = "create files in it (the sticky bit only stops them renaming or removing the files already there), and plant a symbolic link where the gateway creates a file"
	}
	switch {
	case !p.trusts(o):
		e.ForUser = true
		e.Reason = fmt.Sprintf("%s is owned by %s (uid %d), %s: that user can replace the files in it, so it is not used; run chown %s %s", where, n.userOf(o.uid), o.uid, notTrusted(p, n), n.userOf(p.uid), dir)
	case sticky && !holding:
		return nil
	case perm&0o002 != 0:
		e.Reason = fmt.Sprintf("%s has mode %04o: every user can %s, so it is not used; run chmod o-w%s %s", where, modeBits(mode), can, groupFix(perm, o, p), dir)
	case perm&0o020 != 0 && o.gid != 0 && o.gid != p.gid:
		e.ForUser = true
		e.Reason = fmt.Sprintf("%s has mode %04o and group %s (gid %d): that group's members can %s, so it is not used; run chmod g-w %s", where, modeBits(mode), n.groupOf(o.gid), o.gid, can, dir)
	default:
		return nil
	}
	return e
}

// judgeLink refuses a symbolic link on the way to a users file or host
// key that a user other than root and p owns: it was put there by
// someone who may choose where the gateway's files go (fs.protected_symlinks
// is not on everywhere). Its directory is judged as any other.
func judgeLink(what, link string, o fileOwner, p procCreds, n names, sentinel error) error {
	if p.trusts(o) {
		return nil
	}
	return &UnsafePathError{
		Path:    link,
		Reason:  fmt.Sprintf("(on the way to the %s) is owned by %s (uid %d), %s: that user chose where it leads, so it is not used; replace it with a directory or a link of yours", what, n.userOf(o.uid), o.uid, notTrusted(p, n)),
		ForUser: true,
		dir:     true,
		err:     sentinel,
	}
}

// modeBits is a mode's permission bits with the sticky, setgid and
// setuid bits, as chmod writes them (1777).
func modeBits(mode fs.FileMode) fs.FileMode {
	b := mode.Perm()
	if mode&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	if mode&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if mode&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	return b
}

// notTrusted says whose files the gateway (process p) trusts.
func notTrusted(p procCreds, n names) string {
	if p.uid == 0 {
		return "not by root, the user the gateway runs as"
	}
	return "not by root or " + n.userOf(p.uid) + ", the user the gateway runs as"
}

// groupFix is ",g-w" when a world-writable directory's group also may
// not write in it.
func groupFix(perm fs.FileMode, o fileOwner, p procCreds) string {
	if perm&0o020 != 0 && o.gid != 0 && o.gid != p.gid {
		return ",g-w"
	}
	return ""
}

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

// judgeUsersFile judges a users file owned by o with permission bits
// perm for process p: first its owner (judgeOwner), then its mode
// (checkUsersFileMode). forEdit is for "gateway user", which saves the
// file again with Save: run as root it may edit a file of any owner,
// because Save keeps that owner and so the gateway's verdict.
func judgeUsersFile(path string, perm fs.FileMode, o fileOwner, p procCreds, n names, forEdit bool) (warning string, err error) {
	if !(forEdit && p.uid == 0) {
		if err := judgeOwner("users file", path, o, p, n, ErrUsersFilePerm); err != nil {
			return "", fmt.Errorf("auth: users file %w", err)
		}
	}
	return checkUsersFileMode(path, perm, accessOf(o, p))
}
