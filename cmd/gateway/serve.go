package main

func init() {
	register(command{name: "serve", summary: "answer calls and bridge them to backends (the daemon)", run: runServe})
}

func runServe(args []string) int {
	fs := newFlagSet("serve", "[--config FILE]", `Answer calls on the configured lines, authenticate callers (V.42 LAPM with
Access Security, or text login), call back where configured, and bridge each
session to its backend.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("serve")
}
