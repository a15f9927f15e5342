package bridge

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// tcpBackend is a raw TCP service: octets pass unchanged.
type tcpBackend struct {
	name    string
	addr    string
	proxy   bool
	timeout time.Duration
	// callerEcho: the service does not echo (echo = "caller").
	callerEcho bool
}

func (b *tcpBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	c, err := dialTCP(ctx, b.addr, b.timeout, b.proxy, s)
	if err != nil {
		return nil, err
	}
	if b.callerEcho {
		return callerEchoConn{tcpConn{c}}, nil
	}
	return tcpConn{c}, nil
}

// maxPacedSegment is the largest TCP segment a paced line's backend is
// asked to send (Ethernet's). On loopback segments are 64 KiB, and a
// sender's kernel keeps about twenty of its segments queued: the 2.7 MB
// a telnetd had queued when its program was interrupted (BBS trial).
const maxPacedSegment = 1460

// pacedBackendBuffer is the receive buffer of the connection to a tcp
// or telnet backend of a line paced at rate bit/s: about a second of the
// line, at least 4 KiB. Without it, what the backend's program wrote
// before the caller's Ctrl-C waits in the TCP buffers between it and the
// gateway, and reaches the caller before the program's prompt: 2.9 MB
// in the BBS trial (telnetd on loopback), 3.3 hours at 2,400 bit/s;
// 95 KB with these bounds.
func pacedBackendBuffer(rate int) int { return max(4096, rate/10) }

// dialTCP connects to addr and sends the PROXY v2 header when asked. For
// a paced line (s.LineRate) it bounds the connection's buffers
// (pacedBackendBuffer).
func dialTCP(ctx context.Context, addr string, timeout time.Duration, proxy bool, s Session) (*net.TCPConn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	if s.LineRate > 0 {
		d.Control = boundBackendBuffers(pacedBackendBuffer(s.LineRate))
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBackendUnavailable, addr, err)
	}
	tc := c.(*net.TCPConn)
	// Urgent data from the service stays in the stream (a telnet
	// backend's Synch: see tcp.InlineUrgent).
	_ = tcp.InlineUrgent(tc)
	if proxy {
		hdr := appendProxyV2(nil, hostPort(s.Remote), hostPort(s.Local))
		if _, err := tc.Write(hdr); err != nil {
			tc.Close()
			return nil, fmt.Errorf("%w: %s: PROXY header: %v", ErrBackendUnavailable, addr, err)
		}
	}
	return tc, nil
}

type tcpConn struct{ *net.TCPConn }

func (tcpConn) Resize(transport.WindowSize) error { return nil }

// callerEchoConn is a session with a tcp backend that does not echo
// (echo = "caller"). A service that does (a BBS) is a plain tcpConn: the
// gateway keeps the echo the text login took, and the caller's terminal
// shows what the service sends back.
type callerEchoConn struct{ tcpConn }

// followEcho gives a telnet caller its local echo back: the service
// does not echo what it is sent.
func (callerEchoConn) followEcho(set func(on bool)) { set(false) }
