//go:build unix && !linux

package bridge

import "os"

// pollable returns f as it is: creack/pty's blocking pty master. Only on
// Linux is the master moved to Go's poller (backend_pty_linux.go):
// creack/pty found non-blocking pty masters to spin on macOS, and no test
// runs on these systems. Here a write blocked behind a program that reads
// nothing is not cut short by Close (docs/operators.md).
func pollable(f *os.File) (*os.File, error) { return f, nil }

// packetMode leaves the master as it is here (see the Linux version):
// no system but Linux runs the tests.
func packetMode(*os.File) bool { return false }

// tryRead is never called here (packetMode is off).
func tryRead(*os.File, []byte) (int, bool) { return 0, false }

// setTermSpeed leaves the terminal's speed at the system's default here:
// only Linux sets it to the line's rate (see the Linux version).
func setTermSpeed(*os.File, int) error { return nil }

// dropOutput leaves the pty's output as it is here (telnet AO): only
// Linux, where the tests run, flushes it.
func (c *ptyConn) dropOutput() error { return nil }
