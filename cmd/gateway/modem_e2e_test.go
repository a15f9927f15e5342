//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestE2EModemGateway is the whole caller side against the real daemon
// (`gateway serve`, built binary, V.42 detection on its listener): a test
// types AT commands into `gateway modem`'s pty, dials the gateway with the
// phonebook's credentials, and reaches the echo backend through V.42 LAPM
// with Access Security: CONNECT .../LAPM, data both ways byte-exact, +++,
// ATO, +++, ATH. Then a plain (non-V.42) call to the same gateway gets the
// text login, typed by the DTE. Last, the daemon is killed mid-call: NO
// CARRIER, and the modem goes on to call a BBS.
func TestE2EModemGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	dte, exp, dir := startBookModem(t, g.addr)
	defer dte.Close()

	send(t, dte, "ATDT555-4242\r")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	all = append(all, "through the sealed link"...)
	send(t, dte, string(all))
	exp.expect(t, string(all))
	escape := func() {
		time.Sleep(400 * time.Millisecond)
		send(t, dte, "+++")
		exp.expect(t, "+++") // the backend echoes the escape characters
		exp.expect(t, "\r\nOK\r\n")
	}
	escape()
	send(t, dte, "ATO\r")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	send(t, dte, "still sealed")
	exp.expect(t, "still sealed")
	escape()
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	if b, err := os.ReadFile(filepath.Join(dir, "known_hosts")); err != nil || len(b) == 0 {
		t.Fatalf("gateway key not recorded on first use: %v", err)
	}

	// Without V.42 the same gateway offers its text login.
	send(t, dte, "ATDTgwplain\r")
	exp.expect(t, "\r\nCONNECT 115200\r\n")
	exp.expect(t, "login: ")
	send(t, dte, "bob\r")
	exp.expect(t, "password: ")
	send(t, dte, "pw-bob\r")
	send(t, dte, "plain echo")
	exp.expect(t, "plain echo")
	escape()
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	recs := g.waitRecords(2)
	if r := recs[0]; r.User != "bob" || r.Mode != "v42" || r.LAPM == nil || !r.LAPM.Sealed {
		t.Errorf("first call record %+v", r)
	}

	// The gateway disappears mid-call: NO CARRIER, and the modem dials on.
	send(t, dte, "ATDTgw\r")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	send(t, dte, "before the crash")
	exp.expect(t, "before the crash")
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-g.done
	exp.expect(t, "\r\nNO CARRIER\r\n")
	bbs := startBBS(t)
	send(t, dte, "ATDT"+bbs.addr()+"\r")
	exp.expect(t, "\r\nCONNECT 115200\r\n")
	exp.expect(t, "Welcome to the test BBS")
}

// startBookModem starts gateway modem with a phonebook of two entries for
// the gateway at addr: "gw" (number 555-4242), a V.42 call logged in as
// bob, and "gwplain", a plain call; resets it (&F E0 V1 X4, a short
// escape guard).
func startBookModem(t *testing.T, addr string) (dte *os.File, exp *ptyExpect, dir string) {
	t.Helper()
	dir = t.TempDir()
	book := filepath.Join(dir, "phonebook.toml")
	if err := os.WriteFile(book, []byte(fmt.Sprintf(`[[entry]]
name = "gw"
number = "555-4242"
address = "telnet://%[1]s"
user = "bob"
password = "pw-bob"

[[entry]]
name = "gwplain"
address = "telnet://%[1]s"
mode = "plain"
`, addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, tofu: true, knownHosts: filepath.Join(dir, "known_hosts"), timeout: 20 * time.Second})
	dte, exp = openDTE(t, m.link)
	send(t, dte, "AT&F E0 V1 X4 S12=10\r")
	exp.expect(t, "OK\r\n")
	return dte, exp, dir
}
