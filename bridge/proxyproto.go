package bridge

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"

	"github.com/dialgate/dialgate/transport"
)

// PROXY protocol version 2 (HAProxy's "The PROXY protocol", section 2.2):
//
//	+---------------------------+--------+--------+--------+---------------+
//	| signature (12 octets)     | ver|cmd| fam|pro| length | addresses ... |
//	+---------------------------+--------+--------+--------+---------------+
//
// ver|cmd 0x21 = version 2, PROXY; 0x20 = LOCAL (no addresses).
// fam|pro 0x11 = TCP over IPv4 (12 octets of addresses), 0x21 = TCP over
// IPv6 (36 octets): source address, destination address, source port,
// destination port, all big-endian.
var proxyV2Sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// appendProxyV2 appends a PROXY v2 header describing a connection from src
// to dst. When the families differ (an IPv4 caller on a [::] listener, or
// through a proxy to an IPv6 one) both go as IPv6, the IPv4 one mapped
// (::ffff:a.b.c.d), so that the backend still learns the caller's
// address. When either is not an IP:port (an in-memory line), or the
// source is an address no caller has (transport.NoCaller: unspecified,
// multicast, broadcast), it appends a LOCAL header, which tells the
// backend to use the connection's own addresses: a PROXY header naming
// such a source is refused by the gateway's own listeners
// (proxyproto.Read), so a dialgate behind this one would refuse the call.
func appendProxyV2(b []byte, src, dst string) []byte {
	b = append(b, proxyV2Sig...)
	s, err1 := parseHostPort(src)
	d, err2 := parseHostPort(dst)
	if err1 != nil || err2 != nil || transport.NoCaller(s.Addr()) {
		return append(b, 0x20, 0x00, 0, 0)
	}
	sa, da := s.Addr().Unmap(), d.Addr().Unmap()
	switch {
	case sa.Is4() && da.Is4():
		b = append(b, 0x21, 0x11, 0, 12)
		b = append(b, sa.AsSlice()...)
		b = append(b, da.AsSlice()...)
	case sa.Is6() && da.Is6():
		b = append(b, 0x21, 0x21, 0, 36)
		b = append(b, sa.AsSlice()...)
		b = append(b, da.AsSlice()...)
	case sa.Is4() && da.Is6(), sa.Is6() && da.Is4():
		// Mixed: express both as IPv6 (v4-mapped).
		s16, d16 := sa.As16(), da.As16()
		b = append(b, 0x21, 0x21, 0, 36)
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	default:
		return append(b, 0x20, 0x00, 0, 0)
	}
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port())
}

// parseHostPort is netip.ParseAddrPort on an address that is also a
// host:port to net.SplitHostPort, as hostPort takes it: netip reads a
// bracket in an IPv6 zone ("[::%]]:0") that SplitHostPort refuses.
func parseHostPort(s string) (netip.AddrPort, error) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.ParseAddrPort(s)
}

// hostPort normalises an address such as "127.0.0.1:5000" or a URL-ish
// "tcp://127.0.0.1:5000" to host:port; it returns s unchanged otherwise.
func hostPort(s string) string {
	hp := s
	if _, rest, ok := strings.Cut(s, "://"); ok {
		hp, _, _ = strings.Cut(rest, "/")
	}
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return net.JoinHostPort(h, p)
	}
	return s
}
