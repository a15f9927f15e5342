package sockstate

import (
	"net"

	"golang.org/x/sys/unix"
)

// Peer reads the state of the TCP connection under c (TCP_INFO),
// whatever c has not read yet: octets the peer sent before its FIN do
// not hide it.
func Peer(c net.Conn) State {
	t := TCPUnder(c)
	if t == nil {
		return Unknown
	}
	rc, err := t.SyscallConn()
	if err != nil {
		return Unknown
	}
	var state uint8
	if rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = info.State
		}
	}) != nil {
		return Unknown
	}
	// Linux's tcp_states.h: 1 ESTABLISHED, 7 CLOSE, 8 CLOSE_WAIT.
	switch state {
	case 0:
		return Unknown
	case 1:
		return Open
	case 8:
		return HalfClosed
	}
	return Gone
}

// Unsent returns how many octets written to the TCP connection under c
// wait in its send queue (not yet sent, or sent and not acknowledged:
// SIOCOUTQ); ok is false when it cannot tell. A small write to a
// connection with nothing unsent does not wait.
func Unsent(c net.Conn) (n int, ok bool) {
	t := TCPUnder(c)
	if t == nil {
		return 0, false
	}
	rc, err := t.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ierr error
	if rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }) != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
