package auth

import (
	"errors"
	"os"
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
		if c.access == accessGroup && strings.Contains(warning+errString(err), "chmod 600 ") {
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
