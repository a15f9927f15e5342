package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

func init() {
	register(command{name: "keygen", summary: "create the gateway host key and print its fingerprint", run: runKeygen})
}

const keygenHelp = `Create the gateway's static host key (X25519, RFC 7748) as host_key in the
state directory (created with mode 0700; the key file gets mode 0600) and
print its fingerprint, which callers pin: publish it next to the gateway's
address. An existing key is kept, and its fingerprint printed (exit 0, so
that provisioning scripts may run keygen every time), unless --force is
given; replacing it makes
every caller that pinned or trusted the old key refuse the gateway with a
"REMOTE HOST IDENTIFICATION HAS CHANGED" warning until they update their
known hosts. "gateway serve" creates the key itself on first start when
there is none.

The state directory is --state-dir, else the configuration's state_dir (with
--config), else $XDG_STATE_HOME/dialgate or ~/.local/state/dialgate.

host_key format: text; lines starting with '#' are comments (the public key
and fingerprint are noted there for convenience and are not read back); one
line holds the 32-octet private key in standard base64. The gateway refuses
a key file that other users can read or write.

Fingerprint: "SHA256:" and the unpadded base64 of the SHA-256 of the
32-octet public key, in the style of OpenSSH.`

func runKeygen(args []string) int { return keygenMain(args, os.Stdout, os.Stderr) }

func keygenMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("keygen", "[--state-dir DIR | --config FILE] [--force]", keygenHelp)
	stateDir := fs.String("state-dir", "", "state directory (default: see above)")
	cfgPath := fs.String("config", "", "configuration file: use its state_dir")
	force := fs.Bool("force", false, "replace an existing host key")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway keygen: unexpected arguments: %q\n", fs.Args())
		return exitUsage
	}
	dir := *stateDir
	if dir == "" {
		cfg := config.Demo()
		if *cfgPath != "" {
			var err error
			if cfg, err = config.LoadSettings(*cfgPath); err != nil {
				fmt.Fprintf(stderr, "gateway keygen: %v\n", err)
				return exitFailure
			}
		}
		dir = cfg.StateDir
	}
	dir = config.CleanPath(dir)
	path := filepath.Join(dir, auth.HostKeyFile)
	key, err := auth.CreateHostKey(dir, *force)
	if errors.Is(err, auth.ErrHostKeyExists) {
		// Kept, and reported as created keys are: provisioning scripts
		// may run keygen on every deployment, and what they want is
		// the fingerprint. A key that cannot be loaded is a failure.
		old, lerr := auth.LoadHostKey(dir)
		if lerr != nil {
			fmt.Fprintf(stderr, "gateway keygen: a host key already exists at %s but cannot be used: %v (--force replaces it; callers that pinned it will then refuse the gateway)\n", path, lerr)
			return exitFailure
		}
		defer old.Wipe()
		fmt.Fprintf(stdout, "kept host key %s\nfingerprint: %s\npublic key:  %s\n", path, old.Fingerprint(), base64.StdEncoding.EncodeToString(old.Public))
		fmt.Fprintln(stderr, "gateway keygen: a host key already exists; kept it. --force replaces it (callers that pinned it will then refuse the gateway).")
		return exitOK
	}
	if unsafeForOtherUser(err, dir) {
		// root making the key of a gateway that runs as the state
		// directory's owner: the refusal's "chown root" would lock that
		// gateway out; the key must be that user's.
		fmt.Fprintf(stderr, "gateway keygen: %s; the gateway that uses it runs as %s: create the key as that user, not as root: runuser -u %s -- gateway keygen %s\n",
			refusedWhy(err), stateDirOwner(dir), stateDirUser(dir), strings.Join(args, " "))
		return exitFailure
	}
	if err != nil && errors.Is(err, iofs.ErrPermission) {
		// New-user trial: a bare "permission denied" on the key's
		// temporary file.
		fmt.Fprintf(stderr, "gateway keygen: %v (user %s may not write in the state directory %s: run keygen as the gateway's user, runuser -u %s -- gateway keygen %s, or as root make the directory that user's: install -d -m 0700 -o USER %s)\n",
			err, currentUserName(), dir, stateDirUser(dir), strings.Join(args, " "), dir)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway keygen: %v\n", err)
		return exitFailure
	}
	defer key.Wipe()
	verb := "created"
	if *force {
		verb = "wrote"
	}
	fmt.Fprintf(stdout, "%s host key %s\nfingerprint: %s\npublic key:  %s\n", verb, path, key.Fingerprint(), base64.StdEncoding.EncodeToString(key.Public))
	if *force && gatewayRunning(dir) {
		// The running gateway loaded its key at start (operator
		// trial: the printed fingerprint was published, and callers
		// that pinned it were refused until the next restart).
		fmt.Fprintln(stderr, "gateway keygen: a gateway is running with this state directory and still serves the old key: restart it (systemctl restart gateway) before you publish the new fingerprint")
	}
	return exitOK
}
