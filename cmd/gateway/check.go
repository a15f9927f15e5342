package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

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
users can read) are printed but do not fail the check. A users file other
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
	users, err := auth.LoadUsers(c.UsersFile)
	switch {
	case err == nil:
		// A users file other users can read.
		warnings = append(warnings, users.Warnings()...)
	case errors.Is(err, iofs.ErrNotExist):
		// c.Warnings says so and how to add a user.
	case errors.Is(err, iofs.ErrPermission):
		// The operator may check the file as another user than the
		// gateway's, which alone may read the users file.
		warnings = append(warnings, fmt.Sprintf("users file %s not checked: this user may not read it (run the check as the gateway's user)", c.UsersFile))
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
