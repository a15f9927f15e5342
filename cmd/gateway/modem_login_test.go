//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestE2EModemTypedLogin: a V.42 gateway dialed by address, with no login
// in the phonebook, through the real daemon (`gateway serve`, built
// binary) and the modem's pty. The modem asks on the DTE, only once the
// gateway has proved its host key: "testgw login:" (echoed), "Password:"
// (not echoed), and logs in with what was typed. A wrong password gets
// the gateway's denial and NO CARRIER; user@host asks for the password
// only; Ctrl-C abandons; a DTR drop at the Password: prompt hangs up, and
// the next DTE session is clean.
func TestE2EModemTypedLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	dir := t.TempDir()
	m := startModemCmd(t, modemFlags{tofu: true, knownHosts: filepath.Join(dir, "known_hosts"), timeout: 20 * time.Second})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "AT&F E0 V1 X4 S12=10\r")
	exp.expect(t, "OK\r\n")

	// Typed login.
	send(t, dte, "ATDT"+g.addr+"\r")
	exp.expect(t, "testgw login: ")
	send(t, dte, "bp\bob\r") // a typo, erased with BS
	exp.expect(t, "bp\b \bob\r\n")
	exp.expect(t, "Password: ")
	send(t, dte, "pw-bob\r")
	got := exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	if strings.Contains(got, "pw-bob") {
		t.Fatalf("the password was echoed: %q", got)
	}
	send(t, dte, "typed login works")
	exp.expect(t, "typed login works")
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "\r\nOK\r\n")
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	if b, err := os.ReadFile(filepath.Join(dir, "known_hosts")); err != nil || len(b) == 0 {
		t.Fatalf("gateway key not recorded on first use: %v", err)
	}

	// user@host: only the password is asked; a wrong one is denied.
	time.Sleep(2100 * time.Millisecond) // the gateway's hold-off after a call
	send(t, dte, "ATDTbob@"+g.addr+"\r")
	got = exp.expect(t, "Password: ")
	if strings.Contains(got, "login:") {
		t.Fatalf("asked for the user given in the dial string: %q", got)
	}
	if !strings.HasSuffix(got, "\r\nPassword: ") {
		t.Fatalf("the prompt does not begin a line of its own: %q", got)
	}
	send(t, dte, "wrong\r")
	exp.expect(t, "access denied\r\n\r\nNO CARRIER\r\n")

	// Ctrl-C at the prompt abandons the dial.
	time.Sleep(2100 * time.Millisecond)
	send(t, dte, "ATDT"+g.addr+"\r")
	exp.expect(t, "login: ")
	send(t, dte, "bo\x03")
	exp.expect(t, "NO CARRIER\r\n")
	send(t, dte, "AT\r")
	exp.expect(t, "OK\r\n")

	// DTR drop at the Password: prompt hangs up.
	time.Sleep(2100 * time.Millisecond)
	send(t, dte, "ATDT"+g.addr+"\r")
	exp.expect(t, "login: ")
	send(t, dte, "bob\r")
	exp.expect(t, "Password: ")
	send(t, dte, "pw-b") // half typed
	dte.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(m.log.String(), "DTE dropped DTR") {
		if time.Now().After(deadline) {
			t.Fatalf("no DTR drop; log:\n%s", m.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	expectFresh(t, m)
	recs := g.waitRecords(2)
	if r := recs[0]; r.User != "bob" || r.Mode != "v42" {
		t.Errorf("typed login's record %+v", r)
	}
	for _, r := range recs {
		if strings.Contains(r.Reason, "pw-b") {
			t.Errorf("a record holds the password: %+v", r)
		}
	}
	if strings.Contains(m.log.String(), "pw-b") {
		t.Error("the modem logged the password")
	}
}

// TestE2EModemLoginOutlastsGateway: the gateway's handshake_deadline
// (2 s here) bounds the whole typed login. When it passes while the
// modem waits at the prompt, the gateway hangs up and the prompt ends at
// once: the DTE gets "the gateway stopped waiting for the login" and
// NO CARRIER, not a prompt on a dead line.
func TestE2EModemLoginOutlastsGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect", handshakeDeadline: "2s"})
	dir := g.dir
	m := startModemCmd(t, modemFlags{tofu: true, knownHosts: filepath.Join(dir, "known_hosts"), timeout: 20 * time.Second})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "AT&F E0 V1 X4\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATDT"+g.addr+"\r")
	exp.expect(t, "login: ")
	start := time.Now()
	exp.expect(t, "the gateway stopped waiting for the login\r\n\r\nNO CARRIER\r\n")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the prompt ended %v after it was shown", d)
	}
	if r := g.waitRecords(1)[0]; r.Reason != "login timed out" {
		t.Errorf("record %+v, want the login timed out", r)
	}
	send(t, dte, "AT\r")
	exp.expect(t, "OK\r\n")
}
