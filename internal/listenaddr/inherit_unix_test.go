//go:build unix

package listenaddr

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// passFD returns a duplicate of the socket's descriptor, as a service
// manager would pass it (the test's copy stays open, as systemd's does).
func passFD(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	return fd
}

// TestInheritedSocketServesItsListener: a passed listening socket is
// taken by the listener configured for its address (and by no other),
// and answers there; one no listener took is left over.
func TestInheritedSocketServesItsListener(t *testing.T) {
	t.Cleanup(func() { Leftover() })
	a, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addrs, err := inheritFDs([]int{passFD(t, a.(*net.TCPListener)), passFD(t, b.(*net.TCPListener))})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].String() != a.Addr().String() {
		t.Fatalf("inherited %v, want %s and %s", addrs, a.Addr(), b.Addr())
	}
	ln, err := Listen(net.ListenConfig{}, a.Addr().String())
	if err != nil {
		t.Fatalf("listen on the passed socket's address: %v", err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Taken once: a second listener there binds anew, and the address
	// is in use (the service manager's copy).
	if ln2, err := Listen(net.ListenConfig{}, a.Addr().String()); err == nil {
		ln2.Close()
		t.Fatal("the passed socket was handed out twice (or the address was free)")
	}
	left := Leftover()
	if len(left) != 1 || left[0].String() != b.Addr().String() {
		t.Fatalf("left over %v, want %s", left, b.Addr())
	}
	if len(Leftover()) != 0 {
		t.Fatal("Leftover returned the sockets twice")
	}
}

// TestInheritRefusesWhatIsNotAListeningTCPSocket: a datagram socket and
// a connection (a socket unit with Accept=yes) are refused with what to
// change, and nothing passed before them is kept.
func TestInheritRefusesWhatIsNotAListeningTCPSocket(t *testing.T) {
	t.Cleanup(func() { Leftover() })
	good, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	conn, err := net.Dial("tcp", good.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct {
		what string
		fd   int
		want string
	}{
		{"a UDP socket", passFD(t, udp.(*net.UDPConn)), "ListenStream="},
		{"a connection", passFD(t, conn.(*net.TCPConn)), "Accept=no"},
	} {
		_, err := inheritFDs([]int{passFD(t, good.(*net.TCPListener)), c.fd})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error that says %s", c.what, err, c.want)
		}
		if left := Leftover(); len(left) != 0 {
			t.Errorf("%s: kept %v", c.what, left)
		}
	}
}

// TestListenNamesThePassedSocketElsewhere: a listener whose address is
// in use because the passed socket on its port has another address
// (ListenStream=PORT binds [::]) says so.
func TestListenNamesThePassedSocketElsewhere(t *testing.T) {
	t.Cleanup(func() { Leftover() })
	all, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer all.Close()
	if _, err := inheritFDs([]int{passFD(t, all.(*net.TCPListener))}); err != nil {
		t.Fatal(err)
	}
	port := all.Addr().(*net.TCPAddr).Port
	addr := net.JoinHostPort("127.0.0.1", strings.TrimPrefix(all.Addr().String(), "[::]:"))
	ln, err := Listen(net.ListenConfig{}, addr)
	if err == nil {
		ln.Close()
		t.Skip("this system lets 127.0.0.1 and [::] share a port")
	}
	var pe *PassedElsewhereError
	if !errors.As(err, &pe) || pe.Passed != netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("listen on %s: %v, want the passed socket on [::]:%d named", addr, err, port)
	}
}

func TestBindAddrs(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:23":         "127.0.0.1:23",
		"localhost:23":         "127.0.0.1:23",
		":23":                  "[::]:23",
		"[::]:23":              "[::]:23",
		"0.0.0.0:23":           "0.0.0.0:23",
		"[::ffff:10.0.0.1]:23": "10.0.0.1:23",
		"[fe80::1%eth0]:23":    "[fe80::1]:23",
		"127.0.0.1:0":          "",
		"garbage":              "",
	} {
		got, ok := bindAddrs(addr)
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if strings.Join(s, " ") != want || ok != (want != "") {
			t.Errorf("bindAddrs(%q) = %v %v, want %q", addr, s, ok, want)
		}
	}
}
