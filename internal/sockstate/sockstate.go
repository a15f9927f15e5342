// Package sockstate reads the state of a connection's socket without
// reading from it: whether the peer has closed or reset its end. The
// bridge asks while it cannot read the caller's line (its writes to a
// backend that does not read are blocked), so that a caller who hung up
// then is noticed, not at the idle timeout.
package sockstate

import (
	"crypto/tls"
	"net"
)

// State is what a connection's socket says of its peer.
type State int

const (
	// Unknown: not a TCP connection, or the state cannot be read here.
	Unknown State = iota
	// Open: connected (ESTABLISHED).
	Open
	// HalfClosed: the peer sent FIN (CLOSE_WAIT). It may have hung up,
	// or only closed its sending side and still read.
	HalfClosed
	// Gone: reset, or otherwise past the peer's close.
	Gone
)

// TCPUnder is the TCP connection under c (or c itself), looking through TLS and
// through wrappers that offer NetConn (as *tls.Conn does); nil for
// anything else.
func TCPUnder(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
