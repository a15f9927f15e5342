package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestHardenProcess: after hardenProcess the process is not dumpable (no
// core file, no ptrace by its user). It hardens the test binary itself,
// which costs the tests nothing.
func TestHardenProcess(t *testing.T) {
	if err := hardenProcess(); err != nil {
		t.Fatal(err)
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("dumpable %d, %v; want 0", d, err)
	}
}
