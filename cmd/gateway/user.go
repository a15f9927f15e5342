package main

func init() {
	register(command{name: "user", summary: "manage the users file", run: runUser})
}

func runUser(args []string) int {
	fs := newFlagSet("user", "add|passwd|del|list [flags] [USER]", `Add, change, delete or list users in the users file. Passwords are read
without echo, or from standard input with --password-stdin.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("user")
}
