//go:build unix

package bridge

import "syscall"

// boundBackendBuffers is dialTCP's Control for the connection to a
// backend of a paced line (see pacedBackendBuffer): a receive buffer of
// about a second of the line, and segments of at most maxPacedSegment
// octets, set before the SYN so that the backend learns both. Both are
// best effort: a system that refuses one (the BSDs and macOS take a
// TCP_MAXSEG before the connection only up to their default segment, 512
// or 536 octets) still connects, with its own buffers.
func boundBackendBuffers(rcvbuf int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, maxPacedSegment)
		})
	}
}
