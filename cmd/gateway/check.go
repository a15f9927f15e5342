package main

func init() {
	register(command{name: "check", summary: "validate a configuration file without starting", run: runCheck})
}

func runCheck(args []string) int {
	fs := newFlagSet("check", "[FILE]", `Validate a configuration file (default: config.toml) and report every
problem with file:line:column. Exit 0 when it is valid.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("check")
}
