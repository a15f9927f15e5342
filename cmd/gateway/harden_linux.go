package main

import "golang.org/x/sys/unix"

// hardenProcess keeps the host key, TLS keys and passwords in flight out
// of core dumps and away from other processes of the gateway's user:
// the process is made non-dumpable (no core file; only root may ptrace
// it or read its memory), as sshd does. Programs the gateway starts on a
// pty are dumpable again after their exec.
func hardenProcess() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
