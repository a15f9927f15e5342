//go:build !linux

package sockstate

import "net"

// PeerClosed is false where TCP_INFO is not read: the caller's hang-up is
// then noticed when its line is read again.
func PeerClosed(c net.Conn) bool {
	_ = tcpUnder(c)
	return false
}
