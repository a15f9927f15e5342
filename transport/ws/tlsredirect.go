package ws

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrPlainHTTP is wrapped by the TLS handshake error of a connection
// accepted by NewTLSListener whose client sent a plain HTTP request; the
// request has been answered (see NewTLSListener).
var ErrPlainHTTP = errors.New("ws: plain HTTP on a TLS port")

// plainLinger bounds how long a connection answered in plain HTTP is
// drained after the answer, so that octets the client sent beyond what
// was read (a request body) do not make the close a reset that destroys
// the answer before the client reads it (net/http waits as long).
const plainLinger = 500 * time.Millisecond

// plainDrainBytes bounds the octets discarded while draining.
const plainDrainBytes = 64 << 10

// NewTLSListener is tls.NewListener for an HTTPS (wss://) server, which
// answers a client that sends plain HTTP to its port instead of failing
// the handshake with net/http's bare "400 Bad Request": a GET or HEAD
// request gets "308 Permanent Redirect" to the same path on https://, a
// request with any other method "400 Bad Request" saying that the port
// speaks TLS; both with "Connection: close". The redirect's host is the
// host part of the request's Host header when that is a valid DNS name
// or IP address, else the address the client connected to; its port is
// always the one the client connected to (omitted when 443), so that a
// forged Host sends the client nowhere but the host it named itself.
//
// Nothing happens in Accept: each connection decides at its first Read,
// which the server makes in the connection's own goroutine during the
// TLS handshake, under the server's handshake deadline (net/http: the
// smallest of ReadTimeout, WriteTimeout and ReadHeaderTimeout). A first
// octet that cannot start an HTTP method (every method starts with an
// uppercase letter), such as 0x16 of a TLS handshake record, is passed
// on to TLS with all that follows, as before. Otherwise the request header, at most MaxHeaderBytes, is read and answered, the
// connection is closed, and the handshake fails with an error wrapping
// ErrPlainHTTP, which net/http logs as its one "TLS handshake error" line
// for the connection. A request that does not parse fails the handshake
// unanswered.
//
// Wrap ln after Listener.LimitConns, if any, as tls.NewListener would be:
// the connections it counts stay the TLS connections' NetConn.
func NewTLSListener(ln net.Listener, config *tls.Config) net.Listener {
	return &tlsRedirectListener{Listener: ln, config: config}
}

// tlsRedirectListener is the listener of NewTLSListener.
type tlsRedirectListener struct {
	net.Listener
	config *tls.Config
}

// Accept returns the next connection as a *tls.Conn whose first Read
// sniffs for plain HTTP.
func (l *tlsRedirectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if lc, ok := c.(*limitedConn); ok {
		// connLimiter.connState finds its connection as the TLS
		// connection's NetConn: the sniffer goes inside it.
		lc.Conn = &sniffConn{Conn: lc.Conn}
		return tls.Server(lc, l.config), nil
	}
	return tls.Server(&sniffConn{Conn: c}, l.config), nil
}

// sniffConn is a connection under TLS that answers plain HTTP (see
// NewTLSListener). Only the TLS layer reads it, one Read at a time.
type sniffConn struct {
	net.Conn
	decided bool
	first   [1]byte
	pending []byte // octets read while deciding, returned first
	err     error  // the plain request was answered: every Read fails
}

// NetConn is the connection sniffed (sockstate reads its TCP state
// through it).
func (c *sniffConn) NetConn() net.Conn { return c.Conn }

func (c *sniffConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.decided {
		if err := c.decide(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// decide reads the first octet and either passes it on to TLS or answers
// a plain HTTP request. An error reading the first octet (a timeout, the
// client hanging up) is returned as TLS would have seen it.
func (c *sniffConn) decide() error {
	if _, err := io.ReadFull(c.Conn, c.first[:]); err != nil {
		return err
	}
	c.decided = true
	if !mayStartMethod(c.first[0]) {
		c.pending = c.first[:]
		return nil
	}
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(c.first[:]), io.LimitReader(c.Conn, MaxHeaderBytes)))
	req, err := http.ReadRequest(br)
	if err != nil {
		c.err = fmt.Errorf("ws: not a TLS handshake, and no HTTP request: %.100v", err)
	} else {
		var answer []byte
		answer, c.err = plainAnswer(req, c.Conn.LocalAddr())
		if _, werr := c.Conn.Write(answer); werr == nil {
			c.linger()
		}
	}
	c.Conn.Close()
	return c.err
}

// linger half-closes the connection and discards what the client still
// sends, for at most plainLinger (see there).
func (c *sniffConn) linger() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(plainLinger))
	_, _ = io.CopyN(io.Discard, c.Conn, plainDrainBytes)
}

// mayStartMethod reports whether b can be the first octet of an HTTP
// method. Methods are case-sensitive tokens (RFC 9110 §9.1), and every
// registered one starts with an uppercase letter; no TLS record does
// (content types 20-24).
func mayStartMethod(b byte) bool { return 'A' <= b && b <= 'Z' }

// plainAnswer is the answer to a plain HTTP request on a TLS port whose
// local address is local, and the error that fails the connection's TLS
// handshake (wrapping ErrPlainHTTP). Every octet of the answer is
// printable ASCII except the CR LF ending its lines.
func plainAnswer(req *http.Request, local net.Addr) ([]byte, error) {
	method := req.Method
	if len(method) > 16 {
		method = method[:16] + "..."
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		body := "this port speaks TLS: use https:// or wss://\n"
		return plainResponse(nil, http.StatusBadRequest, "", body, false),
			fmt.Errorf("%w: %s refused with 400", ErrPlainHTTP, method)
	}
	loc := redirectLocation(req, local)
	body := "this port speaks TLS: use " + loc + "\n"
	// 308 rather than 301: for GET and HEAD they mean the same, 308 says
	// so (the method is kept, RFC 9110 §15.4.9), and every browser that
	// runs the terminal page (WebAssembly) knows it, as curl does.
	return plainResponse(nil, http.StatusPermanentRedirect, loc, body, req.Method == http.MethodHead),
		fmt.Errorf("%w: %s redirected to https", ErrPlainHTTP, method)
}

// plainResponse appends an HTTP/1.1 response with a text body (left out
// for HEAD) to b. It is not stored (Cache-Control: no-store): a browser
// that cached the permanent redirect would keep following it after the
// port stopped speaking TLS.
func plainResponse(b []byte, status int, location, body string, head bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	if location != "" {
		b = append(b, "Location: "...)
		b = append(b, location...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	if !head {
		b = append(b, body...)
	}
	return b
}

// redirectLocation is the https:// URL a plain request is sent to: the
// host part of its Host header if valid (else the local address), the
// local port, and the request's path and query with every octet that is
// not printable ASCII percent-encoded.
func redirectLocation(req *http.Request, local net.Addr) string {
	host := hostPart(req.Host)
	lhost, port := localHostPort(local)
	if host == "" {
		host = lhost
	}
	b := []byte("https://")
	b = append(b, host...)
	if port != "" && port != "443" {
		b = append(b, ':')
		b = append(b, port...)
	}
	uri := req.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") {
		uri = "/" // "*", or an opaque URI
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c >= 0x7f {
			b = fmt.Appendf(b, "%%%02X", c)
			continue
		}
		b = append(b, uri[i])
	}
	return string(b)
}

// localHostPort is the address a connection arrived at as a URL host
// (IPv6 in brackets, without a zone) and its port; "localhost" and no
// port if it is not an IP address and port.
func localHostPort(local net.Addr) (host, port string) {
	if local == nil {
		return "localhost", ""
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return "localhost", ""
	}
	a := ap.Addr().Unmap().WithZone("")
	host = a.String()
	if a.Is6() {
		host = "[" + host + "]"
	}
	return host, strconv.Itoa(int(ap.Port()))
}

// hostPart is the host of a Host header (RFC 9110 §7.2: host [":" port])
// as a URL host, or "" if the header is not a DNS name or an IP literal,
// optionally followed by a port.
func hostPart(h string) string {
	if h == "" || len(h) > 300 {
		return ""
	}
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 || !validPortSuffix(h[end+1:]) {
			return ""
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return ""
		}
		return "[" + a.String() + "]"
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !validPortSuffix(h[i:]) {
			return ""
		}
		h = h[:i]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String() // IPv4 (IPv6 has colons and is bracketed)
	}
	if !dnsName(h) {
		return ""
	}
	return strings.ToLower(h)
}

// validPortSuffix reports whether s is empty or ":" and at most five
// digits.
func validPortSuffix(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dnsName reports whether s is a host name of letters, digits and
// hyphens (RFC 1123 §2.1), labels of 1 to 63 octets, at most 253 octets
// with an optional final dot, whose last label is not a number (a URL
// parser reads such a name as an IPv4 address: WHATWG URL "ends in a
// number").
func dnsName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if strings.HasPrefix(last, "0x") {
		return false
	}
	return strings.Trim(last, "0123456789") != ""
}
