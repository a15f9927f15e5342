package main

func init() {
	register(command{name: "keygen", summary: "create the gateway host key and print its fingerprint", run: runKeygen})
}

func runKeygen(args []string) int {
	fs := newFlagSet("keygen", "[--state-dir DIR]", `Create the gateway's static host key (X25519) in the state directory with
mode 0600 and print its SHA256 fingerprint, which callers pin.`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return notBuilt("keygen")
}
