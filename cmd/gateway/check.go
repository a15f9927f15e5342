package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

func init() {
	register(command{name: "check", summary: "validate a configuration file without starting", run: runCheck})
}

func runCheck(args []string) int {
	fs := newFlagSet("check", "[FILE]", `Validate a configuration file (default: config.toml) and report every
problem with file:line:column, then read the users file it names as
gateway serve does. Exit 0 when both are valid; warnings (a pty backend's
program missing, text login in clear beyond loopback, a users file other
users can read, an account whose backend the configuration does not
define) are printed but do not fail the check. A users file other
users can write fails it: gateway serve would refuse it.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "gateway check: at most one FILE")
		return exitUsage
	}
	path := "config.toml"
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	c, err := config.Load(path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintln(os.Stderr, p.Error())
			}
			fmt.Fprintf(os.Stderr, "gateway check: %s: %d problem(s)\n", path, len(ps))
		} else if fs.NArg() == 0 && errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "gateway check: %v (name the file: gateway check FILE)\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "gateway check: %v\n", err)
		}
		return exitFailure
	}
	warnings := c.Warnings()
	if why := stateDirProblem(c.StateDir); why != "" {
		who := currentUserName()
		warnings = append(warnings, fmt.Sprintf("state_dir %s: %s (run the check as the gateway's user; a gateway running as user %s would not start; install -d -m 0700 -o USER %s makes it for USER)", c.StateDir, why, who, c.StateDir))
	}
	users, err := auth.LoadUsers(c.UsersFile)
	switch {
	case err == nil:
		// A users file other users can read; accounts whose backend
		// the configuration lacks.
		warnings = append(warnings, users.Warnings()...)
		warnings = append(warnings, userBackendWarnings(c, users)...)
	case errors.Is(err, iofs.ErrNotExist):
		// c.Warnings says so and how to add a user.
	case errors.Is(err, iofs.ErrPermission):
		// The operator may check the file as another user than the
		// gateway's, which alone may read the users file.
		warnings = append(warnings, fmt.Sprintf("users file %s not checked: %s may not read it (run the check as the gateway's user; a gateway running as %s would not start)", c.UsersFile, currentUserName(), currentUserName()))
	default:
		// gateway serve would not start with it.
		fmt.Fprintf(os.Stderr, "gateway check: %v\n", err)
		return exitFailure
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Printf("%s: ok (%d listener(s), %d backend(s), state in %s)\n", path, len(c.Listeners), len(c.Backends), c.StateDir)
	return exitOK
}

// backendDefined reports whether name is a backend calls can reach: one
// the configuration defines, or the built-in demo.
func backendDefined(c *config.Config, name string) bool {
	_, ok := c.Backend(name)
	return ok || name == "demo"
}

// backendNames lists the backends c defines, for messages.
func backendNames(c *config.Config) string {
	names := []string{}
	for _, b := range c.Backends {
		names = append(names, b.Name)
	}
	if !slices.Contains(names, "demo") {
		names = append(names, "demo")
	}
	return strings.Join(names, ", ")
}

// userBackendWarnings names the accounts whose backend c does not define
// (a typo in "gateway user set --backend", a backend renamed or removed):
// such a user's login succeeds and the call then ends with "NO CARRIER
// (service ... is not available)".
func userBackendWarnings(c *config.Config, users *auth.Users) []string {
	var ws []string
	for _, u := range users.List() {
		if u.Backend != "" && !backendDefined(c, u.Backend) {
			ws = append(ws, fmt.Sprintf("user %s has backend %q, which the configuration does not define (it has %s): their calls will fail; fix it with gateway user set --backend NAME %s", u.ID, u.Backend, backendNames(c), u.ID))
		}
	}
	return ws
}

// currentUserName names the user this process runs as, for messages
// about files it may not read: the login name, else the uid.
func currentUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// stateDirProblem says why this process could not use dir as its state
// directory, "" if it could: dir must be a directory it may write in, or
// not exist yet in a directory it may write in (gateway serve creates it).
func stateDirProblem(dir string) string {
	for d := dir; ; {
		st, err := os.Stat(d)
		switch {
		case err == nil && !st.IsDir():
			return d + " is not a directory"
		case err == nil && unix.Access(d, unix.W_OK|unix.X_OK) != nil:
			if d == dir {
				return "user " + currentUserName() + " may not write in it"
			}
			return "it does not exist, and user " + currentUserName() + " may not create it in " + d
		case err == nil:
			return ""
		case !errors.Is(err, iofs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR):
			return err.Error()
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}
