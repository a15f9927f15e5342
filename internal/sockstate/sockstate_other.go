//go:build !linux

package sockstate

import "net"

// Peer is Unknown where TCP_INFO is not read: the caller's hang-up is
// then noticed when its line is read again.
func Peer(c net.Conn) State {
	_ = TCPUnder(c)
	return Unknown
}

// Unsent cannot tell where SIOCOUTQ is not read.
func Unsent(c net.Conn) (n int, ok bool) {
	_ = TCPUnder(c)
	return 0, false
}
