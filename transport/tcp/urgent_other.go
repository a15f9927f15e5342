//go:build !unix

package tcp

import "net"

// InlineUrgent keeps TCP urgent data in the stream where the system
// lets us (SO_OOBINLINE, on Unix); elsewhere it does nothing.
func InlineUrgent(*net.TCPConn) error { return nil }
