//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeDir is a directory's (or, with target, a symbolic link's) Lstat
// for walkDirs, with its owner in Sys.
type fakeDir struct {
	mode   fs.FileMode
	st     syscall.Stat_t
	target string
}

func (d fakeDir) Name() string { return "" }
func (d fakeDir) Size() int64  { return 0 }
func (d fakeDir) Mode() fs.FileMode {
	if d.target != "" {
		return fs.ModeSymlink | 0o777
	}
	return d.mode | fs.ModeDir
}
func (d fakeDir) ModTime() time.Time { return time.Time{} }
func (d fakeDir) IsDir() bool        { return d.target == "" }
func (d fakeDir) Sys() any           { return &d.st }

func linkOf(uid int, target string) fakeDir {
	d := fakeDir{target: target}
	d.st.Uid, d.st.Gid = uint32(uid), uint32(uid)
	return d
}

func dirOf(uid, gid int, mode fs.FileMode) fakeDir {
	d := fakeDir{mode: mode}
	d.st.Uid, d.st.Gid = uint32(uid), uint32(gid)
	return d
}

// TestWalkDirs: every directory above a users file or host key is
// judged, not only its own (whoever may rename one may put another in
// its place); directories not made yet are skipped; "gateway user" run as
// root passes what depends on the user and nothing else. Symbolic links
// on the way: the directory holding each is judged (security trial: a
// state_dir that was a link in a 0777 directory passed, because only the
// resolved path was walked), and so are the directories it leads
// through, and its owner; the sticky bit passes /tmp above the state
// directory, not the state directory itself.
func TestWalkDirs(t *testing.T) {
	tree := map[string]fakeDir{
		"/":                      dirOf(0, 0, 0o755),
		"/srv":                   dirOf(0, 0, 0o777),
		"/srv/dialgate":          dirOf(999, 999, 0o700),
		"/var":                   dirOf(0, 0, 0o755),
		"/var/lib":               dirOf(0, 0, 0o755),
		"/var/lib/dialgate":      dirOf(999, 999, 0o750),
		"/home":                  dirOf(0, 0, 0o755),
		"/home/alice":            dirOf(1000, 1000, 0o755),
		"/home/alice/.local":     dirOf(1000, 1000, 0o755),
		"/tmp":                   dirOf(0, 0, 0o777|fs.ModeSticky),
		"/tmp/dialgate-alice":    dirOf(1000, 1000, 0o700),
		"/var/lib/dialgate/open": dirOf(999, 999, 0o700),
		// Links: in a world-writable directory, to a good one; in a good
		// directory, to a path through a world-writable one; relative;
		// through another link; planted by alice in /tmp.
		"/var/ww":           dirOf(0, 0, 0o777),
		"/var/ww/state":     linkOf(0, "/var/lib/dialgate"),
		"/var/lib/to-srv":   linkOf(0, "/srv/dialgate"),
		"/var/lib/relative": linkOf(999, "dialgate/open"),
		"/var/lib/nested":   linkOf(0, "../ww/state"),
		"/var/lib/loop":     linkOf(0, "loop"),
		"/tmp/state":        linkOf(1000, "/var/lib/dialgate"),
		"/tmp/root-state":   linkOf(0, "/var/lib/dialgate"),
		// ".." after a link: the parent of where the link led.
		"/B":        dirOf(0, 0, 0o755),
		"/B/good":   dirOf(999, 999, 0o700),
		"/B/good/l": linkOf(999, "/B/ww/sub"),
		"/B/ww":     dirOf(0, 0, 0o777),
		"/B/ww/sub": dirOf(999, 999, 0o700),
	}
	// Chains of 40 links (Linux's limit, followed) and 41 (the open
	// fails with ELOOP), each ending in /srv/dialgate: /var/lib/a0 ->
	// a1 -> ... -> a39 -> /srv/dialgate.
	for prefix, n := range map[string]int{"a": 40, "b": 41} { // not maxLinks: what it must be
		for i := range n {
			target := fmt.Sprintf("%s%d", prefix, i+1)
			if i == n-1 {
				target = "/srv/dialgate"
			}
			tree[fmt.Sprintf("/var/lib/%s%d", prefix, i)] = linkOf(0, target)
		}
	}
	stat := func(p string) (fs.FileInfo, error) {
		if d, ok := tree[p]; ok {
			return d, nil
		}
		if strings.HasPrefix(p, "/srv/enotdir") {
			// Seen when a directory on the way is replaced by a file
			// during the walk.
			return nil, &fs.PathError{Op: "lstat", Path: p, Err: syscall.ENOTDIR}
		}
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	readlink := func(p string) (string, error) {
		if d, ok := tree[p]; ok && d.target != "" {
			return d.target, nil
		}
		return "", &fs.PathError{Op: "readlink", Path: p, Err: syscall.EINVAL}
	}
	alice := procCreds{uid: 1000, gid: 1000}
	for _, c := range []struct {
		dir     string
		p       procCreds
		forEdit bool
		says    string // "": passes
	}{
		{"/var/lib/dialgate", asDialgate, false, ""},
		{"/var/lib/dialgate/open", asDialgate, false, ""},
		{"/var/lib/dialgate/not/made/yet", asDialgate, false, ""},
		{"/home/alice/.local/state/dialgate", alice, false, ""},
		{"/tmp/dialgate-alice", alice, false, ""},
		{"/srv/dialgate", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
		{"/srv/dialgate/new", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
		{"/var/lib/dialgate", asRoot, false, "/var/lib/dialgate (holding the host key) is owned by dialgate"},
		{"/var/lib/dialgate", asRoot, true, ""},
		{"/srv/dialgate", asRoot, true, "/srv (on the way to the host key) has mode 0777"},
		{"/home/alice/.local/state/dialgate", asDialgate, false, "/home/alice/.local (on the way to the host key) is owned by alice"},
		{"/home/alice/.local/state/dialgate", asDialgate, true, "/home/alice/.local (on the way to the host key) is owned by alice"},
		// The state directory itself gets no pass for the sticky bit.
		{"/tmp", alice, false, "/tmp (holding the host key) has mode 1777: every user can create files in it"},
		{"/tmp/", alice, false, "/tmp (holding the host key) has mode 1777"},
		{"/tmp/dialgate-alice/..", alice, false, "/tmp (holding the host key) has mode 1777"},
		{"/tmp/not-made-yet", alice, false, ""},
		// Symbolic links.
		{"/var/ww/state", asDialgate, false, "/var/ww (on the way to the host key) has mode 0777"},
		{"/var/lib/to-srv", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
		{"/var/lib/to-srv/new", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
		{"/var/lib/relative", asDialgate, false, ""},
		{"/var/lib/nested", asDialgate, false, "/var/ww (on the way to the host key) has mode 0777"},
		{"/tmp/root-state", asDialgate, false, ""},
		{"/tmp/state", asDialgate, false, "/tmp/state (on the way to the host key) is owned by alice (uid 1000)"},
		{"/tmp/state", asRoot, false, "/var/lib/dialgate (holding the host key) is owned by dialgate"},
		{"/tmp/state", asRoot, true, ""},         // root editing: the link and the directory are the user's
		{"/var/lib/loop", asDialgate, false, ""}, // the open that follows says ELOOP
		{"/var/lib/a0", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
		{"/var/lib/b0", asDialgate, false, ""}, // the open that follows says ELOOP
		// ".." as the kernel takes it: /B/ww/sub/.. is /B/ww, not /B/good.
		{"/B/good/l/../state", asDialgate, false, "/B/ww (on the way to the host key) has mode 0777"},
		{"/B/good/l/..", asDialgate, false, "/B/ww (holding the host key) has mode 0777"},
		// A refusal found before a name that is not a directory stands.
		{"/srv/enotdir/state", asDialgate, false, "/srv (on the way to the host key) has mode 0777"},
	} {
		err := walkDirs("host key", c.dir, c.forEdit, ErrHostKeyPerm, c.p, testNames, stat, readlink)
		switch {
		case c.says == "" && err != nil:
			t.Errorf("%s as %d (edit %v): %v", c.dir, c.p.uid, c.forEdit, err)
		case c.says != "" && (!errors.Is(err, ErrHostKeyPerm) || !strings.Contains(errString(err), "auth: directory "+c.says) && !strings.Contains(errString(err), "auth: symbolic link "+c.says)):
			t.Errorf("%s as %d (edit %v): %v, want one saying %q", c.dir, c.p.uid, c.forEdit, err, c.says)
		}
	}
}

// TestLoadRefusesWritableStateDir: a state directory every user may
// write in is refused by LoadHostKey before it reads the key, and
// LoadOrCreateHostKey does not make a key there; the users file in it is
// refused too. The sticky bit does not change that for the directory
// holding them (security trial: a 1777 state_dir passed), only for one
// above it.
func TestLoadRefusesWritableStateDir(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "state")
	if _, err := CreateHostKey(dir, false); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	if err := policyUsers(t).Save(users); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		bits := "0777"
		if mode&os.ModeSticky != 0 {
			bits = "1777"
		}
		want := "auth: directory " + dir + " (holding the host key) has mode " + bits + ": every user can "
		if _, err := LoadHostKey(dir); !errors.Is(err, ErrHostKeyPerm) || !errors.Is(err, ErrUnsafeDir) || !strings.HasPrefix(errString(err), want) || !strings.HasSuffix(errString(err), "run chmod o-w "+dir) {
			t.Errorf("LoadHostKey in a %s directory: %v, want %q... run chmod o-w %s", bits, err, want, dir)
		}
		if _, err := LoadUsers(users); !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(errString(err), "(holding the users file) has mode "+bits) {
			t.Errorf("LoadUsers in a %s directory: %v", bits, err)
		}
		if err := os.Remove(filepath.Join(dir, HostKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateHostKey(dir); !errors.Is(err, ErrHostKeyPerm) {
			t.Errorf("LoadOrCreateHostKey in a %s directory: %v", bits, err)
		}
		// gateway keygen's way in (it made a key here that serve
		// then refused), with overwrite and without; with 0777 also in a
		// directory still to be made below this one (below a sticky
		// one, as below /tmp, that is allowed).
		dirs := []string{dir}
		if mode&os.ModeSticky == 0 {
			dirs = append(dirs, filepath.Join(dir, "sub"))
		}
		for _, d := range dirs {
			for _, overwrite := range []bool{false, true} {
				if _, err := CreateHostKey(d, overwrite); !errors.Is(err, ErrHostKeyPerm) {
					t.Errorf("CreateHostKey(%s, %v) in a %s directory: %v", d, overwrite, bits, err)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "sub")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a directory was made in a %s directory: %v", bits, err)
		}
		if _, err := os.Stat(filepath.Join(dir, HostKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a key was made in a %s directory: %v", bits, err)
		}
	}
	// Sticky above the state directory, as /tmp is: both load.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateHostKey(dir); err != nil {
		t.Errorf("0700 state directory in a 1777 one: %v", err)
	}
	if _, err := LoadUsers(users); err != nil {
		t.Errorf("0700 state directory in a 1777 one: %v", err)
	}
}

// TestLoadRefusesLinkInWritableDir: a state directory reached through a
// symbolic link that sits in a world-writable directory is refused,
// naming that directory, though the directory the link leads to is
// sound (security trial: only the resolved path was judged, and gateway
// check said ok); the same through a link in a sound directory loads.
func TestLoadRefusesLinkInWritableDir(t *testing.T) {
	top := t.TempDir()
	real := filepath.Join(top, "real", "state")
	if _, err := CreateHostKey(real, false); err != nil {
		t.Fatal(err)
	}
	ww := filepath.Join(top, "ww")
	if err := os.Mkdir(ww, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(ww, "state")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	want := "auth: directory " + ww + " (on the way to the host key) has mode 0777"
	if _, err := LoadHostKey(link); !errors.Is(err, ErrHostKeyPerm) || !strings.HasPrefix(errString(err), want) {
		t.Errorf("LoadHostKey through a link in a 0777 directory: %v, want %q", err, want)
	}
	if err := os.Chmod(ww, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(link); err != nil {
		t.Errorf("LoadHostKey through a link in a 0755 directory: %v", err)
	}
}

// TestLoadHostKeyNoFollow: a host_key that is a symbolic link is not
// read through, even where the directory check would pass (one a user
// could write in before it was tightened): the error names the link.
func TestLoadHostKeyNoFollow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := CreateHostKey(dir, false); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, HostKeyFile)
	other := filepath.Join(dir, "elsewhere")
	if err := os.Rename(key, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, key); err != nil {
		t.Fatal(err)
	}
	want := "auth: host key " + key + " is a symbolic link, which is not followed"
	if _, _, err := LoadOrCreateHostKey(dir); !errors.Is(err, ErrSymlink) || !strings.HasPrefix(errString(err), want) {
		t.Errorf("LoadOrCreateHostKey with a linked host_key: %v, want %q", err, want)
	}
	// CreateHostKey --force replaces the link, and leaves its target.
	before, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateHostKey(dir, true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(key); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after keygen --force: %v %v, want a regular file", fi, err)
	}
	if after, err := os.ReadFile(other); err != nil || string(after) != string(before) {
		t.Errorf("keygen --force wrote through the link: %v", err)
	}
}

// TestRootRefusesPlantedLink: as root, a symbolic link that another
// user (nobody, uid 65534) put in a sticky directory on the way to the
// state directory is refused, naming its owner; root's own link there
// loads; and a users file whose directory nobody owns, reached through
// a link of root's, is refused. Needs root (to give files away).
func TestRootRefusesPlantedLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a link to uid 65534; the walk is tested without root in TestWalkDirs")
	}
	const nobody = 65534
	top := t.TempDir()
	real := filepath.Join(top, "real")
	if _, err := CreateHostKey(real, false); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(top, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "state")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(link); err != nil {
		t.Errorf("root's link in a sticky directory: %v", err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := "auth: symbolic link " + link + " (on the way to the host key) is owned by "
	if _, err := LoadHostKey(link); !errors.Is(err, ErrHostKeyPerm) || !strings.HasPrefix(errString(err), want) {
		t.Errorf("nobody's link in a sticky directory: %v, want %q", err, want)
	}

	// A users file that is a link of root's to one in nobody's directory.
	theirs := filepath.Join(top, "theirs")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := policyUsers(t).Save(filepath.Join(theirs, "users.toml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(real, "users.toml")
	if err := os.Symlink(filepath.Join(theirs, "users.toml"), users); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(users); !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(errString(err), "auth: directory "+theirs+" (holding the users file) is owned by ") {
		t.Errorf("users file linked into nobody's directory: %v", err)
	}
}

// TestLoadRefusesOtherUsersFiles: the security trial's cases through the
// real loading path. A gateway running as root refuses a users file that
// nobody (uid 65534) owns, mode 0644 or 0600, naming the owner and the
// chown; "gateway user" run as root may still edit it, and the file stays
// nobody's; the host key and a state directory nobody owns are refused.
// Needs root (to give files to another user).
func TestLoadRefusesOtherUsersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to uid 65534; the judging is tested without root in TestJudgeUsersFile, TestJudgeHostKeyOwner, TestJudgeDir")
	}
	const nobody = 65534
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := CreateHostKey(dir, false); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	u := policyUsers(t)
	if err := u.Save(users); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(users, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o600} {
		if err := os.Chmod(users, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadUsers(users)
		pe, ok := AsUnsafePath(err)
		if !errors.Is(err, ErrUsersFilePerm) || !ok || pe.Path != users || !pe.ForUser ||
			!strings.Contains(err.Error(), "(uid 65534), not by root, the user the gateway runs as") ||
			!strings.Contains(err.Error(), "chown root:root "+users) {
			t.Errorf("nobody's users file, mode %04o: %v", mode, err)
		}
	}
	// gateway user add, run as root: loads it, saves it, keeps the owner.
	edit, err := LoadUsersToEdit(users)
	if err != nil {
		t.Fatalf("LoadUsersToEdit as root: %v", err)
	}
	if err := edit.Save(users); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(users); err != nil || ownerOf(fi).uid != nobody {
		t.Errorf("after Save: %v %+v, want nobody's still", err, ownerOf(fi))
	}

	key := filepath.Join(dir, HostKeyFile)
	if err := os.Chown(key, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err = LoadHostKey(dir)
	if !errors.Is(err, ErrHostKeyPerm) || !strings.Contains(errString(err), "auth: host key "+key+" is owned by ") || !strings.Contains(errString(err), "gateway keygen --force") {
		t.Errorf("nobody's 0600 host key: %v", err)
	}
	if _, _, err := LoadOrCreateHostKey(dir); !errors.Is(err, ErrHostKeyPerm) {
		t.Errorf("LoadOrCreateHostKey with nobody's host key: %v", err)
	}
	if err := os.Chown(key, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); err != nil {
		t.Errorf("root's host key: %v", err)
	}

	// The directory: nobody's, so nobody may replace root's files in it.
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); !errors.Is(err, ErrHostKeyPerm) || !strings.Contains(errString(err), "auth: directory "+dir+" (holding the host key) is owned by ") {
		t.Errorf("nobody's state directory: %v", err)
	}
	if _, err := LoadUsersToEdit(users); err != nil {
		t.Errorf("LoadUsersToEdit in nobody's directory as root: %v", err)
	}
}

// TestLoadHostKeyNotRegular: a FIFO or a directory at host_key is
// refused at once, saying what it is, by LoadHostKey and
// LoadOrCreateHostKey. Trial: with mkfifo state/host_key, gateway check
// hung in open(2).
func TestLoadHostKeyNotRegular(t *testing.T) {
	for _, kind := range []string{"FIFO", "directory"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			key := filepath.Join(dir, HostKeyFile)
			var err error
			if kind == "FIFO" {
				err = syscall.Mkfifo(key, 0o600)
			} else {
				err = os.Mkdir(key, 0o700)
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := LoadOrCreateHostKey(dir)
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("LoadOrCreateHostKey with host_key a %s: still blocked after 5 s", kind)
			}
			want := "auth: host key " + key + " is not a regular file but a " + kind
			if !errors.Is(err, ErrBadHostKey) || !strings.HasPrefix(errString(err), want) {
				t.Errorf("LoadOrCreateHostKey with host_key a %s: %v, want %q", kind, err, want)
			}
		})
	}
}
