package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	register(command{name: "version", summary: "print the version", run: runVersion})
}

func runVersion(args []string) int {
	fs := newFlagSet("version", "", "Print dialgate's version, the commit it was built from (when the build recorded it) and the Go toolchain it was built with.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Printf("dialgate %s (%s %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// versionString is the version: -ldflags's (make build stamps `git
// describe`), else the module's (go install, or go build with VCS
// stamping: a pseudo-version that names the commit), else "dev" with the
// commit go build recorded, if it did: "dev+a1b2c3d4e5f6[-modified]"
// (operator trial: every build said "dev", so an upgrade could not be
// confirmed from the log or the metrics).
func versionString() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return version
	}
	v := version + "+" + rev[:min(len(rev), 12)]
	if modified == "true" {
		v += "-modified"
	}
	return v
}
