//go:build unix

package bridge

import (
	"context"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// peekOctet waits, until ctx ends, for c to have an octet to read, and
// leaves it there (MSG_PEEK). It reports false when c was closed, reset
// or ctx ended first.
func peekOctet(ctx context.Context, c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		_ = c.SetReadDeadline(time.Time{})
	}()
	var (
		n    int
		rerr error
		b    [1]byte
	)
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		// false: nothing yet; the poller waits for the socket to be
		// readable (or the deadline) and calls again.
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	return err == nil && rerr == nil && n > 0
}
