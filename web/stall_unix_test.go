//go:build unix

package web

import "syscall"

// stallSignals are the signals stallHook sends the daemon: SIGSTOP
// stalls it, SIGCONT resumes it.
var stallSignals = map[string]syscall.Signal{"stop": syscall.SIGSTOP, "cont": syscall.SIGCONT}
