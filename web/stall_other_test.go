//go:build !unix

package web

import (
	"context"
	"syscall"
)

// stallSignals is empty where a process cannot be stopped by a signal:
// stallHook refuses every request.
var stallSignals = map[string]syscall.Signal{}

// waitStopped: no stall signals here.
func waitStopped(context.Context, int) error { return nil }
