package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/modem"
	"github.com/dialgate/dialgate/transport"
)

func TestDialExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{fmt.Errorf("x: %w", errUsage), exitUsage},
		{&auth.RejectError{Reason: auth.ReasonDenied}, exitDenied},
		{fmt.Errorf("wrapped: %w", &auth.RejectError{Reason: auth.ReasonBusy}), exitBusy},
		{&auth.RejectError{Reason: auth.ReasonCallbackUnavailable}, exitNoCarrier},
		{&auth.RejectError{Reason: auth.ReasonProtocolError}, exitProtocol},
		{&auth.RejectError{Reason: auth.ReasonTimeout}, exitProtocol},
		{fmt.Errorf("%w: x", auth.ErrHostKeyRejected), exitHostKey},
		{&auth.HostKeyChangedError{}, exitHostKey},
		{fmt.Errorf("%w", auth.ErrHostUnknown), exitHostKey},
		{errBusy, exitBusy},
		{errDenied, exitDenied},
		{fmt.Errorf("%w: refused", errNoCarrier), exitNoCarrier},
		{fmt.Errorf("%w: junk", auth.ErrMalformed), exitProtocol},
		{fmt.Errorf("%w: x", errProtocol), exitProtocol},
		{fmt.Errorf("%w: NO CARRIER (idle timeout)", errHungUp), exitHungUp},
		{fmt.Errorf("%w mid-call: x", errDropped), exitDropped},
		{errors.New("disk full"), exitFailure},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// Every documented code is distinct.
	seen := map[int]bool{}
	for _, c := range []int{exitOK, exitFailure, exitUsage, exitDenied, exitBusy, exitHostKey, exitNoCarrier, exitProtocol, exitHungUp, exitDropped} {
		if seen[c] {
			t.Errorf("exit code %d used twice", c)
		}
		seen[c] = true
		if !strings.Contains(dialExitHelp, fmt.Sprintf("  %d ", c)) && !strings.Contains(dialExitHelp, fmt.Sprintf("  %d  ", c)) {
			t.Errorf("exit code %d not documented in --help", c)
		}
	}
}

func TestTextOutcome(t *testing.T) {
	for _, c := range []struct {
		head, tail string
		want       error
	}{
		{"BUSY\r\n", "BUSY\r\n", errBusy},
		{"\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n", "\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n", errBusy},
		{"\r\ngw: redialled too soon\r\nBUSY\r\n", "BUSY\r\n", nil}, // head and tail differ: not the whole call
		{"\r\nbanner\r\nBUSY\r\nmore", "\r\nbanner\r\nBUSY\r\nmore", nil},
		{"welcome\r\n", "bye\r\nNO CARRIER (access denied)\r\n", errDenied},
		{"welcome\r\n", "\r\nNO CARRIER (too many attempts or too busy; try again later)\r\n", errDenied},
		{"x", "\r\nNO CARRIER (the service ended the session)\r\n", nil},
		{"x", "\r\nNO CARRIER (this line does not offer a text login; use a V.42 Access Security caller)\r\n", errProtocol},
		{"x", "\r\nNO CARRIER (this line does not offer a text login unencrypted; call it with TLS: telnets://, tls:// or wss://)\r\n", errProtocol},
		{"\r\nNO CARRIER (this line speaks TLS only: connect with a TLS client)\r\n", "\r\nNO CARRIER (this line speaks TLS only: connect with a TLS client)\r\n", errNoCarrier},
		{"BUSY signal in a story\r\n", "the end", nil},
		{"x", "\r\nNO CARRIER (the gateway is shutting down)\r\n", errHungUp},
		{"x", "data\r\nNO CARRIER (idle timeout)\r\n", errHungUp},
		{"x", "\r\nNO CARRIER (session time limit)\r\n", errHungUp},
		{"x", "\r\nNO CARRIER (gateway error)\r\n", errHungUp},
		{"x", "\r\nNO CARRIER (service \"bbs\" is not available)\r\n", errHungUp},
		{"x", "\r\nNO CARRIER (the service failed)\r\n", errHungUp},
		{"x", "\r\nNO CARRIER (this account is already logged in as many times as allowed)\r\n", errAccountBusy},
		{"x", "NO CARRIER (service \"bbs\" is not available) was said, then more", nil},
		{"x", "\r\nNO CARRIER (callback not connected: all lines busy)\r\n", errHungUp},
		{"x", "NO CARRIER (callback not connected: all lines busy) was said, then more", nil},
		{"x", "NO CARRIER (idle timeout) was mentioned, then more data", nil},
		// Callback trial: both exited 0 on the text path.
		{"x", "\r\nNO CARRIER (your account needs a callback, which this gateway cannot place now)\r\n", errNoCarrier},
		{"x", "Callback for alice. Type the user name: bob\r\nThis callback is not for you.\r\nNO CARRIER\r\n", errNoCarrier},
		{"x", "Type the user name: ^C\r\nNot accepted.\r\nNO CARRIER\r\n", errNoCarrier},
		{"x", "\r\nNO CARRIER (this line does not take calls from your address)\r\n", errNoCarrier},
		{"", "", nil},
	} {
		if got := textOutcome([]byte(c.head), []byte(c.tail)); !errors.Is(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("textOutcome(%q, %q) = %v, want %v", c.head, c.tail, got, c.want)
		}
	}
}

func TestCredSources(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("from-file\r\nsecond line\n"), 0o600)
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte("loose\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		name     string
		cs       credSource
		user, pw string
		err      error
	}{
		{"flags win", credSource{user: "alice", passwordFile: pwFile, getenv: env(map[string]string{envUser: "bob", envPassword: "env"})}, "alice", "from-file", nil},
		{"env", credSource{getenv: env(map[string]string{envUser: "bob", envPassword: "env-pw"})}, "bob", "env-pw", nil},
		{"no user without tty", credSource{getenv: env(nil)}, "", "", errUsage},
		{"no password without tty", credSource{user: "alice", getenv: env(nil)}, "", "", errUsage},
		{"bad user id", credSource{user: "bad user", passwordFile: pwFile, getenv: env(nil)}, "", "", errUsage},
		{"missing file", credSource{user: "a", passwordFile: filepath.Join(dir, "nope"), getenv: env(nil)}, "", "", errUsage},
		{"empty file", credSource{user: "a", passwordFile: empty, getenv: env(nil)}, "", "", errUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			var warn strings.Builder
			c.cs.warn, c.cs.prompt = &warn, &warn
			u, p, err := c.cs.get()
			if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) || u != c.user || string(p) != c.pw {
				t.Fatalf("get() = %q, %q, %v; want %q, %q, %v", u, p, err, c.user, c.pw, c.err)
			}
		})
	}
	var warn strings.Builder
	p, err := readPasswordFile(loose, &warn)
	if err != nil || string(p) != "loose" || !strings.Contains(warn.String(), "readable by other users") {
		t.Errorf("loose file: %q %v, warning %q", p, err, warn.String())
	}
}

func TestHostKeyCheck(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "sub", "known_hosts")
	k1, _ := auth.GenerateHostKey(nil)
	k2, _ := auth.GenerateHostKey(nil)
	var notice strings.Builder
	h := hostKeyCheck{host: "gw.example:2323", knownHosts: kh, notice: &notice}
	if err := h.check(k1.Public); !errors.Is(err, auth.ErrHostUnknown) || exitCode(err) != exitHostKey {
		t.Fatalf("unknown host without --tofu: %v", err)
	}
	h.tofu = true
	if err := h.check(k1.Public); err != nil {
		t.Fatalf("--tofu: %v", err)
	}
	if !strings.Contains(notice.String(), k1.Fingerprint()) {
		t.Errorf("no loud notice: %q", notice.String())
	}
	h.tofu = false
	if err := h.check(k1.Public); err != nil {
		t.Fatalf("known key: %v", err)
	}
	if err := h.check(k2.Public); !errors.Is(err, auth.ErrHostKeyChanged) {
		t.Fatalf("changed key: %v", err)
	}
	// A pinned fingerprint decides alone and is recorded for a new host.
	p := hostKeyCheck{host: "other:1", knownHosts: kh, fingerprint: k2.Fingerprint(), notice: &notice}
	if err := p.check(k1.Public); !errors.Is(err, errHostKey) {
		t.Fatalf("pinned mismatch: %v", err)
	}
	if err := p.check(k2.Public); err != nil {
		t.Fatalf("pinned match: %v", err)
	}
	p.fingerprint = ""
	if err := p.check(k2.Public); err != nil {
		t.Fatalf("pinned key not recorded: %v", err)
	}
	p.fingerprint = "SHA256:nonsense"
	if err := p.check(k2.Public); exitCode(err) != exitHostKey {
		t.Fatalf("bad --fingerprint: %v", err)
	}
}

// FuzzTextOutcome feeds arbitrary gateway output (untrusted) to the
// result-code reader: it never panics, and only the documented outcomes
// come out.
func FuzzTextOutcome(f *testing.F) {
	f.Add([]byte("BUSY\r\n"), []byte("BUSY\r\n"))
	f.Add([]byte("login: "), []byte("\r\nNO CARRIER (access denied)\r\n"))
	f.Add([]byte(""), []byte("NO CARRIER ("))
	f.Fuzz(func(t *testing.T, head, tail []byte) {
		switch err := textOutcome(head, tail); {
		case err == nil, err == errDenied, err == errProtocol:
		case errors.Is(err, errBusy):
			if _, ok := busyline.Parse(head); !ok {
				t.Fatalf("textOutcome busy on %q, which busyline.Parse refuses", head)
			}
		case errors.Is(err, errHungUp) && bytes.Contains(tail, []byte("NO CARRIER (")):
		default:
			t.Fatalf("textOutcome gave %v", err)
		}
		textDropped(head, tail)
	})
}

// TestTextDropped: a text call closed without "NO CARRIER" is a dropped
// line only when the peer is a dialgate gateway (its banner opened the
// call); a BBS dialed directly may close without a word.
func TestTextDropped(t *testing.T) {
	banner := "\r\ntestgw: session 42\r\nlogin: "
	for _, c := range []struct {
		head, tail string
		want       bool
	}{
		{banner, "welcome\r\n$ ", true},
		{banner, "\r\nNO CARRIER (the service ended the session)\r\n", false},
		{"Welcome to the BBS\r\n", "Goodbye\r\n", false},
		{"\r\n: session 1\r\n", "x", false},
		{"", "", false},
	} {
		if got := textDropped([]byte(c.head), []byte(c.tail)); got != c.want {
			t.Errorf("textDropped(%q, %q) = %v, want %v", c.head, c.tail, got, c.want)
		}
	}
}

// TestDialMessages: the failures a new caller meets first are told in
// words that say what to do: a wrong password, a busy gateway, nobody
// answering, an address without a scheme or of the web page.
func TestDialMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&auth.RejectError{Reason: auth.ReasonDenied, Authenticated: true}, "access denied: the gateway refused this user ID and password"},
		{&auth.RejectError{Reason: auth.ReasonBusy}, "busy: the gateway is checking too many logins"},
		{&auth.RejectError{Reason: auth.ReasonCallbackUnavailable, Authenticated: true}, "dial with --answer ADDR"},
		{&auth.RejectError{Reason: auth.ReasonNotOffered}, "not offered: the gateway does not run Access Security on this line"},
		{fmt.Errorf("%w: the gateway answered BUSY and hung up", errBusy), "busy: the gateway answered BUSY: every line is in use, or it holds off"},
		{errBusy, "busy: the gateway answered BUSY"},
		{fmt.Errorf("x: %w", errAccountBusy), "busy: the gateway refused the login: this account is already logged in"},
		{&busyError{}, "busy: the gateway answered BUSY: every line is in use, or it holds off"},
		{fmt.Errorf("x: %w", &busyError{why: "gw: redialled too soon; try again in 2 s"}), "busy: the gateway answered BUSY: gw: redialled too soon; try again in 2 s"},
		{noCarrier("127.0.0.1:2999", fmt.Errorf("tcp: dial: %w", syscall.ECONNREFUSED)), "no carrier: nobody answers at 127.0.0.1:2999 (connection refused)"},
		{noCarrier("nosuch.invalid:23", &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}), "does not resolve"},
		{fmt.Errorf("auth: gateway \"h:1\": auth: host key rejected: auth: no known host key for h:1, which offered SHA256:XmzY0LvIXP3foEb0SCo1xnLmT72Vn+GPCicWAh95uVs; pin it: %w", auth.ErrHostUnknown),
			"call again with --fingerprint SHA256:XmzY0LvIXP3foEb0SCo1xnLmT72Vn+GPCicWAh95uVs (or --tofu"},
		{noCarrier("127.0.0.1:8443", fmt.Errorf("ws: dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})), "dial with SSL_CERT_FILE=cert.pem"},
		{errors.New("something else"), "something else"},
		// Host keys: the --fingerprint mismatch in words, the changed
		// key's warning without the wrappers' prefixes.
		{fmt.Errorf("auth: gateway \"h:1\": %w: %w", auth.ErrHostKeyRejected, &pinMismatchError{got: "SHA256:got", want: "SHA256:want"}),
			"host key mismatch: the gateway offered the host key SHA256:got, not the SHA256:want given with --fingerprint"},
	} {
		if got := dialMessage(c.err); !strings.HasPrefix(got, c.want) && !strings.Contains(got, c.want) {
			t.Errorf("dialMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	changed := fmt.Errorf("auth: gateway \"h:1\": %w: %w", auth.ErrHostKeyRejected, &auth.HostKeyChangedError{Host: "h:1", Path: "kh", Got: "SHA256:got", Want: []string{"SHA256:old"}})
	if got := dialMessage(changed); !strings.HasPrefix(got, "the host key of h:1 has changed\n@@@") {
		t.Errorf("changed host key: %q", got)
	}
	if code := exitCode(noCarrier("h:1", syscall.ECONNREFUSED)); code != exitNoCarrier {
		t.Errorf("connection refused: exit %d", code)
	}
	for addr, want := range map[string]string{
		"127.0.0.1:2323":               "did you mean telnet://127.0.0.1:2323?",
		"http://127.0.0.1:8080/":       "ws://127.0.0.1:8080/line",
		"https://bbs.example.org:8443": "wss://bbs.example.org:8443/line",
		"telnet://127.0.0.1:2323":      "",
		"":                             "",
		// Power-user trial: ssh's habits got hints that were refused
		// in turn (telnet://alice@..., telnet://127.0.0.1).
		"alice@127.0.0.1:2323":              "did you mean telnet://127.0.0.1:2323?; the user goes in --user alice,",
		"alice:s3cret@bbs.example.net:2323": "did you mean telnet://bbs.example.net:2323?; the user goes in --user alice,",
		"telnet://alice@127.0.0.1:2323":     "did you mean telnet://127.0.0.1:2323?; the user goes in --user alice,",
		"ws://alice@127.0.0.1:8080/line":    "did you mean ws://127.0.0.1:8080/line?",
		"127.0.0.1":                         "did you mean telnet://127.0.0.1:PORT?; a line address needs the gateway's port",
		"telnet://bbs.example.net":          "did you mean telnet://bbs.example.net:PORT?",
		"telnet://[::1]":                    "did you mean telnet://[::1]:PORT?",
		"ws://127.0.0.1/line":               "did you mean ws://127.0.0.1:PORT/line?",
		"telnet://a:s3cret@127.0.0.1:x":     "did you mean telnet://127.0.0.1:PORT?",
		"[::1]:2323":                        "did you mean telnet://[::1]:2323?",
		// Review: a '/' in the password ended the user info early.
		"alice:s3cret/x@127.0.0.1:2323": "did you mean telnet://127.0.0.1:2323?; the user goes in --user alice,",
	} {
		if got := lineURLHint(addr); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("lineURLHint(%q) = %q, want %q", addr, got, want)
		}
		if strings.Contains(lineURLHint(addr), "s3cret") {
			t.Errorf("lineURLHint(%q) repeats the password", addr)
		}
	}
}

// TestModemHostKeyExplained: the modem tells the DTE what to do about an
// unknown gateway key (with the fingerprint), and a changed key is not
// called merely "not trusted".
func TestModemHostKeyExplained(t *testing.T) {
	const fp = "SHA256:XmzY0LvIXP3foEb0SCo1xnLmT72Vn+GPCicWAh95uVs"
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("auth: no known host key for h:1, which offered %s: %w", fp, auth.ErrHostUnknown), "unknown gateway host key " + fp + ": check it with the operator, then restart the modem with --tofu"},
		{fmt.Errorf("auth: the host key of h:1 has changed: %w", auth.ErrHostKeyChanged), "the gateway's host key has CHANGED"},
	} {
		var de *modem.DialError
		if err := classifyAuth(c.err); !errors.As(err, &de) || !strings.Contains(de.Explain, c.want) || de.Reason != modem.ReasonNoCarrier {
			t.Errorf("classifyAuth(%v) = %v, want NO CARRIER explained %q", c.err, err, c.want)
		}
	}
}

// TestDialOneProcessor: gateway dial runs on one processor unless
// $GOMAXPROCS is set.
func TestDialOneProcessor(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	runtime.GOMAXPROCS(2)
	oneProcessor(func(string) string { return "2" })
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("with $GOMAXPROCS set: %d processors, want 2 (left alone)", n)
	}
	oneProcessor(func(string) string { return "" })
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("without $GOMAXPROCS: %d processors, want 1", n)
	}
}

// TestDialHandshakeClock: --timeout over the handshake does not count
// the time it is stopped (at the prompts): 10 s of budget, 4 s running,
// a minute stopped, then it expires 6 s after it resumed; a clock that
// has expired cannot be stopped.
func TestDialHandshakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		expiry := make(chan time.Time, 1)
		clock := startHandshakeClock(10*time.Second, func() { expiry <- time.Now() })
		time.Sleep(4 * time.Second)
		if !clock.stop() {
			t.Fatal("a running clock could not be stopped")
		}
		time.Sleep(time.Minute)
		clock.resume()
		expired := <-expiry
		if want := start.Add(4*time.Second + time.Minute + 6*time.Second); !expired.Equal(want) {
			t.Fatalf("expired at %v, want %v", expired.Sub(start), want.Sub(start))
		}
		if clock.stop() {
			t.Fatal("an expired clock was stopped")
		}
	})
}

// TestGatewayRefusal: a gateway's "NO CARRIER (why)" read by detection is
// the error, with the exit status its words call for; anything else (a
// partial line, text after it, control characters, an over-long line)
// is not taken for one.
func TestGatewayRefusal(t *testing.T) {
	for _, c := range []struct {
		read  string
		words string // "" for none
		exit  int
	}{
		{"\r\nNO CARRIER (this line speaks TLS only: connect with a TLS client)\r\n", "NO CARRIER (this line speaks TLS only: connect with a TLS client)", exitNoCarrier},
		{"\x11\x11\r\nNO CARRIER (this line does not offer a text login; use a V.42 Access Security caller)\r\n", "NO CARRIER (this line does not offer a text login; use a V.42 Access Security caller)", exitProtocol},
		{"\r\nNO CARRIER (the gateway is shutting down)\r\n", "NO CARRIER (the gateway is shutting down)", exitHungUp},
		{"\r\nNO CARRIER (too many attempts or too busy; try again later)\r\n", "NO CARRIER (too many attempts or too busy; try again later)", exitDenied},
		{"NO CARRIER (login timed out)", "NO CARRIER (login timed out)", exitNoCarrier},
		{"\r\nNO CARRIER (cut", "", 0},
		{"\r\nNO CARRIER (x)\r\nmore", "", 0},
		{"\r\nNO CARRIER (\x1b[2Jx)\r\n", "", 0},
		{"junk NO CARRIER (x)\r\n", "", 0},
		{"\r\nNO CARRIER (" + strings.Repeat("x", maxRefusal) + ")\r\n", "", 0},
		{"", "", 0},
	} {
		r, ok := gatewayRefusal([]byte(c.read))
		if c.words == "" {
			if ok {
				t.Errorf("%q: taken for a refusal %q", c.read, r.words)
			}
			continue
		}
		if !ok || r.words != c.words {
			t.Errorf("%q: refusal %v %+v, want %q", c.read, ok, r, c.words)
			continue
		}
		if got := exitCode(r); got != c.exit {
			t.Errorf("%q: exit %d, want %d", c.read, got, c.exit)
		}
	}
}

// resetLine is a line with deadlines whose reads return some octets,
// then a reset.
type resetLine struct {
	transport.Line
	reads [][]byte
}

func (l *resetLine) Read(p []byte) (int, error) {
	if len(l.reads) == 0 {
		return 0, syscall.ECONNRESET
	}
	n := copy(p, l.reads[0])
	l.reads = l.reads[1:]
	return n, nil
}
func (l *resetLine) SetReadDeadline(time.Time) error  { return nil }
func (l *resetLine) SetWriteDeadline(time.Time) error { return nil }

// TestGreetingKeepsReadError: a reset met while a text call reads the
// gateway's first words reaches the session's first read after those
// words (review: it was dropped, and the call looked like a gateway that
// closed without NO CARRIER).
func TestGreetingKeepsReadError(t *testing.T) {
	line := &resetLine{}
	got, err := greeting(line, nil)
	if len(got) != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("greeting: %q, %v; want the reset", got, err)
	}
	conn := &leftoverConn{Line: line, rest: []byte("hi"), err: err}
	buf := make([]byte, 8)
	if n, err := conn.Read(buf); string(buf[:n]) != "hi" || err != nil {
		t.Errorf("first read %q, %v", buf[:n], err)
	}
	if _, err := conn.Read(buf); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("second read: %v, want the reset", err)
	}
	line.reads = [][]byte{[]byte("BUSY\r\n")}
	if got, err := greeting(line, nil); string(got) != "BUSY\r\n" || err != nil {
		t.Errorf("greeting: %q, %v", got, err)
	}
}
