//go:build unix

package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadUsersRootOwnedGroupFile: a users file owned by root and given
// to the gateway's group (root:dialgate, mode 0640) loads without a
// warning when root checks it, and mode 0660 is refused with chmod 640.
// Regression: the warning said "other users can read the password
// hashes; run chmod 600 on it", and after that chmod the gateway,
// running as a member of the group, could not read its users file.
// Needs root (to give the file to another group).
func TestLoadUsersRootOwnedGroupFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the users file")
	}
	path := filepath.Join(t.TempDir(), "users.toml")
	if err := policyUsers(t).Save(path); err != nil {
		t.Fatal(err)
	}
	const gid = 4242 // a group that is not root's
	if err := os.Chown(path, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := u.Warnings(); len(w) != 0 {
		t.Errorf("root:%d 0640: warnings %q, want none (the group is how the gateway reads it)", gid, w)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(path); !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(err.Error(), "chmod 640") {
		t.Errorf("root:%d 0660: %v, want ErrUsersFilePerm saying chmod 640", gid, err)
	}
}

// TestSaveKeepsSharedOwner: root saving a users file ("gateway user add"
// run as root) keeps the file's owner and group, and the group's read
// permission of a root-owned file shared with the gateway's group.
// Regression: the file became root:root 0600, which the gateway, running
// as its own user, could not read (every login denied after a reload; at
// start "permission denied"). Needs root.
func TestSaveKeepsSharedOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the users file")
	}
	for _, c := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		want     os.FileMode
	}{
		{"the gateway's own file", 4343, 4242, 0o600, 0o600},
		{"root's, shared through the group", 0, 4242, 0o640, 0o640},
		{"root's, group may not read", 0, 4242, 0o600, 0o600},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.toml")
			u := policyUsers(t)
			if err := u.Save(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, c.uid, c.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := u.Save(path); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != c.uid || int(st.Gid) != c.gid || fi.Mode().Perm() != c.want {
				t.Errorf("after Save: %d:%d %04o, want %d:%d %04o", st.Uid, st.Gid, fi.Mode().Perm(), c.uid, c.gid, c.want)
			}
		})
	}
}

// TestLoadUsersNotRegular: a FIFO (or a directory) where the users file
// should be is refused at once, naming what it is, not waited on: a
// plain open of a FIFO for reading blocks until a writer comes.
func TestLoadUsersNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "users.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadUsers(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file but a FIFO") {
			t.Errorf("LoadUsers(FIFO): %v", err)
		}
	case <-time.After(5 * time.Second):
		w, _ := os.OpenFile(fifo, os.O_WRONLY, 0) // unblock the open
		w.Close()
		<-done
		t.Fatal("LoadUsers waited on a FIFO")
	}
	sub := filepath.Join(dir, "users.d")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(sub); err == nil || !strings.Contains(err.Error(), "not a regular file but a directory") {
		t.Errorf("LoadUsers(directory): %v", err)
	}
}
