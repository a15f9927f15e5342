//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// modemCallbackSetup starts the real daemon (built `gateway serve`) whose
// user carol has the modem's --answer address as her callback address and
// a 200 ms [callback] delay, and `gateway modem` answering there. The
// phonebook has "gw" (auto: V.42 with carol's credentials) and "gwtext"
// (plain: the text login).
func modemCallbackSetup(t *testing.T, v42 string) (*testGateway, *os.File, *ptyExpect) {
	t.Helper()
	answer := "telnet://" + freePort(t)
	g := newCallbackGateway(t, v42, answer, echoBackend(t))
	dir := t.TempDir()
	book := filepath.Join(dir, "phonebook.toml")
	if err := os.WriteFile(book, []byte(fmt.Sprintf(`[[entry]]
name = "gw"
address = "telnet://%[1]s"
user = "carol"
password = "pw-carol"

[[entry]]
name = "gwtext"
address = "telnet://%[1]s"
mode = "plain"
`, g.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, tofu: true, knownHosts: filepath.Join(dir, "known_hosts"),
		timeout: 20 * time.Second, answer: answer})
	if m.answer != answer {
		t.Fatalf("modem answers on %q, want %q", m.answer, answer)
	}
	dte, exp := openDTE(t, m.link)
	t.Cleanup(func() { dte.Close() })
	send(t, dte, "AT&F E0 V1 X4 S12=10\r")
	exp.expect(t, "OK\r\n")
	return g, dte, exp
}

// TestE2EModemV42Callback is the callback flow through the real daemon:
// the DTE dials with ATDT, Access Security CONFIRMs with a callback, so
// the DTE sees CONNECT .../LAPM, the notice and NO CARRIER; the daemon
// calls the modem's --answer address back, the modem RINGs, the DTE
// answers with ATA, the modem proves the ticket (phases v/vi), CONNECT
// .../LAPM, and every byte value goes to the echo backend and back.
func TestE2EModemV42Callback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	g, dte, exp := modemCallbackSetup(t, "detect")
	send(t, dte, "ATDTgw\r")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	exp.expect(t, ": the gateway hung up and will call back\r\n")
	exp.expect(t, "\r\nNO CARRIER\r\n")
	// The daemon's V.42 detection gives the answer T400 (750 ms) from its
	// connect; should a loaded machine miss that, the daemon hangs up and
	// calls again (attempts = 2), and the modem rings again.
	for attempt := 1; ; attempt++ {
		exp.expect(t, "\r\nRING\r\n")
		send(t, dte, "ATA\r")
		if exp.expectOneOf(t, "\r\nCONNECT 115200/LAPM\r\n", "\r\nNO CARRIER\r\n") == 0 {
			break
		}
		if attempt == 2 {
			t.Fatalf("no callback answered; gateway log:\n%s", g.log.String())
		}
	}
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	all = append(all, "on the callback"...)
	send(t, dte, string(all))
	exp.expect(t, string(all))
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "+++\r\nOK\r\n") // the backend echoes the escape characters
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	recs := g.waitRecords(2)
	if len(recs) != 2 || recs[0].Result != "callback" || recs[1].Mode != "callback" || recs[1].Session != recs[0].Session ||
		recs[1].Result != "completed" || recs[1].CallbackAttempts < 1 || recs[1].User != "carol" ||
		recs[1].LAPM == nil || !recs[1].LAPM.Sealed || recs[1].LAPM.Cipher != defaultCipher().String() {
		t.Errorf("records: %+v", recs)
	}
}

// expectOneOf waits for the first of several texts and says which it was.
func (e *ptyExpect) expectOneOf(t testing.TB, texts ...string) int {
	t.Helper()
	return e.ExpectOneOf(t, texts...)
}

// TestE2EModemTextCallback is the text-mode callback through the real
// daemon: a plain call gets the text login; the daemon says it will call
// back and hangs up (NO CARRIER); its call to the modem rings and S0=1
// answers it (no V.42 callback is pending, so the call is answered
// plainly); the daemon asks the DTE to confirm, and the session reaches
// the echo backend.
func TestE2EModemTextCallback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	g, dte, exp := modemCallbackSetup(t, "detect")
	send(t, dte, "ATS0=1\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATDTgwtext\r")
	exp.expect(t, "\r\nCONNECT 115200\r\n")
	exp.expect(t, "login: ")
	send(t, dte, "carol\r")
	exp.expect(t, "password: ")
	send(t, dte, "pw-carol\r")
	exp.expect(t, "called back")
	exp.expect(t, "\r\nNO CARRIER\r\n")
	exp.expect(t, "\r\nRING\r\n")
	exp.expect(t, "\r\nCONNECT 115200\r\n")
	exp.expect(t, "Type your user name to accept: ")
	send(t, dte, "carol\r")
	exp.expect(t, "Callback accepted.")
	send(t, dte, "echoed on the callback")
	exp.expect(t, "echoed on the callback")
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "+++\r\nOK\r\n")
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	checkCallbackRecords(t, g)
	if strings.Contains(g.log.String(), "pw-carol") {
		t.Error("the daemon logged the password")
	}
}
