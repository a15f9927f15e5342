//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/auth"
)

// TestCheckAsRootForServiceUser: root checking the configuration of a
// gateway that runs as the state directory's owner (docs/operators.md
// step 3, contrib/gateway.service's ExecStartPre) is told to run the
// check as that user (runuser -u USER -- gateway check FILE), not to
// chown the state directory to root, which would lock the service out
// (trial: "run chown root /var/lib/dialgate"). Needs root.
func TestCheckAsRootForServiceUser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the state directory to another user")
	}
	const nobody = 65534
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	key, _, err := auth.LoadOrCreateHostKey(state)
	if err != nil {
		t.Fatal(err)
	}
	key.Wipe()
	for _, p := range []string{state, filepath.Join(state, auth.HostKeyFile)} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ownerTestConfig(t, dir, filepath.Join(dir, "users.toml"))
	code, stdout, stderr := checkBinary(t, "", cfg)
	out := stdout.String() + stderr.String()
	if code != exitOK || strings.Contains(out, "chown root") {
		t.Errorf("check as root of nobody's state_dir: exit %d, output:\n%s\nwant exit 0 and no chown root", code, out)
	}
	if want := "runuser -u " + stateDirUser(state) + " -- gateway check " + cfg; !strings.Contains(stderr.String(), want) {
		t.Errorf("check as root of nobody's state_dir: stderr:\n%s\nwant %q", stderr, want)
	}
	if !strings.Contains(stdout.String(), ": ok only for a gateway running as ") {
		t.Errorf("stdout %q lacks the last line", stdout)
	}
}
