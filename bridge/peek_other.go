//go:build !unix

package bridge

import (
	"context"
	"net"
)

// peekOctet has no MSG_PEEK here: the proxy's own connections (LOCAL)
// are taken for health checks and closed.
func peekOctet(context.Context, *net.TCPConn) bool { return false }
