//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestE2EBusyReasons: a real `gateway serve` with one line and a long
// hold-off turns callers away with a reason before BUSY: all lines busy
// (the line held by a telnet caller), redialled too soon (every test
// caller is 127.0.0.1, which the held call's hang-up puts in hold-off),
// down for maintenance (after a reload). For each, a raw caller (socat)
// hears the reason line then BUSY last, the inetutils telnet client shows
// both, gateway dial (V.42 and --text) exits 11 and prints the reason,
// gateway modem (X4, verbose) shows the reason then its BUSY result code,
// and through a plain phonebook entry (as tcpser) CONNECT, the gateway's
// words, NO CARRIER.
func TestE2EBusyReasons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	socat := testutil.NeedBinary(t, "socat")
	g := newGateway(t, gwOpts{maxConcurrent: 1, v42: "detect", holdoff: "10m"})
	dte, exp, dir := startBookModem(t, g.addr)
	defer dte.Close()

	check := func(name, why string) {
		t.Helper()
		reason := regexp.MustCompile("^testgw: " + why + "$")
		// A raw caller: the reason line, then BUSY as the last line.
		out, err := exec.Command(socat, "-u", "TCP:"+g.addr, "STDOUT").Output()
		if err != nil {
			t.Fatalf("%s: socat: %v", name, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
		if !strings.HasSuffix(string(out), "\r\nBUSY\r\n") || len(lines) < 2 || !reason.MatchString(lines[len(lines)-2]) {
			t.Errorf("%s: a raw caller heard %q, want the reason (%s) then BUSY", name, out, reason)
		}
		// The telnet client shows them.
		tn := telnetTo(t, g.addr)
		said := tn.expect("BUSY")
		if !regexp.MustCompile("testgw: " + why + "\r+\n+BUSY").MatchString(said) {
			t.Errorf("%s: telnet showed %q", name, said)
		}
		tn.close()
		// gateway dial, V.42 and text: exit 11, the reason on stderr.
		for _, args := range [][]string{{"--user", "bob", "--tofu", "--known-hosts", filepath.Join(dir, "kh")}, {"--text"}} {
			p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, append(args, "telnet://"+g.addr)...)
			p.stdin.Close()
			if code := p.wait(t); code != exitBusy {
				t.Errorf("%s: dial %v exited %d, want %d; stderr:\n%s", name, args, code, exitBusy, p.stderr)
			}
			if !regexp.MustCompile("busy: the gateway answered BUSY: testgw: " + why + "\n").MatchString(p.stderr.String()) {
				t.Errorf("%s: dial %v stderr does not give the reason:\n%s", name, args, p.stderr)
			}
		}
		// gateway modem: the reason where it explains, then BUSY.
		send(t, dte, "ATDTgw\r")
		said = exp.expect(t, "\r\nBUSY\r\n")
		if !regexp.MustCompile("\r\ntestgw: " + why + "\r\n\r\nBUSY\r\n$").MatchString(said) {
			t.Errorf("%s: the modem's DTE saw %q", name, said)
		}
		// A plain entry passes the gateway's words through, as tcpser.
		send(t, dte, "ATDTgwplain\r")
		said = exp.expect(t, "\r\nNO CARRIER\r\n")
		if !regexp.MustCompile("\r\nCONNECT 115200\r\n\r\ntestgw: " + why + "\r\nBUSY\r\n\r\nthe other end hung up\r\n\r\nNO CARRIER\r\n$").MatchString(said) {
			t.Errorf("%s: plain: the modem's DTE saw %q", name, said)
		}
	}

	holder := telnetTo(t, g.addr)
	holder.expect("login: ")
	check("all lines busy", "all lines busy; try again later")

	holder.close()
	g.waitRecords(1 + 6) // the held call's record, and the six busy calls'
	check("hold-off", "redialled too soon; try again in [0-9]+ s")

	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.cfgPath, []byte(strings.Replace(string(conf), "[lines]\n", "[lines]\nmaintenance = true\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	check("maintenance", "down for maintenance; try again later")
}
