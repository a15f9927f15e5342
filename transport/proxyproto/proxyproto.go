// Package proxyproto reads the PROXY protocol header (HAProxy's "The
// PROXY protocol", versions 1 and 2) that a TCP proxy sends first on a
// connection it forwards, so that a tcp:// or telnet:// listener behind
// HAProxy (send-proxy, send-proxy-v2) or nginx (stream, proxy_protocol
// on) learns the caller's address. It also recognises the start of a
// header among a line's first octets (Guard), so that a listener that
// takes none can refuse one instead of reading it as a caller's typing.
//
// Read reads exactly the header and not an octet more: what follows is
// the caller's, and the line is built on the connection after it.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dialgate/dialgate/transport"
)

// SignatureV2 opens a version 2 header.
var SignatureV2 = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// prefixV1 opens a version 1 header.
const prefixV1 = "PROXY "

// maxV1 is the longest version 1 header, CR LF included (the
// specification's 107: "PROXY UNKNOWN" with two IPv6 addresses and ports).
const maxV1 = 107

// MaxV2Extra bounds what follows a version 2 header's first 16 octets
// (addresses and TLVs). The protocol allows 65,535; proxies send 12 or 36
// octets of addresses and at most a few hundred of TLVs (ALPN, authority,
// TLS details).
const MaxV2Extra = 4096

// ErrHeader is wrapped by every error about a malformed or missing header.
var ErrHeader = errors.New("PROXY protocol header")

// Header is what a proxy said about the connection.
type Header struct {
	Version int
	// Local: the proxy's own connection (v2 LOCAL, such as a health
	// check; v1 UNKNOWN; v2 with an unspecified family): no caller's
	// address, the connection's own counts.
	Local bool
	// Source and Dest: the caller's address and the one it connected to
	// at the proxy (zero when Local).
	Source, Dest netip.AddrPort
	// TLS: the caller reached the proxy over TLS (v2 PP2_TYPE_SSL TLV
	// with PP2_CLIENT_SSL; HAProxy send-proxy-v2-ssl).
	TLS bool
}

// Read reads one header (version 1 or 2) from r, and no octet after it.
// Errors wrap ErrHeader, or are r's (io.EOF, io.ErrUnexpectedEOF, a
// deadline).
func Read(r io.Reader) (Header, error) {
	var start [12]byte
	// Both versions are longer than 12 octets ("PROXY UNKNOWN\r\n" is 15).
	if _, err := io.ReadFull(r, start[:]); err != nil {
		return Header{}, err
	}
	switch {
	case start == SignatureV2:
		return readV2(r)
	case string(start[:len(prefixV1)]) == prefixV1:
		return readV1(r, start[:])
	}
	return Header{}, fmt.Errorf("%w: missing (the connection starts with %q)", ErrHeader, printable(start[:]))
}

// readV1 reads the rest of a version 1 header, one octet at a time so as
// not to read past its CR LF.
func readV1(r io.Reader, start []byte) (Header, error) {
	line := append(make([]byte, 0, maxV1), start...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) == maxV1 {
			return Header{}, fmt.Errorf("%w: version 1 line longer than %d octets", ErrHeader, maxV1)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, unexpected(err)
		}
		line = append(line, b[0])
	}
	return parseV1(string(line[len(prefixV1) : len(line)-2]))
}

// parseV1 parses "TCP4 src dst sport dport", "TCP6 ..." or "UNKNOWN ...".
func parseV1(s string) (Header, error) {
	f := strings.Split(s, " ")
	h := Header{Version: 1}
	if f[0] == "UNKNOWN" {
		h.Local = true
		return h, nil
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return Header{}, fmt.Errorf("%w: version 1 line %q: want TCP4|TCP6 source destination sport dport", ErrHeader, printable([]byte(s)))
	}
	var addrs [2]netip.Addr
	for i := range addrs {
		a, err := netip.ParseAddr(f[1+i])
		if err != nil || a.Zone() != "" || a.Is4() != (f[0] == "TCP4") {
			return Header{}, fmt.Errorf("%w: version 1: %q is not a %s address", ErrHeader, printable([]byte(f[1+i])), f[0])
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i := range ports {
		p := f[3+i]
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return Header{}, fmt.Errorf("%w: version 1: %q is not a port", ErrHeader, printable([]byte(p)))
		}
		ports[i] = uint16(n)
	}
	// nginx on a dual-stack socket names IPv4 callers "TCP6 ::ffff:a.b.c.d".
	h.Source = netip.AddrPortFrom(addrs[0].Unmap(), ports[0])
	h.Dest = netip.AddrPortFrom(addrs[1].Unmap(), ports[1])
	if err := callerSource(h.Source.Addr()); err != nil {
		return Header{}, err
	}
	return h, nil
}

// callerSource refuses a source address no caller has (transport.NoCaller).
func callerSource(a netip.Addr) error {
	if transport.NoCaller(a) {
		return fmt.Errorf("%w: source %s is no caller's address", ErrHeader, a)
	}
	return nil
}

// PROXY protocol version 2 values (section 2.2).
const (
	cmdLocal     = 0x20
	cmdProxy     = 0x21
	famUnspec    = 0x00
	famTCP4      = 0x11
	famTCP6      = 0x21
	tlvSSL       = 0x20
	clientSSL    = 0x01
	lenAddrsTCP4 = 12
	lenAddrsTCP6 = 36
)

// readV2 reads the rest of a version 2 header (after its signature).
func readV2(r io.Reader) (Header, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Header{}, unexpected(err)
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n > MaxV2Extra {
		return Header{}, fmt.Errorf("%w: version 2 header of %d octets (at most %d taken)", ErrHeader, 16+n, 16+MaxV2Extra)
	}
	rest := make([]byte, n)
	if _, err := io.ReadFull(r, rest); err != nil {
		return Header{}, unexpected(err)
	}
	return parseV2(hdr[0], hdr[1], rest)
}

// parseV2 parses a version 2 header's command, family and the octets
// after its length.
func parseV2(verCmd, fam byte, rest []byte) (Header, error) {
	h := Header{Version: 2}
	switch verCmd {
	case cmdLocal:
		// The addresses, if any, are the proxy's own: ignored.
		h.Local = true
		return h, nil
	case cmdProxy:
	default:
		return Header{}, fmt.Errorf("%w: version 2: version and command octet 0x%02x (want 0x20 LOCAL or 0x21 PROXY)", ErrHeader, verCmd)
	}
	var tlvs []byte
	switch fam {
	case famUnspec:
		h.Local = true
		return h, nil
	case famTCP4, famTCP6:
		size, alen := lenAddrsTCP4, 4
		if fam == famTCP6 {
			size, alen = lenAddrsTCP6, 16
		}
		if len(rest) < size {
			return Header{}, fmt.Errorf("%w: version 2: %d octets of addresses, want %d", ErrHeader, len(rest), size)
		}
		src, _ := netip.AddrFromSlice(rest[:alen])
		dst, _ := netip.AddrFromSlice(rest[alen : 2*alen])
		src, dst = src.Unmap(), dst.Unmap()
		sp := binary.BigEndian.Uint16(rest[2*alen:])
		dp := binary.BigEndian.Uint16(rest[2*alen+2:])
		h.Source, h.Dest = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
		if err := callerSource(src); err != nil {
			return Header{}, err
		}
		tlvs = rest[size:]
	case 0x12, 0x22, 0x31, 0x32:
		// UDP over IPv4 or IPv6, UNIX stream or datagram: valid, but no
		// address a TCP listener can use; the specification has a
		// receiver that does not take them fall back to UNSPEC. The
		// length field has skipped the addresses.
		h.Local = true
		return h, nil
	default:
		return Header{}, fmt.Errorf("%w: version 2: address family and protocol 0x%02x", ErrHeader, fam)
	}
	for len(tlvs) > 0 {
		if len(tlvs) < 3 {
			return Header{}, fmt.Errorf("%w: version 2: a TLV cut short", ErrHeader)
		}
		typ, l := tlvs[0], int(binary.BigEndian.Uint16(tlvs[1:3]))
		if len(tlvs) < 3+l {
			return Header{}, fmt.Errorf("%w: version 2: TLV 0x%02x of %d octets runs past the header", ErrHeader, typ, l)
		}
		if v := tlvs[3 : 3+l]; typ == tlvSSL && len(v) >= 5 && v[0]&clientSSL != 0 {
			h.TLS = true
		}
		tlvs = tlvs[3+l:]
	}
	return h, nil
}

// unexpected turns the end of input inside a header into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// printable shows b with every octet outside printable ASCII as '.'.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < ' ' || c > '~' {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}

// Guard watches the first octets of a line for the start of a PROXY
// header: the whole version 2 signature, or "PROXY TCP4 ", "PROXY TCP6 "
// or "PROXY UNKNOWN". It holds nothing back; it only says when it has
// seen one. The zero Guard is ready.
type Guard struct {
	seen []byte // the line's first octets, up to guardLen
	done bool   // decided: no header can start here any more
}

// guardLen is how many of a line's first octets Guard looks at.
const guardLen = len("PROXY UNKNOWN")

// Feed takes the next octets read from the line and reports whether a
// PROXY header has now been seen.
func (g *Guard) Feed(p []byte) bool {
	if g.done {
		return false
	}
	n := min(len(p), guardLen-len(g.seen))
	g.seen = append(g.seen, p[:n]...)
	for _, h := range guardPrefixes {
		if len(g.seen) >= len(h) && bytes.Equal(g.seen[:len(h)], h) {
			g.done, g.seen = true, nil
			return true
		}
	}
	for _, h := range guardPrefixes {
		k := min(len(g.seen), len(h))
		if bytes.Equal(g.seen[:k], h[:k]) {
			return false // could still become h
		}
	}
	g.done, g.seen = true, nil
	return false
}

var guardPrefixes = [][]byte{SignatureV2[:], []byte("PROXY TCP4 "), []byte("PROXY TCP6 "), []byte("PROXY UNKNOWN")}

// Decided reports whether the guard has made up its mind: a header was
// seen, or none can start any more. Then it need not be fed.
func (g *Guard) Decided() bool { return g.done }

// ErrUnwanted is a line's read error when its first octets are a PROXY
// header and its listener takes none from that peer.
var ErrUnwanted = errors.New("a PROXY protocol header arrived, which this listener does not take from this address")

// Trusted is a set of proxies (addresses and prefixes) whose headers are
// believed.
type Trusted []netip.Prefix

// ParseTrusted parses IP addresses and CIDR prefixes. An IPv4-mapped
// IPv6 address or prefix is taken as the IPv4 one it covers, as
// addresses are unmapped before they are checked.
func ParseTrusted(list []string) (Trusted, error) {
	var t Trusted
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %v", s, err)
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %v", s, err)
		}
		a = a.Unmap()
		t = append(t, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// Contains reports whether a (host:port or host) is one of the proxies.
func (t Trusted) Contains(addr string) bool {
	a, err := netip.ParseAddrPort(addr)
	var ip netip.Addr
	if err == nil {
		ip = a.Addr()
	} else if ip, err = netip.ParseAddr(addr); err != nil {
		return false
	}
	// A link-local peer's address has its zone (the interface), which
	// no prefix contains: fe80::1%eth0 is fe80::1 for the list.
	ip = ip.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
