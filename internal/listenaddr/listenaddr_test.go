package listenaddr

import (
	"net"
	"testing"
)

func TestNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:2323":   "tcp4",
		"127.0.0.1:2323": "tcp4",
		"[::]:2323":      "tcp",
		"[::1]:2323":     "tcp",
		":2323":          "tcp",
		"bbs.example:23": "tcp",
		"garbage":        "tcp",
	} {
		if got := Network(addr); got != want {
			t.Errorf("Network(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"0.0.0.0:23", "[::]:23", true},   // [::] takes IPv4 too (IPv6 trial)
		{"0.0.0.0:23", "[::1]:23", false}, // 0.0.0.0 is IPv4 only
		{"0.0.0.0:23", "127.0.0.1:23", true},
		{"127.0.0.1:23", "127.0.0.2:23", false},
		{"[::1]:23", "[::]:23", true},
		{"[::1]:23", "127.0.0.1:23", false},
		{":23", "[::1]:23", true},
		{"127.0.0.1:23", "127.0.0.1:24", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // each gets a free port
		{"BBS.example:23", "bbs.example:23", true},
		{"bbs.example:23", "0.0.0.0:23", true}, // a name may be this machine
		{"localhost:23", "[::]:23", true},
		{"localhost:23", "127.0.0.1:23", true}, // Go listens on 127.0.0.1 for it (operator trial)
		{"LOCALHOST.:23", "0.0.0.0:23", true},
		{"localhost:23", "[::1]:23", false},
		{"localhost:23", "127.0.0.2:23", false},
		{"bbs.example:23", "127.0.0.1:23", false}, // names are not resolved
		{"bbs.example:23", "other.example:23", false},
		{"[::ffff:0.0.0.0]:23", "0.0.0.0:23", true},
		{"[fe80::1%eth0]:23", "[fe80::1%eth1]:23", false}, // one per link
	} {
		if got := Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestListenIPv4Only: a listener on 0.0.0.0 opened as Network says does
// not take an IPv6 caller (it did with Go's "tcp").
func TestListenIPv4Only(t *testing.T) {
	if l6, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback here:", err)
	} else {
		l6.Close()
	}
	ln, err := net.Listen(Network("0.0.0.0:0"), "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if c, err := net.Dial("tcp6", net.JoinHostPort("::1", port)); err == nil {
		c.Close()
		t.Error("an IPv6 caller reached the 0.0.0.0 listener")
	}
	if c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", port)); err != nil {
		t.Errorf("IPv4 caller: %v", err)
	} else {
		c.Close()
	}
}
