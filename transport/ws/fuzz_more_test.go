package ws

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fuzzProxies are the trusted proxies the fuzz targets configure: IPv4
// and IPv6 prefixes, a single address, and a prefix written in the
// IPv4-mapped IPv6 form.
var fuzzProxies = []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::ffff:198.18.0.0/111"}

// FuzzClientAddr feeds arbitrary peer addresses and X-Forwarded-For
// headers (untrusted: any client can send the header, and a trusted
// proxy passes on whatever its client sent) to clientAddr. Properties:
// an untrusted or unparsable peer's header is ignored; a believed
// address is a plain IP with port 0, no zone, not IPv4-mapped, printable
// ASCII only; it is one of the hops, and every hop right of it parsed
// and is a trusted proxy; and once an untrusted hop was found, anything
// an attacker prepends to the header changes nothing.
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][3]string{
		{"10.1.2.3:4000", "203.0.113.7", ""},
		{"10.1.2.3:4000", "6.6.6.6, 203.0.113.7", "10.9.9.9"},
		{"[2001:db8::1]:4000", "2001:db8:1::5, 2001:4860::1", ""},
		{"[::ffff:10.1.2.3]:4000", "[::ffff:203.0.113.7]:80", ""},
		{"10.1.2.3:4000", "203.0.113.7, fe80::1%eth0, 10.5.5.5", ""},
		{"198.18.0.1:1", "198.51.100.1", ""},
		{"198.51.100.9:4000", "203.0.113.7", ""},
		{"10.1.2.3:4000", "10.4.4.4,,10.5.5.5,", ""},
		{"bogus", "203.0.113.7", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	l, err := NewHandler(Options{TrustedProxies: fuzzProxies})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, xff1, xff2 string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
			}
		}
		got, proxied, cerr := l.clientAddr(r)
		peerTrusted := false
		if h, _, err := net.SplitHostPort(peer); err == nil {
			if a, err := netip.ParseAddr(h); err == nil && l.trusted(a) {
				peerTrusted = true
			}
		}
		if cerr != nil {
			// Refused: only a trusted proxy's header can make a
			// caller unknown.
			if !peerTrusted || got != "" || !proxied {
				t.Fatalf("clientAddr(%q, %q) = %q, %v, %v", peer, r.Header.Values("X-Forwarded-For"), got, proxied, cerr)
			}
			return
		}
		if !proxied {
			if got != peer {
				t.Fatalf("clientAddr(%q, %q) = %q, not proxied; want the peer", peer, r.Header.Values("X-Forwarded-For"), got)
			}
			return
		}
		if !peerTrusted {
			t.Fatalf("peer %q not a trusted proxy, yet its header was believed: %q", peer, got)
		}
		ap, err := netip.ParseAddrPort(got)
		if err != nil || ap.Port() != 0 || ap.Addr().Zone() != "" || ap.Addr().Is4In6() || !ap.Addr().IsValid() {
			t.Fatalf("believed address %q (%v)", got, err)
		}
		for _, c := range []byte(got) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("believed address %q holds %q", got, c)
			}
		}
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hops = append(hops, h)
				}
			}
		}
		// Find the hop believed, walking from the right as a proxy
		// chain is read: every hop passed must be a trusted proxy.
		at := -1
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := parseHop(hops[i])
			if err != nil {
				break
			}
			if a == ap.Addr() {
				at = i
				if !l.trusted(a) {
					break
				}
				// A trusted hop is believed only when the walk ends
				// at it: the next one left is garbage or absent.
				continue
			}
			if !l.trusted(a) {
				t.Fatalf("hops %q: untrusted %q passed on the way to %q", hops, hops[i], got)
			}
		}
		if at < 0 {
			t.Fatalf("hops %q: believed %q is none of them", hops, got)
		}
		if l.trusted(ap.Addr()) {
			return
		}
		// The caller is found: whatever is left of it was written by
		// the caller, so changing it must not change the answer.
		forged := r.Clone(context.Background())
		vs := forged.Header.Values("X-Forwarded-For")
		vs = append([]string{"6.6.6.6, 10.0.0.1, bogus"}, vs...)
		forged.Header["X-Forwarded-For"] = vs
		if g2, p2, err := l.clientAddr(forged); g2 != got || !p2 || err != nil {
			t.Fatalf("prepending forged hops to %q changed %q to %q, %v, %v", r.Header.Values("X-Forwarded-For"), got, g2, p2, err)
		}
	})
}

// FuzzOriginAllowed feeds arbitrary Origin and Host headers (both
// written by the caller's browser, or by any non-browser client) to the
// origin policy, on a loopback connection and on another. Properties: no
// panic; no Origin is accepted; an accepted Origin is a URL whose host
// is listed or is the Host the request went to; on a loopback
// connection an unlisted one is accepted only for localhost or an IP
// literal (a DNS-rebinding page has neither).
func FuzzOriginAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"", "gw.example"},
		{"https://gw.example", "gw.example"},
		{"https://GW.example", "gw.example"},
		{"http://evil.example", "evil.example"},
		{"http://localhost:8080", "localhost:8080"},
		{"http://[::1]:8080", "[::1]:8080"},
		{"https://bbs.example.org", "gw.example"},
		{"http://partner.example:8443", "gw.example"},
		{"null", "gw.example"},
		{"http://127.0.0.1", "127.0.0.1"},
	} {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	l, err := NewHandler(Options{AllowedOrigins: []string{"https://bbs.example.org/", " partner.example:8443 "}})
	if err != nil {
		f.Fatal(err)
	}
	listed := func(u *url.URL) bool {
		full := strings.ToLower(u.Scheme + "://" + u.Host)
		return full == "https://bbs.example.org" || strings.EqualFold(u.Host, "partner.example:8443")
	}
	f.Fuzz(func(t *testing.T, origin, host string, loopback bool) {
		r := &http.Request{Host: host, Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		local := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 80), Port: 80}
		if loopback {
			local = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
		}
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, local))
		got, ok, _ := l.originAllowed(r)
		if got != origin {
			t.Fatalf("originAllowed reports origin %q for %q", got, origin)
		}
		if !ok || origin == "" {
			return
		}
		u, err := url.Parse(origin)
		if err != nil || u.Scheme == "" || u.Host == "" {
			t.Fatalf("accepted origin %q (%v)", origin, err)
		}
		if listed(u) {
			return
		}
		if !strings.EqualFold(u.Host, host) {
			t.Fatalf("accepted origin %q for host %q", origin, host)
		}
		if loopback {
			name := u.Hostname()
			if _, err := netip.ParseAddr(name); err != nil && !strings.EqualFold(name, "localhost") {
				t.Fatalf("accepted origin %q (name %q) on a loopback connection", origin, name)
			}
		}
	})
}

// TestTrustedProxyMappedPrefix: a trusted proxy prefix written in the
// IPv4-mapped IPv6 form trusts the IPv4 addresses it covers, as a mapped
// single address does; addresses are unmapped before the check, so a
// prefix left in the IPv6 form matched nothing.
func TestTrustedProxyMappedPrefix(t *testing.T) {
	l, err := NewHandler(Options{TrustedProxies: []string{"::ffff:198.18.0.0/111", "::ffff:192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.18.0.1", "198.19.255.255", "::ffff:198.18.4.4", "192.0.2.1"} {
		if !l.trusted(netip.MustParseAddr(a)) {
			t.Errorf("%s not trusted", a)
		}
	}
	for _, a := range []string{"198.20.0.1", "198.17.255.255", "::198.18.0.1", "192.0.2.2"} {
		if l.trusted(netip.MustParseAddr(a)) {
			t.Errorf("%s trusted", a)
		}
	}
}

// lineLog keeps log lines for FuzzUpgradeHeaders.
type lineLog struct{ lines []string }

func (l *lineLog) Printf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// FuzzUpgradeHeaders sends upgrade requests with arbitrary Host, Origin,
// Sec-WebSocket-Protocol, X-Forwarded-For and X-Forwarded-Proto headers
// from a trusted proxy or another peer (the recorder cannot be hijacked,
// so none is upgraded). Properties: no panic; the call is refused with
// 403 exactly when the origin policy refuses it, else with a 4xx or 5xx
// after it; and nothing the caller wrote reaches the log raw: every line
// is printable (header text is quoted).
func FuzzUpgradeHeaders(f *testing.F) {
	f.Add("gw.example", "https://gw.example", "plain, binary", "203.0.113.7", "https", true)
	f.Add("gw.example", "https://evil.example\x1b[2J", "telnet", "fe80::1%\u202e", "http", false)
	f.Add("evil.example", "http://evil.example", "\x9b31m", "", "", true)
	l, err := NewHandler(Options{TrustedProxies: fuzzProxies, AllowedOrigins: []string{"https://bbs.example.org"}})
	if err != nil {
		f.Fatal(err)
	}
	log := &lineLog{}
	l.log, l.notice = log, log
	f.Fuzz(func(t *testing.T, host, origin, protos, xff, proto string, viaProxy bool) {
		log.lines = log.lines[:0]
		r := httptest.NewRequest("GET", "http://gw.example/line", nil)
		r.Host = host
		for k, v := range map[string]string{"Origin": origin, "Sec-Websocket-Protocol": protos, "X-Forwarded-For": xff, "X-Forwarded-Proto": proto} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-Websocket-Version", "13")
		r.Header.Set("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		r.RemoteAddr = "198.51.100.9:4000"
		if viaProxy {
			r.RemoteAddr = "10.1.2.3:4000"
		}
		w := httptest.NewRecorder()
		l.ServeHTTP(w, r)
		_, allowed, _ := l.originAllowed(r)
		if (w.Code == http.StatusForbidden) != !allowed || w.Code < 400 {
			t.Fatalf("status %d for origin %q host %q (allowed %v)", w.Code, origin, host, allowed)
		}
		for _, line := range log.lines {
			if !utf8.ValidString(line) {
				t.Fatalf("log line %q is not UTF-8", line)
			}
			for _, c := range line {
				if !unicode.IsPrint(c) {
					t.Fatalf("log line %q holds %U", line, c)
				}
			}
		}
	})
}

// FuzzDialAnswer answers Dial's upgrade request with arbitrary octets
// (a hostile or broken server, or whatever listens at the address).
// Properties: no panic or hang; Dial fails or returns a line; and a
// failure's message, which gateway dial shows on the user's terminal, is
// printable: nothing the server sent reaches it raw.
func FuzzDialAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\n\x1b[2Jgone\x07"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"))
	f.Add([]byte("\x9b31mHTTP/1.1 200\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 400 \x1b]0;t\x07\r\nX: \u202e\r\n\r\n"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	answers := make(chan []byte)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			answer := <-answers
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				_, _ = c.Read(buf) // the request
				_, _ = c.Write(answer)
			}()
		}
	}()
	address := "ws://" + ln.Addr().String() + "/line"
	f.Fuzz(func(t *testing.T, answer []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			select {
			case answers <- answer:
			case <-done:
			}
		}()
		line, err := Dial(ctx, address, DialOptions{CloseTimeout: 100 * time.Millisecond})
		close(done)
		if err == nil {
			line.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("Dial did not return within 10 s: %v", err)
		}
		msg := err.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("error %q is not UTF-8", msg)
		}
		for _, c := range msg {
			if !unicode.IsPrint(c) {
				t.Fatalf("error %q holds %U", msg, c)
			}
		}
	})
}
