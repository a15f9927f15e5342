package bridge

import "testing"

func TestSourceAllowed(t *testing.T) {
	list := []string{"192.168.0.0/16", "10.1.2.3", "2001:db8::/32"}
	for _, c := range []struct {
		allowed []string
		addr    string
		want    bool
	}{
		{nil, "203.0.113.7:23", true},
		{nil, "pipe", true},
		{list, "192.168.7.9:5000", true},
		{list, "10.1.2.3:1", true},
		{list, "10.1.2.4:1", false},
		{list, "[::ffff:192.168.1.1]:99", true}, // a v4 caller on a [::] listener
		{list, "[2001:db8::1%eth0]:23", true},
		{list, "[2001:db9::1]:23", false},
		{list, "203.0.113.7:23", false},
		{list, "pipe", false}, // an address that cannot be told
	} {
		if got := sourceAllowed(c.allowed, c.addr); got != c.want {
			t.Errorf("sourceAllowed(%v, %q) = %v, want %v", c.allowed, c.addr, got, c.want)
		}
	}
}
