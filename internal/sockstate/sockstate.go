// Package sockstate reads the state of a connection's socket without
// reading from it: whether the peer has closed its end. The bridge asks
// while it cannot read the caller's line (its writes to a backend that
// does not read are blocked), so that a caller who hung up then is
// noticed at once, not at the idle timeout.
package sockstate

import (
	"crypto/tls"
	"net"
)

// tcpUnder is the TCP connection under c: c itself, or the one under a
// TLS connection; nil for anything else.
func tcpUnder(c net.Conn) *net.TCPConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*net.TCPConn)
	return t
}
