package modem

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// checkLineURL reports why addr, an address normalizeAddress returned, is
// not a line URL a dialler can use: scheme "://" host:port [ "/" path ],
// host not empty, port 1..65535, no credentials.
func checkLineURL(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok || scheme != strings.ToLower(scheme) {
		return "no lower-case scheme"
	}
	hostport, _, _ := strings.Cut(rest, "/")
	if strings.Contains(hostport, "@") {
		return "credentials"
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "host:port does not split: " + err.Error()
	}
	if host == "" {
		return "empty host"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "bad port " + strconv.Quote(port)
	}
	return ""
}

// FuzzNormalizeAddress feeds arbitrary addresses (phonebook entries and
// what follows ATD) to normalizeAddress. Properties: no panic; an accepted
// address becomes a line URL whose host:port splits (net.SplitHostPort),
// with a host, a port 1..65535 and no credentials, and it is accepted
// again unchanged (normalizing twice is normalizing once); a bare host or
// host:port becomes telnet:// with the same host (port 23 when none).
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{
		"", "bbs.example.org", "bbs.example.org:2323", "192.0.2.7", "[::1]:6400", "[::1]", "::1", "[::1",
		"telnet://h:23", "TCP://[2001:db8::1]:23/x", "ws://h:80/line?x=1", "tcp://h", "telnet://u@h:1",
		"h:0", "h:99999", "h:x", "a:b:c", "h o:1", "[a]b", "]x", "[::1]x:5", "[h]", "[1.2.3.4]:5", "[[h]]",
		"://h:1", "h:+1", "h:023",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := normalizeAddress(s)
		if err != nil {
			if out != "" {
				t.Fatalf("normalizeAddress(%q) = %q and %v", s, out, err)
			}
			return
		}
		if why := checkLineURL(out); why != "" {
			t.Fatalf("normalizeAddress(%q) = %q: %s", s, out, why)
		}
		again, err := normalizeAddress(out)
		if err != nil || again != out {
			t.Fatalf("normalizeAddress(%q) = %q, then %q, %v", s, out, again, err)
		}
		if strings.Contains(s, "://") {
			return
		}
		host, port, err := net.SplitHostPort(strings.TrimPrefix(out, "telnet://"))
		if !strings.HasPrefix(out, "telnet://") || err != nil {
			t.Fatalf("normalizeAddress(%q) = %q: not telnet://host:port", s, out)
		}
		if h, p, err := net.SplitHostPort(s); err == nil {
			if h != host || p != port {
				t.Fatalf("normalizeAddress(%q) = %q: host %q port %q", s, out, host, port)
			}
		} else if port != "23" || (host != s && "["+host+"]" != s) {
			t.Fatalf("normalizeAddress(%q) = %q: host %q port %q, want the host as given and port 23", s, out, host, port)
		}
	})
}

// fuzzBook is the phonebook FuzzResolve dials through, checked as
// LoadPhonebook checks one (addresses normalized, modes defaulted).
func fuzzBook(t testing.TB) *Phonebook {
	pb := &Phonebook{Entries: []Entry{
		{Name: "bbs", Number: "555-1212", Address: "bbs.example.org:2323", User: "alice", Password: "pw-alice-1", Mode: ModeV42},
		{Name: "Home", Number: "(0)1#", Address: "tcp://[2001:db8::1]:23", User: "bob", Password: "pw-bob-2"},
		{Name: "plain", Number: "9,1*", Address: "192.0.2.7", Mode: ModePlain},
		{Name: "carol@x", Address: "telnet://x.example:23", User: "carol", Password: "pw-carol-3"},
	}}
	if err := pb.check(); err != nil {
		t.Fatal(err)
	}
	return pb
}

// FuzzResolve feeds arbitrary dial strings (what the DTE typed after ATD,
// modifiers removed) to Resolve, with the phonebook and without one.
// Properties: no panic; a refusal wraps ErrUnknownNumber; a dial string
// of telephone digits that no entry's number matches is refused; a
// target keeps the dial string, has a known mode and an address that
// normalizeAddress accepts unchanged; a target naming an entry has that
// entry's address; a password is only ever one the phonebook gives to
// that user (case-insensitively) at that address; without a phonebook
// no target has a name or a password; String never shows the password.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"bbs", "BBS", "555-1212", "5551212", "(555) 1212", "1#", "01#", "9,1*", "555", "plain",
		"alice@bbs", "ALICE@bbs", "mallory@bbs", "@bbs", "bob@tcp://[2001:db8::1]:23", "tcp://[2001:db8::1]:23",
		"alice@bbs.example.org:2323", "Alice@bbs.example.org:2323", "eve@bbs.example.org:2323",
		"carol@x", "carol@x.example", "carol@x.example:23", "u@v@h:1", "host:0", "telnet://u@h:1",
		"ws://h:80/a@b", "[::1]x:5", "", "W", "+", "pw-alice-1@h:1",
		"555T1212", "555p1212", "9W555/1212$", "555@1212", "!555,,1212w", ",,,", "T", "host:abc", "host:",
		"host:99999", "town.example", "pt.example:23", "w@bbs.example.org:2323",
	} {
		f.Add(s)
	}
	pb := fuzzBook(f)
	f.Fuzz(func(t *testing.T, dial string) {
		for _, book := range []*Phonebook{pb, nil} {
			tg, err := book.Resolve(dial)
			if tg.Dial != dial {
				t.Fatalf("Resolve(%q).Dial = %q", dial, tg.Dial)
			}
			if err != nil {
				if !errors.Is(err, ErrUnknownNumber) {
					t.Fatalf("Resolve(%q) = %v", dial, err)
				}
				continue
			}
			if d, ok := digitsOnly(dial); ok && book.lookup(dial) == nil {
				t.Fatalf("Resolve(%q) = %v: number %s is in no entry", dial, tg, d)
			}
			switch tg.Mode {
			case ModeAuto, ModePlain, ModeV42:
			default:
				t.Fatalf("Resolve(%q): mode %q", dial, tg.Mode)
			}
			if a, err := normalizeAddress(tg.Address); err != nil || a != tg.Address {
				t.Fatalf("Resolve(%q): address %q normalizes to %q, %v", dial, tg.Address, a, err)
			}
			if why := checkLineURL(tg.Address); why != "" {
				t.Fatalf("Resolve(%q): address %q: %s", dial, tg.Address, why)
			}
			if book == nil && (tg.Name != "" || tg.Password != "") {
				t.Fatalf("Resolve(%q) without a phonebook = %#v, password %t", dial, tg, tg.Password != "")
			}
			if tg.Name != "" {
				e := book.lookup(tg.Name)
				if e == nil || e.Name != tg.Name || e.Address != tg.Address {
					t.Fatalf("Resolve(%q) = %v: no such entry", dial, tg)
				}
			}
			if tg.Password != "" {
				found := false
				for _, e := range book.Entries {
					if e.Password == tg.Password && e.Address == tg.Address && strings.EqualFold(e.User, tg.User) {
						found = true
					}
				}
				if !found {
					t.Fatalf("Resolve(%q) = %v: a password the phonebook does not give that user there", dial, tg)
				}
				if !strings.Contains(dial, tg.Password) && !strings.Contains(tg.User, tg.Password) &&
					!strings.Contains(tg.Address, tg.Password) && strings.Contains(tg.String(), tg.Password) {
					t.Fatalf("Resolve(%q).String() = %q shows the password", dial, tg.String())
				}
			}
		}
	})
}

// FuzzDialString feeds arbitrary text after D to dialString and dialable.
// Properties: no panic; the commands after the dial string start within
// the line, at its end for an unquoted string; a quoted string is a piece
// of the line as it is, with no quote in it, and unquoted has no space;
// a dialable string is not empty, and a host:port in it has a port
// 1..65535.
func FuzzDialString(f *testing.F) {
	for _, s := range []string{
		"T5551212", "P555-1212;", "T,,,", "", ";", "W", `"bbs.example.org:23"`, `T"bbs.example.org:23"S0=1`,
		` t "h:1";X4`, `"h:1`, `""`, `"L"`, `"my bbs;"`, `T"h:0"`, "Thost:0", "Thost:99999", "Thost:abc",
		"Ttelnet://h:0/x", "alice@[::1]:0", "Texample.com:23", "Ttelnet://h:1", "T9W555/1212$@!",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		src := []byte("D" + arg)
		s, quoted, end := dialString(src, 1)
		if end < 1 || end > len(src) || !quoted && end != len(src) {
			t.Fatalf("dialString(%q): end %d of %d", src, end, len(src))
		}
		if quoted && (strings.Contains(s, `"`) || !strings.Contains(string(src), s)) {
			t.Fatalf("dialString(%q) = %q: not the quoted text", src, s)
		}
		if !quoted && strings.Contains(s, " ") {
			t.Fatalf("dialString(%q) = %q: a space", src, s)
		}
		if !dialable(s) {
			return
		}
		if s == "" {
			t.Fatalf("dialable(%q)", s)
		}
		if _, port, err := net.SplitHostPort(s); err == nil && !strings.ContainsAny(s, "@/") && !validPort(port) {
			t.Fatalf("dialable(%q): port %q", s, port)
		}
	})
}

// TestDialTargetSchemes: a tone or pulse letter before a line URL is
// dropped, and the first letter of a scheme that begins with t or p is
// not taken for one.
func TestDialTargetSchemes(t *testing.T) {
	for in, want := range map[string]string{
		"Ttelnet://h:1": "telnet://h:1", "telnet://h:1": "telnet://h:1",
		"Ttelnets://h:1": "telnets://h:1", "telnets://h:1": "telnets://h:1",
		"Ttls://h:1": "tls://h:1", "tls://h:1": "tls://h:1", "tcp://h:1": "tcp://h:1",
		"Pwss://h:1/line": "wss://h:1/line", "T5551234": "5551234",
	} {
		if got := dialTarget(in); got != want {
			t.Errorf("dialTarget(%q) = %q, want %q", in, got, want)
		}
	}
}
