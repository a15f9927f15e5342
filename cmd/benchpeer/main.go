// Command benchpeer is dialgate's performance harness (issue 7): a
// loopback backend with echo and bulk source modes, load clients for every
// path a caller can take into the gateway, and the orchestrator that starts
// the gateway and the baselines (direct TCP, a socat relay, a bare Go
// relay, websockify) in
// the same run and prints one table of medians and ratios.
//
// It is run by scripts/bench; see docs/BENCHMARKS.md for the figures, the
// targets of DESIGN.md and how to reproduce them. Everything it starts
// listens on 127.0.0.1 only, and every load is bounded in count and time.
//
//	benchpeer backend [-listen ADDR]         serve the backend protocol
//	benchpeer relay [-listen ADDR] -to ADDR  the bare relay baseline (splice)
//	benchpeer run -gateway BIN [-quick] ...  the whole benchmark
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = runBackend(os.Args[2:])
	case "relay":
		err = runRelay(os.Args[2:])
	case "run":
		err = runBench(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "benchpeer: ") {
			msg = "benchpeer: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchpeer backend [-listen ADDR] | benchpeer relay [-listen ADDR] -to ADDR | benchpeer run -gateway BIN [-quick]")
	os.Exit(2)
}
