//go:build unix

package tcp

import (
	"net"
	"syscall"
)

// InlineUrgent keeps TCP urgent data in the stream (SO_OOBINLINE).
// Telnet's Synch (RFC 854) sends IAC DM with the urgent pointer, and so
// does `send synch` in telnet and a telnetd answering an interrupt; the
// kernel otherwise takes the urgent octet out of the stream, leaving the
// IAC's command octet (0xF2) behind as data. Every telnet implementation
// sets it.
func InlineUrgent(tc *net.TCPConn) error {
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	}); err != nil {
		return err
	}
	return serr
}
