package bridge

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestPacedBackendBuffersBounded: the connection to a tcp or telnet
// backend of a paced line has a receive buffer of about a second of the
// line and asks the backend for segments of at most maxPacedSegment, so
// that the output a backend wrote before a caller's Ctrl-C cannot pile up
// in the TCP buffers between them. BBS trial: 2.9 MB waited there
// (telnetd on loopback, 64 KiB segments), 3.3 hours at 2,400 bit/s
// before the shell's prompt. An unpaced line keeps the system's buffers.
func TestPacedBackendBuffersBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c.(*net.TCPConn)
		}
	}()
	sockopt := func(c *net.TCPConn, level, opt int) int {
		t.Helper()
		raw, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var serr error
		if err := raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		return v
	}
	for _, rate := range []int{0, 2400, 33600} {
		c, err := dialTCP(context.Background(), ln.Addr().String(), 0, false, Session{LineRate: rate})
		if err != nil {
			t.Fatal(err)
		}
		back := <-accepted
		rcvbuf := sockopt(c, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		sent := sockopt(back, syscall.IPPROTO_TCP, syscall.TCP_MAXSEG) // what the backend sends
		c.Close()
		back.Close()
		if rate == 0 {
			if rcvbuf <= 2*pacedBackendBuffer(33600) || sent <= maxPacedSegment {
				t.Errorf("unpaced line: receive buffer %d, backend's segments %d: want the system's", rcvbuf, sent)
			}
			continue
		}
		// Linux doubles SO_RCVBUF for its bookkeeping.
		if want := 2 * pacedBackendBuffer(rate); rcvbuf > want {
			t.Errorf("line_rate %d: receive buffer %d, want at most %d", rate, rcvbuf, want)
		}
		if sent > maxPacedSegment {
			t.Errorf("line_rate %d: the backend sends segments of %d octets, want at most %d", rate, sent, maxPacedSegment)
		}
	}
}
