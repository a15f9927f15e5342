package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestServeSocketActivation: under systemd's socket activation (its
// systemd-socket-activate, which listens, waits for the first caller and
// then starts the gateway with the sockets, as a socket unit does) the
// telnet listener answers on the socket passed for its address, the
// caller who started it included, and a socket no listener has is named
// in the log.
func TestServeSocketActivation(t *testing.T) {
	activate := testutil.NeedBinary(t, "systemd-socket-activate")
	addr, spare := freePort(t), freePort(t)
	g := newGatewayNoStart(t, gwOpts{addr: addr, wrap: []string{activate, "-l", addr, "-l", spare}})
	g.launch()
	g.waitLog("Listening on " + spare) // systemd-socket-activate's
	s := telnetTo(t, addr)             // starts the gateway
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	g.waitLog(`"msg":"socket activation","sockets":["` + addr + `","` + spare + `"]`)
	g.waitLog(`no listener in the configuration has the address of a socket systemd passed`)
	g.waitLog(`"socket":"` + spare + `"`)
	s.send("done\r")
	s.expect("NO CARRIER")
}

// TestServeRestartWithPassedSocket: with the listening socket held for
// it (as by a socket unit), a caller who dials while the gateway is
// restarted waits and is answered by the next gateway, instead of being
// refused between one gateway's exit and the next one's start.
func TestServeRestartWithPassedSocket(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// sh's $$ is the gateway's process ID once sh execs it.
	g := newGateway(t, gwOpts{addr: ln.Addr().String(), inherited: []*os.File{f},
		wrap: []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"`, "sh"}})
	g.waitLog(`"msg":"socket activation"`)
	g.stop()
	if strings.Contains(g.log.String(), "no listener in the configuration has the address") {
		t.Fatalf("the passed socket was not the listener's:\n%s", g.log.String())
	}

	s := telnetTo(t, g.addr) // between the two gateways
	s.expect("Connected to")
	g.start()
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	s.send("restarted\r")
	s.expect("got:restarted")
}
