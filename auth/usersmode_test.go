package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckUsersFileMode: what each mode means for a process that owns
// the users file, reads it through the file's group, or neither; every
// message names a chmod that keeps the file readable by the gateway.
func TestCheckUsersFileMode(t *testing.T) {
	for _, c := range []struct {
		access  usersFileAccess
		mode    os.FileMode
		refused bool
		warn    bool
		fix     string
	}{
		{accessOwner, 0o600, false, false, ""},
		{accessOwner, 0o640, false, true, "chmod 600"},
		{accessOwner, 0o604, false, true, "chmod 600"},
		{accessOwner, 0o660, true, false, "chmod 600"},
		// root:dialgate 0640, read by the gateway through its group: no
		// warning, and never "chmod 600", which locks the gateway out.
		{accessGroup, 0o640, false, false, ""},
		{accessGroup, 0o440, false, false, ""},
		{accessGroup, 0o644, false, true, "chmod 640"},
		{accessGroup, 0o660, true, false, "chmod 640"},
		{accessGroup, 0o642, true, false, "chmod 640"},
		// Readable by the gateway only as one of the others.
		{accessOther, 0o644, false, true, "owner"},
		{accessOther, 0o666, true, false, "owner"},
	} {
		warning, err := checkUsersFileMode("/etc/dialgate/users.toml", c.mode, c.access)
		switch {
		case c.refused:
			if !errors.Is(err, ErrUsersFilePerm) || !strings.Contains(err.Error(), c.fix) {
				t.Errorf("access %d mode %04o: %v, want ErrUsersFilePerm saying %q", c.access, c.mode, err, c.fix)
			}
		case err != nil:
			t.Errorf("access %d mode %04o: %v", c.access, c.mode, err)
		case c.warn != (warning != ""):
			t.Errorf("access %d mode %04o: warning %q, want one: %v", c.access, c.mode, warning, c.warn)
		case c.warn && !strings.Contains(warning, c.fix):
			t.Errorf("access %d mode %04o: warning %q does not say %q", c.access, c.mode, warning, c.fix)
		}
		if c.access == accessGroup && strings.Contains(warning+errString(err), "chmod 600 on it") {
			t.Errorf("access %d mode %04o: advises chmod 600 on a file the gateway does not own: %q %v", c.access, c.mode, warning, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

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
