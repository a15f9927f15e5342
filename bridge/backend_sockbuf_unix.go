//go:build unix

package bridge

import "syscall"

// boundBackendBuffers is dialTCP's Control for the connection to a
// backend of a paced line (see pacedBackendBuffer): a receive buffer of
// about a second of the line, and segments of at most maxPacedSegment
// octets, set before the SYN so that the backend learns both.
func boundBackendBuffers(rcvbuf int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, maxPacedSegment)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
