package main

func init() {
	register(command{name: "modem", summary: "Hayes AT modem emulator on a pty, serial port or stdio", run: runModem})
}

func runModem(args []string) int {
	fs := newFlagSet("modem", "[flags]", `Present a Hayes-compatible modem to a DTE (pty, serial device or stdio). ATD
dials a gateway with the full protocol; incoming callbacks ring the DTE.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("modem")
}
