package main

func init() {
	register(command{name: "dial", summary: "call a gateway from this terminal", run: runDial})
}

func runDial(args []string) int {
	fs := newFlagSet("dial", "[flags] URL", `Call a gateway at URL (telnet://host:port, ws://host:port/line, ...) with
V.42 detection, LAPM and Access Security, then connect this terminal to the
session. '~.' at the start of a line hangs up.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("dial")
}
