//go:build linux

package main

import (
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestModemFlowFlag: --flow sets the flow control (&K) at start, over the
// saved profile, on a pty too (XON/XOFF in band; the modem package's
// TestPTYInbandXONXOFF shows its effect); AT&K changes it.
func TestModemFlowFlag(t *testing.T) {
	testutil.CheckGoroutines(t)
	m := startModemCmd(t, modemFlags{flow: "xonxoff", flowSet: true})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "AT&V\r")
	exp.expect(t, "&C1 &D2 &K4 &S0")
	exp.expect(t, "OK\r\n")
	send(t, dte, "AT&K0&V\r")
	exp.expect(t, "&C1 &D2 &K0 &S0")
}

// TestModemSignalFlagsNeedSerial: the circuit flags, a bad --flow and a
// --term that is no terminal name are usage errors before anything
// starts.
func TestModemSignalFlagsNeedSerial(t *testing.T) {
	for _, args := range [][]string{{"--ri", "rts"}, {"--dsr", "dtr"}, {"--flow", "dtrdsr"}, {"--term", "../vt100"}, {"--term", "unknown"}} {
		if code := runModem(args); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
