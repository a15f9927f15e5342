package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/dialgate/dialgate/internal/config"
)

func init() {
	register(command{name: "check", summary: "validate a configuration file without starting", run: runCheck})
}

func runCheck(args []string) int {
	fs := newFlagSet("check", "[FILE]", `Validate a configuration file (default: config.toml) and report every
problem with file:line:column. Exit 0 when it is valid; warnings (a pty
backend's program missing, text login in clear beyond loopback) are printed
but do not fail the check.`)
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
	for _, w := range c.Warnings() {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Printf("%s: ok (%d listener(s), %d backend(s), state in %s)\n", path, len(c.Listeners), len(c.Backends), c.StateDir)
	return exitOK
}
