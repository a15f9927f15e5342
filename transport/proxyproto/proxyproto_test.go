package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header.
func v2(verCmd, fam byte, body []byte) []byte {
	b := append([]byte{}, SignatureV2[:]...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func tcp4Body(tlvs ...byte) []byte {
	return append([]byte{192, 0, 2, 7, 198, 51, 100, 1, 0x0F, 0xA0, 0x09, 0x13}, tlvs...)
}

func TestRead(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("192.0.2.7:4000"), netip.MustParseAddrPort("198.51.100.1:2323")
	src6 := netip.MustParseAddrPort("[2001:db8::1]:56880")
	dst6 := netip.MustParseAddrPort("[2001:db8::2]:23")
	tcp6 := append(append(append([]byte{}, src6.Addr().AsSlice()...), dst6.Addr().AsSlice()...), 0xDE, 0x30, 0, 23)
	for _, tc := range []struct {
		name string
		in   []byte
		want Header
		err  string // "" = no error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.7 198.51.100.1 4000 2323\r\n"), Header{Version: 1, Source: src4, Dest: dst4}, ""},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56880 23\r\n"), Header{Version: 1, Source: src6, Dest: dst6}, ""},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}, ""},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), Header{Version: 1, Local: true}, ""},
		{"v2 tcp4", v2(0x21, 0x11, tcp4Body()), Header{Version: 2, Source: src4, Dest: dst4}, ""},
		{"v2 tcp6", v2(0x21, 0x21, tcp6), Header{Version: 2, Source: src6, Dest: dst6}, ""},
		{"v2 local", v2(0x20, 0x00, nil), Header{Version: 2, Local: true}, ""},
		{"v2 local with addresses", v2(0x20, 0x11, tcp4Body()), Header{Version: 2, Local: true}, ""},
		{"v2 unspec", v2(0x21, 0x00, nil), Header{Version: 2, Local: true}, ""},
		// HAProxy send-proxy-v2-ssl: PP2_TYPE_SSL, client PP2_CLIENT_SSL,
		// verify 0, a sub-TLV with the version.
		{"v2 ssl", v2(0x21, 0x11, tcp4Body(0x20, 0, 12, 0x01, 0, 0, 0, 0, 0x21, 0, 4, 'T', 'L', 'S', '1')), Header{Version: 2, Source: src4, Dest: dst4, TLS: true}, ""},
		{"v2 ssl not client", v2(0x21, 0x11, tcp4Body(0x20, 0, 5, 0x00, 0, 0, 0, 0)), Header{Version: 2, Source: src4, Dest: dst4}, ""},
		{"v2 alpn and noop", v2(0x21, 0x11, tcp4Body(0x01, 0, 2, 'h', '2', 0x04, 0, 0)), Header{Version: 2, Source: src4, Dest: dst4}, ""},
		{"missing", []byte("login: alice\r\n"), Header{}, "missing"},
		{"v1 bad family", []byte("PROXY UDP4 192.0.2.7 198.51.100.1 4000 2323\r\n"), Header{}, "want TCP4"},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 198.51.100.1 4000 2323\r\n"), Header{}, "not a TCP4 address"},
		{"v1 port too big", []byte("PROXY TCP4 192.0.2.7 198.51.100.1 65536 2323\r\n"), Header{}, "not a port"},
		{"v1 port leading zero", []byte("PROXY TCP4 192.0.2.7 198.51.100.1 04000 2323\r\n"), Header{}, "not a port"},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n"), Header{}, "not a TCP6 address"},
		{"v1 too long", []byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n"), Header{}, "longer than 107"},
		{"v1 double space", []byte("PROXY TCP4  192.0.2.7 198.51.100.1 4000 2323\r\n"), Header{}, "want TCP4"},
		{"v2 bad command", v2(0x22, 0x11, tcp4Body()), Header{}, "command octet 0x22"},
		{"v2 version 1", v2(0x11, 0x11, tcp4Body()), Header{}, "command octet 0x11"},
		{"v2 udp", v2(0x21, 0x12, tcp4Body()), Header{Version: 2, Local: true}, ""},
		{"v2 unix", v2(0x21, 0x31, make([]byte, 216)), Header{Version: 2, Local: true}, ""},
		{"v2 bad family", v2(0x21, 0x13, tcp4Body()), Header{}, "family and protocol 0x13"},
		{"v1 tcp6 mapped", []byte("PROXY TCP6 ::ffff:192.0.2.7 ::ffff:198.51.100.1 4000 2323\r\n"), Header{Version: 1, Source: src4, Dest: dst4}, ""},
		{"v2 tcp6 mapped", v2(0x21, 0x21, append(append(append([]byte{}, netip.MustParseAddr("::ffff:192.0.2.7").AsSlice()...), netip.MustParseAddr("::ffff:198.51.100.1").AsSlice()...), 0x0F, 0xA0, 0x09, 0x13)), Header{Version: 2, Source: src4, Dest: dst4}, ""},
		{"v2 short addresses", v2(0x21, 0x21, tcp4Body()), Header{}, "want 36"},
		{"v2 tlv past end", v2(0x21, 0x11, tcp4Body(0x20, 0, 9, 1)), Header{}, "runs past"},
		{"v2 tlv cut", v2(0x21, 0x11, tcp4Body(0x20, 0)), Header{}, "cut short"},
		{"v2 too long", v2(0x21, 0x11, make([]byte, MaxV2Extra+1)), Header{}, "at most"},
		// No caller has these addresses (security trial, X-Forwarded-For).
		{"v1 unspecified source", []byte("PROXY TCP4 0.0.0.0 198.51.100.1 4000 2323\r\n"), Header{}, "no caller's address"},
		{"v1 multicast source", []byte("PROXY TCP6 ff02::1 2001:db8::2 1 2\r\n"), Header{}, "no caller's address"},
		{"v2 unspecified source", v2(0x21, 0x21, append(make([]byte, 16), tcp6[16:]...)), Header{}, "no caller's address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const after = "after the header"
			r := bytes.NewReader(append(append([]byte{}, tc.in...), after...))
			h, err := Read(r)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.want {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
			if rest, _ := io.ReadAll(r); string(rest) != after {
				t.Errorf("left %q after the header, want %q", rest, after)
			}
		})
	}
}

func TestReadShort(t *testing.T) {
	if _, err := Read(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("nothing: %v, want io.EOF", err)
	}
	// Cut short after some octets: never io.EOF, which says "nothing at all".
	for _, in := range [][]byte{[]byte("PROXY TC"), []byte("PROXY TCP4 192.0.2.7"), v2(0x21, 0x11, tcp4Body())[:20], SignatureV2[:]} {
		if _, err := Read(bytes.NewReader(in)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestGuard(t *testing.T) {
	for _, tc := range []struct {
		chunks []string
		want   bool
	}{
		{[]string{string(SignatureV2[:])}, true},
		{[]string{"\r\n", "\r\n\x00", "\r\nQUI", "T\n\x21"}, true},
		{[]string{"PROXY TCP4 192.0.2.7 198.51.100.1 4000 2323\r\n"}, true},
		{[]string{"P", "R", "O", "X", "Y", " ", "T", "C", "P", "6", " "}, true},
		{[]string{"PROXY UNKNOWN\r\n"}, true},
		{[]string{"PROXY"}, false},
		{[]string{"PROXY TCP4"}, false}, // not yet: the space decides
		{[]string{"proxy tcp4 "}, false},
		{[]string{"\r\n", "alice\r\n"}, false},
		{[]string{"\r\n\r\n", "PROXY TCP4 "}, false}, // only at the line's start
		{[]string{"\x11\x91\x11\x91"}, false},
		{[]string{""}, false},
	} {
		var g Guard
		got := false
		for _, c := range tc.chunks {
			if g.Feed([]byte(c)) {
				got = true
			}
		}
		if got != tc.want {
			t.Errorf("%q: %v, want %v", tc.chunks, got, tc.want)
		}
	}
	// Once decided, nothing later counts, and nothing is kept.
	var g Guard
	g.Feed([]byte("hello"))
	if g.Feed(SignatureV2[:]) || g.seen != nil {
		t.Errorf("guard after a decided start: %+v", g)
	}
}

// countingReader counts what Read took.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzRead: Read never panics, never takes more than a header's octets,
// and a header it accepts is well formed.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.7 198.51.100.1 4000 2323\r\nrest"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 56880 23\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x21, 0x11, tcp4Body(0x20, 0, 5, 0x01, 0, 0, 0, 0)))
	f.Add(v2(0x20, 0x00, nil))
	f.Add(v2(0x21, 0x21, make([]byte, 40)))
	f.Add([]byte("login: "))
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := &countingReader{r: bytes.NewReader(in)}
		h, err := Read(cr)
		if cr.n > 16+MaxV2Extra {
			t.Fatalf("read %d octets", cr.n)
		}
		if err != nil {
			return
		}
		switch h.Version {
		case 1:
			if cr.n > maxV1 || !bytes.HasSuffix(in[:cr.n], []byte("\r\n")) || bytes.Count(in[:cr.n], []byte("\r\n")) != 1 {
				t.Fatalf("v1 header of %d octets: %q", cr.n, in[:cr.n])
			}
		case 2:
			if cr.n != 16+int(binary.BigEndian.Uint16(in[14:16])) {
				t.Fatalf("v2 read %d octets of %q", cr.n, in)
			}
		default:
			t.Fatalf("version %d", h.Version)
		}
		if h.Local != !h.Source.IsValid() || h.Local != !h.Dest.IsValid() {
			t.Fatalf("header %+v", h)
		}
		// The guard sees every accepted header.
		var g Guard
		if !g.Feed(in[:cr.n]) {
			t.Fatalf("guard missed %q", in[:cr.n])
		}
	})
}

func TestTrusted(t *testing.T) {
	tr, err := ParseTrusted([]string{"127.0.0.1", " 10.0.0.0/8 ", "::ffff:192.0.2.0/120", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.0.0.2:5000": false, "10.1.2.3:1": true, "[::ffff:10.1.2.3]:1": true,
		"192.0.2.9:1": true, "192.0.3.1:1": false, "[2001:db8::7]:23": true, "[2001:db9::7]:23": false,
		"127.0.0.1": true, "sim/a": false, "": false,
	} {
		if got := tr.Contains(addr); got != want {
			t.Errorf("%q: %v, want %v", addr, got, want)
		}
	}
	// A link-local proxy: its connections' addresses carry the
	// interface's zone (IPv6 trial: never matched).
	ll, err := ParseTrusted([]string{"fe80::/64", "fe80::1%lo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"[fe80::1%lo]:5000", "[fe80::2%eth0]:1", "fe80::1"} {
		if !ll.Contains(addr) {
			t.Errorf("link-local %q not trusted", addr)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", ""} {
		if _, err := ParseTrusted([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
