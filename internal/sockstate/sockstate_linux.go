package sockstate

import (
	"net"

	"golang.org/x/sys/unix"
)

// PeerClosed reports whether c's peer has closed its end: the TCP
// connection under c is no longer ESTABLISHED (a FIN or RST arrived, or
// c was closed), whatever c has not read yet. It is false for
// connections that are not TCP and when the state cannot be read.
func PeerClosed(c net.Conn) bool {
	t := tcpUnder(c)
	if t == nil {
		return false
	}
	rc, err := t.SyscallConn()
	if err != nil {
		return false
	}
	var state uint8
	cerr := rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			state = info.State
		}
	})
	// 0: not read; 1: TCP_ESTABLISHED.
	return cerr == nil && state > 1
}
