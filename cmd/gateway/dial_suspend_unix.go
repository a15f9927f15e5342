//go:build unix && !linux

package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// stopSelf stops dial as the terminal's Ctrl-Z would (SIGTSTP, whose
// default action Go leaves in place): a shell with job control takes the
// terminal back, and SIGCONT (fg, bg) continues dial here. The stop can
// take effect a moment after kill(2) returns (another thread may take
// the signal), so stopSelf waits for the SIGCONT; without job control
// the signal is discarded, no SIGCONT comes, and it goes on after a
// second. (Linux sends it to the calling thread instead, which stops
// before the call returns.) Continued, it raises SIGWINCH for itself: a
// resize while it was stopped went to the shell's process group.
func stopSelf() error {
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGCONT)
	defer signal.Stop(cont)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTSTP); err != nil {
		return err
	}
	select {
	case <-cont:
	case <-time.After(time.Second):
	}
	return syscall.Kill(syscall.Getpid(), syscall.SIGWINCH)
}
