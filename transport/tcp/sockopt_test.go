//go:build unix

package tcp

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

func sockopt(t *testing.T, l *Line, level, opt int) int {
	t.Helper()
	raw, err := l.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestSocketOptions: both ends of a line have TCP_NODELAY and keepalive
// on; a negative KeepAlive turns keepalive off.
func TestSocketOptions(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, cli := linePair(t, Options{Telnet: true}, Options{KeepAlive: 10 * time.Second})
	for name, l := range map[string]*Line{"server": srv, "client": cli} {
		if sockopt(t, l, syscall.IPPROTO_TCP, syscall.TCP_NODELAY) == 0 {
			t.Errorf("%s: TCP_NODELAY off", name)
		}
		if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
			t.Errorf("%s: keepalive off", name)
		}
	}
	srv2, cli2 := linePair(t, Options{KeepAlive: -1}, Options{KeepAlive: -1})
	for name, l := range map[string]*Line{"server": srv2, "client": cli2} {
		if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0 {
			t.Errorf("%s: keepalive on although disabled", name)
		}
	}
}
