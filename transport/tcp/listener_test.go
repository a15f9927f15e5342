package tcp

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestListenDialErrorsSayItOnce: a listen or dial error names the
// operation and the address once ("tcp: listen ADDR: bind: address
// already in use", not the net package's "listen tcp ADDR: ..." behind
// it), and still unwraps to the system error and *net.OpError.
func TestListenDialErrorsSayItOnce(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := hostPort(ln)
	_, err = Listen(addr, Options{})
	if err == nil {
		t.Fatal("second Listen on the same address succeeded")
	}
	checkOnce(t, err, "tcp: listen "+addr+": bind: address already in use", syscall.EADDRINUSE)
	ln.Close()

	// The port is free now: nobody answers there.
	_, err = Dial(testCtx(t), addr, Options{})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	checkOnce(t, err, "tcp: dial "+addr+": connect: connection refused", syscall.ECONNREFUSED)
}

func checkOnce(t *testing.T, err error, want string, errno syscall.Errno) {
	t.Helper()
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, errno) {
		t.Errorf("error %q does not wrap %v", err, errno)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("error %q does not wrap a *net.OpError", err)
	}
}

// TestListenerAddrAsConfigured: Addr shows the host as configured with
// the port bound: a listener on 0.0.0.0 is not shown as [::] (which the
// system reports for it), and the address it shows can be dialled.
func TestListenerAddrAsConfigured(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, c := range []struct{ addr, prefix string }{
		{"0.0.0.0:0", "telnet://0.0.0.0:"},
		{"127.0.0.1:0", "telnet://127.0.0.1:"},
		{"[::1]:0", "telnet://[::1]:"},
		{":0", "telnet://"},
	} {
		ln, err := Listen(c.addr, Options{Telnet: true})
		if err != nil {
			if c.addr == "[::1]:0" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		got := ln.Addr()
		_, port, _ := net.SplitHostPort(hostPort(ln))
		if !strings.HasPrefix(got, c.prefix) || !strings.HasSuffix(got, ":"+port) {
			t.Errorf("Listen(%q).Addr() = %q, want %s...:%s", c.addr, got, c.prefix, port)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("Addr %q is not a URL: %v", got, err)
			ln.Close()
			continue
		}
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Errorf("dial Addr %q: %v", got, err)
		} else {
			conn.Close()
		}
		ln.Close()
	}
}
