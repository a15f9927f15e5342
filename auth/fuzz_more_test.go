package auth

import (
	"bytes"
	"context"
	"encoding/base64"
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
		"telnet://h:23/x", "telnet://h:23?", "telnet://[::1]:23#x", "telnet://h:23#"} {
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
		if strings.Contains(addr, "#") {
			// An empty fragment leaves no trace in url.URL.
			t.Fatalf("accepted %q: a fragment", addr)
		}
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

// FuzzParseHostKeyID feeds arbitrary host key identifiers (typed by a
// user for a pin, or read from a known_hosts line) to ParseHostKeyID.
// Properties: no panic; a refusal wraps ErrKnownHostsFile; an accepted
// one yields "SHA256:" and the unpadded base64 of 32 octets, which is
// accepted again unchanged (a fingerprint comes back as given, less any
// CR and LF); a base64 key yields its Fingerprint.
func FuzzParseHostKeyID(f *testing.F) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	fp := Fingerprint(key)
	for _, s := range []string{fp, base64.StdEncoding.EncodeToString(key), "SHA256:", "SHA256:" + strings.Repeat("A", 43) + "=",
		"sha256:" + fp[7:], fp + "\n", base64.RawStdEncoding.EncodeToString(key), strings.Repeat("A", 43) + "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseHostKeyID(s)
		if err != nil {
			if !errors.Is(err, ErrKnownHostsFile) {
				t.Fatalf("ParseHostKeyID(%q): %v", s, err)
			}
			return
		}
		b64, ok := strings.CutPrefix(got, "SHA256:")
		sum, derr := base64.RawStdEncoding.Strict().DecodeString(b64)
		if !ok || derr != nil || len(sum) != 32 || base64.RawStdEncoding.EncodeToString(sum) != b64 {
			t.Fatalf("ParseHostKeyID(%q) = %q", s, got)
		}
		if again, err := ParseHostKeyID(got); err != nil || again != got {
			t.Fatalf("ParseHostKeyID(%q) = %q, %v; want it unchanged", got, again, err)
		}
		if !strings.HasPrefix(s, "SHA256:") {
			pub, err := base64.StdEncoding.Strict().DecodeString(s)
			if err != nil || got != Fingerprint(pub) {
				t.Fatalf("ParseHostKeyID(%q) = %q, want the key's fingerprint", s, got)
			}
		} else if want := strings.NewReplacer("\r", "", "\n", "").Replace(s); got != want {
			// encoding/base64 skips CR and LF (a pasted line end);
			// the result has none.
			t.Fatalf("ParseHostKeyID(%q) = %q, want %q", s, got, want)
		}
	})
}

// FuzzTransformOpen feeds arbitrary sealed data-phase payloads (from the
// wire: anyone on the path can write them) to Open, with both data
// ciphers. Properties: no panic; garbage, and a genuine payload with one
// bit flipped, are refused and leave the receiving end in step (the
// genuine payload opens after them, to the plaintext sealed); and a
// payload opened once is refused when replayed.
func FuzzTransformOpen(f *testing.F) {
	f.Add([]byte{}, []byte("hello"), uint16(0))
	f.Add(bytes.Repeat([]byte{0}, 16), []byte{}, uint16(3))
	f.Add(bytes.Repeat([]byte{0xff}, 40), bytes.Repeat([]byte("x"), 300), uint16(299))
	f.Fuzz(func(t *testing.T, garbage, msg []byte, flip uint16) {
		for _, dc := range dataCiphers {
			a, b := transformPair(dc)
			if out, err := b.Open(nil, garbage); err == nil {
				t.Fatalf("%v: garbage %x opened to %x", dc, garbage, out)
			}
			sealed := a.Seal(nil, msg)
			if len(sealed) != len(msg)+a.Overhead() {
				t.Fatalf("%v: sealed %d octets to %d", dc, len(msg), len(sealed))
			}
			tampered := bytes.Clone(sealed)
			tampered[int(flip)%len(tampered)] ^= 1 << (flip >> 13)
			if out, err := b.Open(nil, tampered); err == nil {
				t.Fatalf("%v: tampered payload opened to %x", dc, out)
			}
			out, err := b.Open(nil, sealed)
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("%v: after refusals, genuine payload opened to %x, %v; want %x", dc, out, err, msg)
			}
			if out, err := b.Open(nil, sealed); err == nil {
				t.Fatalf("%v: replayed payload opened to %x", dc, out)
			}
		}
	})
}

// FuzzPlaceCallback answers the gateway's CALLBACK with an arbitrary
// token, as whoever answers the number called back (not necessarily the
// user) may. Properties: no panic; CALLBACK goes out exactly once and the
// ticket is spent after it, whatever the answer; the genuine ACCEPT, and
// only it, completes the callback; and any other answer fails with one of
// the package's sentinel errors (doc.go: ErrMalformed, ErrVersion,
// ErrUnexpected, ErrAuthFailed, ErrTicketMismatch) or a REJECT, never
// with a bare or unclassified error. (callbackd takes all but ErrVersion
// for the wrong party; ErrVersion ends the callback without a retry.)
func FuzzPlaceCallback(f *testing.F) {
	gt, _, _, acc := callbackFixture(f)
	f.Add(acc)
	f.Add(appendRejectClear(nil, ReasonDenied))
	f.Add(append(header(TypeAccept), make([]byte, acceptLen-headerLen)...))
	f.Add(append(bytes.Clone(acc[:len(acc)-1]), acc[len(acc)-1]^1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, answer []byte) {
		ticket := gt.clone()
		conn := &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{answer}}
		tr, err := PlaceCallback(context.Background(), conn, ticket, CallbackConfig{Rand: newRecRand("gateway callback phase"), Now: fixedNow})
		if len(conn.sentCmds) != 1 || !ticket.Spent() {
			t.Fatalf("%d CALLBACK tokens sent, ticket spent %v, answer %x", len(conn.sentCmds), ticket.Spent(), answer)
		}
		if err == nil {
			if tr == nil || !bytes.Equal(answer, acc) {
				t.Fatalf("gateway accepted forged ACCEPT %x", answer)
			}
			Wipe(tr)
			return
		}
		if tr != nil || bytes.Equal(answer, acc) {
			t.Fatalf("answer %x: transform %v with error %v", answer, tr != nil, err)
		}
		if _, rejected := RejectReason(err); !rejected && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthFailed) &&
			!errors.Is(err, ErrUnexpected) && !errors.Is(err, ErrTicketMismatch) && !errors.Is(err, ErrVersion) {
			t.Fatalf("answer %x: unclassified error %v", answer, err)
		}
	})
}
