//go:build !unix

package bridge

import "syscall"

// boundBackendBuffers does nothing where the system's socket options are
// not at hand (see the Unix version).
func boundBackendBuffers(int) func(network, address string, c syscall.RawConn) error { return nil }
