//go:build !unix

package web

import "syscall"

// stallSignals is empty where a process cannot be stopped by a signal:
// stallHook refuses every request.
var stallSignals = map[string]syscall.Signal{}
