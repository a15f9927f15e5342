//go:build unix

package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeDir is a directory's Stat for walkDirs, with its owner in Sys.
type fakeDir struct {
	mode fs.FileMode
	st   syscall.Stat_t
}

func (d fakeDir) Name() string       { return "" }
func (d fakeDir) Size() int64        { return 0 }
func (d fakeDir) Mode() fs.FileMode  { return d.mode | fs.ModeDir }
func (d fakeDir) ModTime() time.Time { return time.Time{} }
func (d fakeDir) IsDir() bool        { return true }
func (d fakeDir) Sys() any           { return &d.st }

func dirOf(uid, gid int, mode fs.FileMode) fakeDir {
	d := fakeDir{mode: mode}
	d.st.Uid, d.st.Gid = uint32(uid), uint32(gid)
	return d
}

// TestWalkDirs: every directory above a users file or host key is
// judged, not only its own (whoever may rename one may put another in
// its place); directories not made yet are skipped; "gateway user" run as
// root passes what depends on the user and nothing else.
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
	}
	stat := func(p string) (fs.FileInfo, error) {
		if d, ok := tree[p]; ok {
			return d, nil
		}
		return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
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
		{"/srv/dialgate", asDialgate, false, "/srv (holding the host key) has mode 0777"},
		{"/srv/dialgate/new", asDialgate, false, "/srv (holding the host key) has mode 0777"},
		{"/var/lib/dialgate", asRoot, false, "/var/lib/dialgate (holding the host key) is owned by dialgate"},
		{"/var/lib/dialgate", asRoot, true, ""},
		{"/srv/dialgate", asRoot, true, "/srv (holding the host key) has mode 0777"},
		{"/home/alice/.local/state/dialgate", asDialgate, false, "/home/alice/.local (holding the host key) is owned by alice"},
		{"/home/alice/.local/state/dialgate", asDialgate, true, "/home/alice/.local (holding the host key) is owned by alice"},
	} {
		err := walkDirs("host key", c.dir, c.forEdit, ErrHostKeyPerm, c.p, testNames, stat)
		switch {
		case c.says == "" && err != nil:
			t.Errorf("%s as %d (edit %v): %v", c.dir, c.p.uid, c.forEdit, err)
		case c.says != "" && (!errors.Is(err, ErrHostKeyPerm) || !strings.Contains(errString(err), "auth: directory "+c.says)):
			t.Errorf("%s as %d (edit %v): %v, want one saying %q", c.dir, c.p.uid, c.forEdit, err, c.says)
		}
	}
}

// TestLoadRefusesWritableStateDir: a state directory every user may
// write in (without the sticky bit) is refused by LoadHostKey before it
// reads the key, and LoadOrCreateHostKey does not make a key there; the
// users file in it is refused too; with the sticky bit both load.
func TestLoadRefusesWritableStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := CreateHostKey(dir, false); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	if err := policyUsers(t).Save(users); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	want := "auth: directory " + dir + " (holding the host key) has mode 0777: every user can replace the files in it, so it is not used; run chmod o-w " + dir
	if _, err := LoadHostKey(dir); !errors.Is(err, ErrHostKeyPerm) || !strings.HasPrefix(errString(err), want) {
		t.Errorf("LoadHostKey in a 0777 directory: %v, want %q", err, want)
	}
	if _, err := LoadUsers(users); !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(errString(err), "(holding the users file) has mode 0777") {
		t.Errorf("LoadUsers in a 0777 directory: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, HostKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateHostKey(dir); !errors.Is(err, ErrHostKeyPerm) {
		t.Errorf("LoadOrCreateHostKey in a 0777 directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, HostKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key was made in a 0777 directory: %v", err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateHostKey(dir); err != nil {
		t.Errorf("sticky 1777 directory: %v", err)
	}
	if _, err := LoadUsers(users); err != nil {
		t.Errorf("sticky 1777 directory: %v", err)
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
