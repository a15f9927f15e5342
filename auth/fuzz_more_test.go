package auth

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzValidCallback feeds arbitrary callback addresses (from the users
// file and "gateway user", and shown in logs and records) to
// ValidCallback. Properties: no panic; a refusal matches ErrBadUser; an
// accepted address is printable ASCII of at most 255 octets and a URL
// scheme://host:port, host not empty, port 1..65535, with no
// credentials, query, fragment or path beyond "/", so a dialler gets a
// host and port from it and nothing else.
func FuzzValidCallback(f *testing.F) {
	for _, s := range []string{"", "telnet://192.0.2.7:2323", "tcp://[2001:db8::1]:23", "ws://host.example:80", "wss://h:443/",
		"192.0.2.7:23", "telnet://h:0", "telnet://u@h:23", "telnet://[fe80::1%25eth0]:23", "telnet://h:023", "telnet:h:23",
		"telnet://h:23/x", "telnet://h:23?", "telnet://[::1]:23#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := ValidCallback(addr)
		if err != nil {
			if !errors.Is(err, ErrBadUser) || !strings.HasPrefix(err.Error(), "auth: callback address ") {
				t.Fatalf("ValidCallback(%q) = %v", addr, err)
			}
			return
		}
		if addr == "" {
			return
		}
		if len(addr) > 255 {
			t.Fatalf("accepted %d octets", len(addr))
		}
		for _, c := range []byte(addr) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q holding %q", addr, c)
			}
		}
		// An empty fragment ("telnet://h:23#") is accepted: url.Parse
		// leaves no trace of it but the '#' (reported, not changed here).
		u, err := url.Parse(addr)
		if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
			u.Fragment != "" || u.RawFragment != "" || (u.Path != "" && u.Path != "/") {
			t.Fatalf("accepted %q: %+v, %v", addr, u, err)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			t.Fatalf("accepted %q: host %q: %v", addr, u.Host, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || u.Port() != port {
			t.Fatalf("accepted %q: port %q", addr, port)
		}
		if u.Hostname() == "" {
			t.Fatalf("accepted %q: no host name", addr)
		}
	})
}
