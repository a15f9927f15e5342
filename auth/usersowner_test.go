package auth

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// testNames names the uids and gids of the judging tests' examples.
var testNames = names{
	user: func(uid int) string {
		return map[int]string{0: "root", 999: "dialgate", 1000: "alice", 65534: "nobody"}[uid]
	},
	group: func(gid int) string {
		return map[int]string{0: "root", 50: "staff", 999: "dialgate", 1000: "alice"}[gid]
	},
}

var (
	asRoot     = procCreds{uid: 0, gid: 0}
	asDialgate = procCreds{uid: 999, gid: 999, groups: []int{999}}
)

// TestJudgeUsersFile: a users file owned by a user other than root and
// the gateway's is refused whatever its mode, with the owner named and
// a chown that fixes it; root's file shared through the gateway's group
// and the gateway's own file pass as before; "gateway user" run as root
// (forEdit) may edit the service user's file, and only as root.
func TestJudgeUsersFile(t *testing.T) {
	const path = "/etc/dialgate/users.toml"
	for _, c := range []struct {
		name     string
		uid, gid int
		p        procCreds
		mode     fs.FileMode
		forEdit  bool
		refused  bool
		warn     bool
		says     string // in the error or the warning
	}{
		// The trial's cases: a gateway running as root.
		{"root, nobody's 0644", 65534, 65534, asRoot, 0o644, false, true, false, "owned by nobody (uid 65534), not by root, the user the gateway runs as"},
		{"root, nobody's 0600", 65534, 65534, asRoot, 0o600, false, true, false, "chown root:root " + path},
		{"root, root's 0600", 0, 0, asRoot, 0o600, false, false, false, ""},
		{"root, root:dialgate 0640", 0, 999, asRoot, 0o640, false, false, false, ""},
		{"root edits dialgate's 0600", 999, 999, asRoot, 0o600, true, false, false, ""},
		{"root edits nobody's 0644", 65534, 65534, asRoot, 0o644, true, false, true, "chmod 600"},
		// A gateway running as its own user.
		{"dialgate, its own 0600", 999, 999, asDialgate, 0o600, false, false, false, ""},
		{"dialgate, root:dialgate 0640", 0, 999, asDialgate, 0o640, false, false, false, ""},
		{"dialgate, root:root 0644", 0, 0, asDialgate, 0o644, false, false, true, "make the gateway's user its owner"},
		{"dialgate, alice's 0600", 1000, 1000, asDialgate, 0o600, false, true, false, "chown dialgate " + path},
		{"dialgate, alice:dialgate 0640", 1000, 999, asDialgate, 0o640, false, true, false, "chown root:dialgate " + path + "; chmod 640"},
		{"dialgate edits alice's 0600", 1000, 1000, asDialgate, 0o600, true, true, false, "owned by alice (uid 1000), not by root or dialgate"},
		// Modes are judged once the owner passes.
		{"dialgate, its own 0660", 999, 999, asDialgate, 0o660, false, true, false, "chmod 600"},
	} {
		warning, err := judgeUsersFile(path, c.mode, fileOwner{c.uid, c.gid, true}, c.p, testNames, c.forEdit)
		switch {
		case c.refused:
			if !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v, want ErrUsersFilePerm naming %s and saying %q", c.name, err, path, c.says)
			}
			if u, ok := AsUnsafePath(err); ok != (c.mode&0o022 == 0) || ok && !u.ForUser {
				t.Errorf("%s: UnsafePathError %+v, %v", c.name, u, ok)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.warn != (warning != ""):
			t.Errorf("%s: warning %q, want one: %v", c.name, warning, c.warn)
		case c.warn && !strings.Contains(warning, c.says):
			t.Errorf("%s: warning %q does not say %q", c.name, warning, c.says)
		}
	}
	// Without Unix ownership only the mode counts.
	if _, err := judgeUsersFile(path, 0o600, fileOwner{}, asDialgate, testNames, false); err != nil {
		t.Errorf("unknown owner: %v", err)
	}
}

// TestJudgeHostKeyOwner: a host key of a user other than root and the
// gateway's is refused, and the fix offers a new key first (its owner
// may know the one there).
func TestJudgeHostKeyOwner(t *testing.T) {
	const path = "/var/lib/dialgate/host_key"
	for _, c := range []struct {
		uid     int
		p       procCreds
		refused bool
	}{
		{0, asRoot, false},
		{65534, asRoot, true},
		{999, asRoot, true},
		{999, asDialgate, false},
		{0, asDialgate, false}, // root's: its mode (0600) keeps the gateway out, not this
		{1000, asDialgate, true},
	} {
		err := judgeOwner("host key", path, fileOwner{c.uid, c.uid, true}, c.p, testNames, ErrHostKeyPerm)
		if !c.refused {
			if err != nil {
				t.Errorf("uid %d as %d: %v", c.uid, c.p.uid, err)
			}
			continue
		}
		u, ok := AsUnsafePath(err)
		if !errors.Is(err, ErrHostKeyPerm) || !ok || !u.ForUser || u.Path != path ||
			!strings.Contains(err.Error(), "gateway keygen --force --state-dir /var/lib/dialgate") ||
			!strings.Contains(err.Error(), testNames.user(c.uid)) {
			t.Errorf("uid %d as %d: %v, want ErrHostKeyPerm naming the owner and keygen --force", c.uid, c.p.uid, err)
		}
	}
}

// TestJudgeDir: which directories above a users file or host key are
// refused, judged as directories above the file (TestJudgeDirHolding
// judges the file's own). The usual layouts pass: the service user's
// state directory 0700, 0750 or 0770 with its own group, a home
// directory 0755, /etc 0755, /tmp 1777; another user's directory, a
// world-writable one and a group-writable one of another group do not.
func TestJudgeDir(t *testing.T) {
	for _, c := range []struct {
		name     string
		uid, gid int
		mode     fs.FileMode
		p        procCreds
		says     string // "": passes
		forUser  bool
	}{
		{"/var/lib/dialgate 0700", 999, 999, 0o700, asDialgate, "", false},
		{"/var/lib/dialgate 0750", 999, 999, 0o750, asDialgate, "", false},
		{"/var/lib/dialgate 0770", 999, 999, 0o770, asDialgate, "", false},
		{"/home/alice 0755", 1000, 1000, 0o755, procCreds{uid: 1000, gid: 1000}, "", false},
		{"/etc 0755", 0, 0, 0o755, asDialgate, "", false},
		{"/var/lib 0775 root:root", 0, 0, 0o775, asDialgate, "", false},
		{"/tmp 1777", 0, 0, 0o777 | fs.ModeSticky, asDialgate, "", false},
		{"/srv/share 0777", 0, 0, 0o777, asDialgate, "has mode 0777: every user can replace the files in it, so it is not used; run chmod o-w /d", false},
		{"/srv/share 0777 staff", 0, 50, 0o777, asDialgate, "run chmod o-w,g-w /d", false},
		{"/srv/dialgate 0775 staff", 999, 50, 0o775, asDialgate, "has mode 0775 and group staff (gid 50): that group's members can replace", true},
		{"/srv/dialgate 2775 staff, setgid", 999, 50, 0o775 | fs.ModeSetgid, asDialgate, "run chmod g-w /d", true},
		{"/srv/dialgate 1775 staff, sticky", 999, 50, 0o775 | fs.ModeSticky, asDialgate, "", false},
		{"root, dialgate's 0700", 999, 999, 0o700, asRoot, "is owned by dialgate (uid 999), not by root, the user the gateway runs as: that user can replace the files in it, so it is not used; run chown root /d", true},
		{"dialgate, alice's 0755", 1000, 1000, 0o755, asDialgate, "run chown dialgate /d", true},
		{"dialgate, alice's 1777", 1000, 1000, 0o777 | fs.ModeSticky, asDialgate, "owned by alice", true},
	} {
		err := judgeDir("users file", "/d", false, c.mode|fs.ModeDir, fileOwner{c.uid, c.gid, true}, c.p, testNames, ErrUsersFilePerm)
		if c.says == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		u, ok := AsUnsafePath(err)
		if !errors.Is(err, ErrUsersFilePerm) || !ok || !strings.Contains(err.Error(), "/d (on the way to the users file) ") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrUsersFilePerm saying %q", c.name, err, c.says)
		} else if u.ForUser != c.forUser {
			t.Errorf("%s: ForUser %v, want %v", c.name, u.ForUser, c.forUser)
		}
	}
	if err := judgeDir("host key", "/d", true, fs.ModeDir|0o777, fileOwner{}, asRoot, testNames, ErrHostKeyPerm); err != nil {
		t.Errorf("unknown owner: %v", err)
	}
}

// TestJudgeDirHolding: the directory a users file or host key is in
// (holding) gets no pass for the sticky bit, which only stops others
// renaming or removing the files already there: they may still create
// calls.jsonl as a symbolic link to /etc/shadow before the gateway does.
// Security trial: a state_dir 1777 passed, and a root gateway appended
// to the file a planted link led to. The usual modes pass as before.
func TestJudgeDirHolding(t *testing.T) {
	for _, c := range []struct {
		name     string
		uid, gid int
		mode     fs.FileMode
		says     string // "": passes
		forUser  bool
	}{
		{"/var/lib/dialgate 0700", 999, 999, 0o700, "", false},
		{"/var/lib/dialgate 0770", 999, 999, 0o770, "", false},
		{"/var/lib/dialgate 1700", 999, 999, 0o700 | fs.ModeSticky, "", false},
		{"state 1777", 0, 0, 0o777 | fs.ModeSticky, "has mode 1777: every user can create files in it (the sticky bit only stops them renaming or removing the files already there), and plant a symbolic link where the gateway creates a file, so it is not used; run chmod o-w /d", false},
		{"state 1775 staff", 999, 50, 0o775 | fs.ModeSticky, "has mode 1775 and group staff (gid 50): that group's members can create files in it", true},
		{"state 0777", 0, 0, 0o777, "has mode 0777: every user can replace the files in it", false},
	} {
		err := judgeDir("host key", "/d", true, c.mode|fs.ModeDir, fileOwner{c.uid, c.gid, true}, asDialgate, testNames, ErrHostKeyPerm)
		if c.says == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		u, ok := AsUnsafePath(err)
		if !errors.Is(err, ErrHostKeyPerm) || !errors.Is(err, ErrUnsafeDir) || !ok || !strings.Contains(err.Error(), "/d (holding the host key) "+c.says) {
			t.Errorf("%s: %v, want ErrHostKeyPerm and ErrUnsafeDir saying %q", c.name, err, c.says)
		} else if u.ForUser != c.forUser {
			t.Errorf("%s: ForUser %v, want %v", c.name, u.ForUser, c.forUser)
		}
		// The sentinel's words describe a file's mode, not a directory's.
		if strings.Contains(err.Error(), ErrHostKeyPerm.Error()) {
			t.Errorf("%s: %q ends with the file's label", c.name, err)
		}
	}
}

// TestAccessOf: how a process reaches a users file it trusts: as its
// owner, through the file's group, or as one of the others.
func TestAccessOf(t *testing.T) {
	for _, c := range []struct {
		uid, gid int
		p        procCreds
		want     usersFileAccess
	}{
		{0, 0, asRoot, accessOwner},
		{0, 999, asRoot, accessGroup},
		{999, 999, asDialgate, accessOwner},
		{0, 999, asDialgate, accessGroup},
		{0, 50, procCreds{uid: 999, gid: 999, groups: []int{50}}, accessGroup},
		{0, 0, asDialgate, accessOther},
	} {
		if got := accessOf(fileOwner{c.uid, c.gid, true}, c.p); got != c.want {
			t.Errorf("%d:%d as %d: %d, want %d", c.uid, c.gid, c.p.uid, got, c.want)
		}
	}
}
