//go:build unix

package main

import "syscall"

// stopSelf stops dial as the terminal's Ctrl-Z would (SIGTSTP, whose
// default action Go leaves in place): a shell with job control takes the
// terminal back, and SIGCONT (fg, bg) continues dial here. Without job
// control the signal is discarded and dial goes on at once. Continued,
// it raises SIGWINCH for itself: a resize while it was stopped went to
// the shell's process group, not to dial's, and the call should hear of
// it.
func stopSelf() error {
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTSTP); err != nil {
		return err
	}
	return syscall.Kill(syscall.Getpid(), syscall.SIGWINCH)
}
