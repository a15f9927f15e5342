//go:build linux

package main

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// stopSelf stops dial as the terminal's Ctrl-Z would (SIGTSTP, whose
// default action Go leaves in place): a shell with job control takes the
// terminal back, and SIGCONT (fg, bg) continues dial here. Without job
// control the signal is discarded and dial goes on at once.
//
// The signal goes to this thread (tgkill), so the stop takes effect
// before the system call returns: sent to the process, another thread
// could take it a moment later, after suspend had put raw mode back,
// and the shell's modes were then left on after fg (review: keys echoed
// locally, Ctrl-C ending dial; TestDialSuspend failed 3 of 5).
// Continued, it raises SIGWINCH for itself: a resize while it was
// stopped went to the shell's process group, not to dial's.
func stopSelf() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGTSTP); err != nil {
		return err
	}
	return unix.Kill(unix.Getpid(), unix.SIGWINCH)
}
