// Package listenaddr says how the gateway listens on a host:port, so
// that every listener (telnet and tcp lines, WebSocket lines, the TLS and
// PROXY ones, the metrics endpoint) and the configuration check agree:
//
//   - an IPv4 address, 0.0.0.0 included, listens on IPv4 only: an
//     operator who wrote 0.0.0.0 meant IPv4 (Go's "tcp" network made
//     it a dual-stack socket that took IPv6 callers too);
//   - an IPv6 address listens on IPv6, and [::] on IPv4 too (the
//     system's dual-stack default, IPV6_V6ONLY off);
//   - an empty host or a name listens as Go does for "tcp".
package listenaddr

import (
	"net"
	"net/netip"
	"strings"
)

// Network is the network to listen on addr (host:port) with: "tcp4" for
// an IPv4 address, else "tcp".
func Network(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp"
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return "tcp4"
	}
	return "tcp"
}

// Overlap reports whether listening on a and on b (host:port each, as
// Network listens) would take the same port: the same port (not 0) and
// the same host, or either host empty, or either [::] (which takes IPv4
// too), or either the unspecified address of the other's family. A
// host name (not resolved here) clashes with the same name and with an
// unspecified address of either family, since it may name this machine;
// "localhost" is 127.0.0.1, where Go listens for it (the first IPv4
// address it resolves to).
func Overlap(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp || ap == "0" {
		return false
	}
	ah, bh = loopbackName(ah), loopbackName(bh)
	if strings.EqualFold(ah, bh) || ah == "" || bh == "" {
		return true
	}
	ia, erra := netip.ParseAddr(ah)
	ib, errb := netip.ParseAddr(bh)
	switch {
	case erra != nil && errb != nil:
		return false // two names
	case erra != nil:
		return ib.IsUnspecified()
	case errb != nil:
		return ia.IsUnspecified()
	}
	ia, ib = ia.Unmap(), ib.Unmap()
	if ia == ib || ia.Is6() && ia.IsUnspecified() || ib.Is6() && ib.IsUnspecified() {
		return true
	}
	if ia.Is4() != ib.Is4() {
		return false
	}
	return ia.IsUnspecified() || ib.IsUnspecified()
}

// loopbackName is host with "localhost" as the address Go listens on
// for it.
func loopbackName(host string) string {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return "127.0.0.1"
	}
	return host
}
