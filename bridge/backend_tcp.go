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

// dialTCP connects to addr and sends the PROXY v2 header when asked.
func dialTCP(ctx context.Context, addr string, timeout time.Duration, proxy bool, s Session) (*net.TCPConn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
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
