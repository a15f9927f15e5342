package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
)

// proxyHeader is a PROXY v2 header as a backend reads it.
type proxyHeader struct {
	local    bool // command LOCAL: use the connection's own addresses
	src, dst netip.AddrPort
}

// parseProxyV2 is a reference reader of a PROXY protocol v2 header
// (HAProxy's "The PROXY protocol", section 2.2), as strict as a backend
// may be: the 12-octet signature; version 2 with command LOCAL (0x0) or
// PROXY (0x1); for PROXY, family INET (0x1) or INET6 (0x2) with transport
// STREAM (0x1); a big-endian length that covers exactly the addresses
// (the gateway writes no TLVs): source address, destination address,
// source port, destination port. It returns the octets after the header.
func parseProxyV2(b []byte) (proxyHeader, []byte, error) {
	sig := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if len(b) < 16 || !bytes.Equal(b[:12], sig) {
		return proxyHeader{}, nil, errors.New("no signature")
	}
	if b[12]>>4 != 2 {
		return proxyHeader{}, nil, fmt.Errorf("version %d", b[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < 16+n {
		return proxyHeader{}, nil, fmt.Errorf("length %d beyond the %d octets", n, len(b)-16)
	}
	body, rest := b[16:16+n], b[16+n:]
	switch b[12] & 0xF {
	case 0x0:
		if b[13] != 0x00 || n != 0 {
			return proxyHeader{}, nil, fmt.Errorf("LOCAL with family %#x, %d octets", b[13], n)
		}
		return proxyHeader{local: true}, rest, nil
	case 0x1:
	default:
		return proxyHeader{}, nil, fmt.Errorf("command %#x", b[12]&0xF)
	}
	if b[13]&0xF != 0x1 {
		return proxyHeader{}, nil, fmt.Errorf("transport %#x, not STREAM", b[13]&0xF)
	}
	var alen int
	switch b[13] >> 4 {
	case 0x1:
		alen = 4
	case 0x2:
		alen = 16
	default:
		return proxyHeader{}, nil, fmt.Errorf("family %#x", b[13]>>4)
	}
	if n != 2*alen+4 {
		return proxyHeader{}, nil, fmt.Errorf("family %#x with %d octets", b[13]>>4, n)
	}
	sa, _ := netip.AddrFromSlice(body[:alen])
	da, _ := netip.AddrFromSlice(body[alen : 2*alen])
	sp := binary.BigEndian.Uint16(body[2*alen:])
	dp := binary.BigEndian.Uint16(body[2*alen+2:])
	return proxyHeader{src: netip.AddrPortFrom(sa, sp), dst: netip.AddrPortFrom(da, dp)}, rest, nil
}

// refHostPort is what hostPort's doc comment promises, read without
// netip: an IP address and a decimal port 0..65535 (an IPv6 address in
// brackets), alone or after a URL's "scheme://" (and before its path).
func refHostPort(s string) (netip.Addr, uint16, bool) {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s, _, _ = strings.Cut(rest, "/")
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	ip := net.ParseIP(h)
	if ip == nil {
		zoned, zone, ok := strings.Cut(h, "%")
		// net.ParseIP takes no zone; netip keeps one (dropped from the
		// header) on an IPv6 address only.
		if ip = net.ParseIP(zoned); !ok || zone == "" || ip == nil || !strings.Contains(zoned, ":") {
			return netip.Addr{}, 0, false
		}
	}
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap(), uint16(port), true
}

// FuzzProxyV2 writes a PROXY v2 header for an arbitrary caller and local
// address as dialTCP does (hostPort, then appendProxyV2; the caller's
// address may come from X-Forwarded-For) and reads it back with the
// reference parser. Properties: no panic; the octets before the header
// are kept; the header parses and its length covers it exactly; when
// both addresses are IP:port (per refHostPort) it is a PROXY header with
// those addresses and ports, IPv4 when both are IPv4 and IPv6 (IPv4
// mapped) otherwise, unless the source is no caller's address
// (transport.NoCaller, which proxyproto.Read refuses); anything else
// gives a LOCAL header. hostPort keeps
// an address that does not split and is idempotent. Inputs longer than
// 300 octets are skipped.
func FuzzProxyV2(f *testing.F) {
	for _, c := range [][2]string{
		{"192.0.2.7:4000", "198.51.100.1:2323"}, {"[2001:db8::1]:5", "[2001:db8::2]:6"}, {"192.0.2.7:0", "[::1]:2323"},
		{"[::ffff:192.0.2.7]:1", "127.0.0.1:65535"}, {"[fe80::1%eth0]:23", "[fe80::2%25]:24"}, {"sim/a", "sim/b"},
		{"", ""}, {"[1.2.3.4]:5", "[::]:0"}, {"tcp://127.0.0.1:5000", "ws://[::1]:80/line"}, {"1.2.3.4:99999", "1.2.3.4:-1"},
		{"1.2.3.4:+5", "01.2.3.4:5"}, {"[::1]", "::1:5"}, {"h.example:23", "1.2.3.4:005"}, {"1.2.3.4%x:1", "[1.2.3.4%x]:1"},
		{"0.0.0.0:1", "127.0.0.1:2"}, {"[ff02::1]:5", "[::1]:6"}, {"255.255.255.255:7", "10.0.0.1:8"}, {"[::ffff:224.0.0.1]:9", "[::]:0"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, src, dst string) {
		if len(src) > 300 || len(dst) > 300 {
			return // no address is longer; long inputs only slow the minimizer
		}
		for _, s := range []string{src, dst} {
			hp := hostPort(s)
			if hostPort(hp) != hp {
				t.Fatalf("hostPort(%q) = %q, then %q", s, hp, hostPort(hp))
			}
			if _, _, err := net.SplitHostPort(hp); err != nil && hp != s {
				t.Fatalf("hostPort(%q) = %q, which does not split", s, hp)
			}
		}
		prefix := []byte("before")
		b := appendProxyV2(append([]byte(nil), prefix...), hostPort(src), hostPort(dst))
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("prefix lost: %q", b)
		}
		h, rest, err := parseProxyV2(b[len(prefix):])
		if err != nil || len(rest) != 0 {
			t.Fatalf("header %x for %q, %q: %v, %d octets after it", b[len(prefix):], src, dst, err, len(rest))
		}
		// The listeners' decoder (proxyproto) reads it as the reference
		// does, IPv4-mapped addresses as IPv4.
		r := bytes.NewReader(b[len(prefix):])
		ph, err := proxyproto.Read(r)
		unmap := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
		if err != nil || r.Len() != 0 || ph.Local != h.local || ph.Source != unmap(h.src) || ph.Dest != unmap(h.dst) {
			t.Fatalf("proxyproto.Read of %x: %+v, %v, %d left; reference %+v", b[len(prefix):], ph, err, r.Len(), h)
		}
		sa, sp, ok1 := refHostPort(src)
		da, dp, ok2 := refHostPort(dst)
		if !ok1 || !ok2 || transport.NoCaller(sa) {
			if !h.local {
				t.Fatalf("PROXY header %v -> %v for %q, %q", h.src, h.dst, src, dst)
			}
			return
		}
		if h.local {
			t.Fatalf("LOCAL header for %q, %q (%v:%d, %v:%d)", src, dst, sa, sp, da, dp)
		}
		if !sa.Is4() || !da.Is4() {
			sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
		}
		if want := (proxyHeader{src: netip.AddrPortFrom(sa, sp), dst: netip.AddrPortFrom(da, dp)}); h != want {
			t.Fatalf("header %v -> %v for %q, %q; want %v -> %v", h.src, h.dst, src, dst, want.src, want.dst)
		}
	})
}
