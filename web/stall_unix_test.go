//go:build unix

package web

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// stallSignals are the signals stallHook sends the daemon: SIGSTOP
// stalls it, SIGCONT resumes it.
var stallSignals = map[string]syscall.Signal{"stop": syscall.SIGSTOP, "cont": syscall.SIGCONT}

// waitStopped waits until process pid is stopped (state T in
// /proc/PID/stat), for up to 10 s. Without /proc (not Linux) it returns
// at once: the stop is then only as prompt as kill(2).
func waitStopped(ctx context.Context, pid int) error {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " T") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the daemon did not stop: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
