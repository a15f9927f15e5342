package bridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/store"
)

func TestLineEditor(t *testing.T) {
	for _, tc := range []struct {
		in, want, echo string
	}{
		{"alice\r\n", "alice", "alice\r\n"},
		{"alice\r\x00", "alice", "alice\r\n"},
		{"alice\n", "alice", "alice\r\n"},
		{"alx\x7fice\r", "alice", "alx\b \bice\r\n"},
		{"\x1b[Aab\bc\r", "ac", "ab\b \bc\r\n"},
		{"zz\x15ok\r", "ok", "zz\b \b\b \bok\r\n"},
		// A V.42 caller's detection pattern (DC1 even/odd parity) and
		// other controls before the name are dropped, not echoed.
		{"\x11\x91\x11\x91\x11\x91bob\r", "bob", "bob\r\n"},
		{"\x91\x80\x9f\x00\x7fbob\r", "bob", "bob\r\n"},
		// After the first printable character, octets >= 0x80 are text
		// (UTF-8 continuation octets).
		{"j\xc3\xbcrgen\r", "j\xc3\xbcrgen", "j\xc3\xbcrgen\r\n"},
		{"\x91\xc3\xa9mile\r", "\xc3\xa9mile", "\xc3\xa9mile\r\n"},
		// Backspace takes a character, not an octet of it; ^U erases
		// one column per character (charset trial: "p\xc3\xa9" then
		// DEL left "p\xc3").
		{"p\xc3\xa9\x7f1\r", "p1", "p\xc3\xa9\b \b1\r\n"},
		{"\xe6\x97\xa5x\x15ok\r", "ok", "\xe6\x97\xa5x\b \b\b \bok\r\n"},
		{"jos\xe9\x7fe\r", "jose", "jos\xe9\b \be\r\n"}, // Latin-1: one octet
	} {
		var out bytes.Buffer
		e := newLineEditor(strings.NewReader(tc.in), &out, true)
		got, err := e.readLine(false, 64)
		if err != nil || got != tc.want || out.String() != tc.echo {
			t.Errorf("%q: got %q, %v, echo %q; want %q, echo %q", tc.in, got, err, out.String(), tc.want, tc.echo)
		}
	}
	// Secret lines are not echoed, and the LF after the CR is not
	// handed to what follows.
	var out bytes.Buffer
	e := newLineEditor(strings.NewReader("pw\r\nrest"), &out, true)
	if got, _ := e.readLine(true, 64); got != "pw" || out.String() != "\r\n" {
		t.Errorf("secret: %q, echo %q", got, out.String())
	}
	rest, _ := io.ReadAll(e.rest(time.Now))
	if string(rest) != "rest" {
		t.Errorf("rest %q", rest)
	}
	// The typeahead after the password line reaches what follows, with
	// the LF or NUL of its CR dropped, also when that arrives later.
	for _, tc := range []struct {
		chunks []string
		want   string
	}{
		{[]string{"pw\r", "\nrest"}, "rest"},
		{[]string{"pw\r", "\x00rest"}, "rest"},
		{[]string{"pw\r", "rest"}, "rest"},
		{[]string{"pw\r\n", "rest"}, "rest"},
		{[]string{"pw\rtype", "ahead\n"}, "typeahead\n"},
		{[]string{"pw\r\ntype", "\nahead"}, "type\nahead"},
		{[]string{"pw\n", "\nrest"}, "\nrest"},
		{[]string{"pw\r", "\n", "\nrest"}, "\nrest"},
	} {
		e := newLineEditor(&chunkReader{chunks: tc.chunks}, io.Discard, true)
		if got, err := e.readLine(true, 64); got != "pw" || err != nil {
			t.Errorf("%q: password %q, %v", tc.chunks, got, err)
			continue
		}
		rest, _ := io.ReadAll(e.rest(time.Now))
		if string(rest) != tc.want {
			t.Errorf("%q: rest %q, want %q", tc.chunks, rest, tc.want)
		}
	}
	// A LF or NUL that the first read waits longer than lfAfterCR for is
	// the caller's first octet of data (a terminal that ends lines with
	// CR alone; tcpser trial: "\x00\x00AB" echoed as "\x00AB"); one that
	// was waiting is dropped, however late the first read (a backend
	// slow to connect).
	for _, c := range []struct {
		first      string
		before, in time.Duration // clock moves before the first read, in it
		want       string
	}{
		{"\n", 0, 2 * lfAfterCR, "\nAB"},
		{"\x00", 0, 2 * lfAfterCR, "\x00AB"},
		{"\n", 3 * lfAfterCR, 0, "AB"},
		{"\x00", 3 * lfAfterCR, lfAfterCR / 2, "AB"},
	} {
		clock := time.Unix(1000, 0)
		src := &chunkReader{chunks: []string{"pw\r"}}
		e := newLineEditor(src, io.Discard, true)
		if got, err := e.readLine(true, 64); got != "pw" || err != nil {
			t.Fatalf("password %q, %v", got, err)
		}
		r := e.rest(func() time.Time { return clock })
		clock = clock.Add(c.before)
		src.chunks = []string{c.first + "AB"}
		src.onRead = func() { clock = clock.Add(c.in) }
		if rest, _ := io.ReadAll(r); string(rest) != c.want {
			t.Errorf("%q, %v before the first read, %v in it: rest %q, want %q", c.first, c.before, c.in, rest, c.want)
		}
	}
	// ^C gives up.
	e = newLineEditor(strings.NewReader("ab\x03"), io.Discard, true)
	if _, err := e.readLine(false, 64); err != errLoginCancelled || !errors.Is(err, errCallerGone) {
		t.Errorf("^C: %v", err)
	}
	// Over-long input is cut at the limit.
	e = newLineEditor(strings.NewReader(strings.Repeat("x", 100)+"\r"), io.Discard, true)
	if got, _ := e.readLine(false, maxUserLen); len(got) != maxUserLen {
		t.Errorf("long line: %d octets", len(got))
	}
}

// FuzzTextLogin feeds arbitrary caller octets to the text login: it must
// end (the input runs out) without panicking, verify at most three
// attempts, and grant only the account whose password was typed; after a
// grant, the typeahead (rest) is exactly what followed the password line.
func FuzzTextLogin(f *testing.F) {
	f.Add([]byte("alice\r\nsecret\r\n"))
	f.Add([]byte("alice\r\x00wrong\r\nalice\nsecret\n"))
	f.Add([]byte("\r\r\r\x7f\x08\x15\x03"))
	f.Fuzz(func(t *testing.T, in []byte) {
		v := &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": "secret"}}}
		e := newLineEditor(bytes.NewReader(in), io.Discard, true)
		out, err := textLogin(context.Background(), e, v, "fuzz", "banner\r\n", 3, nil)
		if v.calls > 3 {
			t.Fatalf("%d verifications for %q", v.calls, in)
		}
		if err == nil && out.result == "" && (out.acct.Name != "alice" || v.granted != 1) {
			t.Fatalf("granted %+v for %q", out.acct, in)
		}
		if failed := v.calls - v.granted; err != nil && failed > 0 {
			t.Fatalf("%d failed attempts, then error %v: the outcome must be a denied login for %q", failed, err, in)
		}
		if err != nil || out.result != "" {
			return
		}
		// Granted: the typeahead the backend gets is the rest of the
		// input after the password line's end, without the LF or NUL
		// of a CR LF or CR NUL (the clock stands still: it came at
		// once); nothing lost, nothing repeated.
		rest, rerr := io.ReadAll(e.rest(func() time.Time { return time.Unix(1000, 0) }))
		if rerr != nil || !bytes.HasSuffix(in, rest) {
			t.Fatalf("typeahead %q (%v) is not the end of %q", rest, rerr, in)
		}
		k := len(in) - len(rest)
		end := in[:k]
		if len(end) > 1 && (end[k-1] == '\n' || end[k-1] == 0) && end[k-2] == '\r' {
			end = end[:k-1]
		}
		if n := len(end); n == 0 || end[n-1] != '\r' && end[n-1] != '\n' {
			t.Fatalf("typeahead %q of %q does not follow a line end", rest, in)
		}
		if end[len(end)-1] == '\r' && len(end) == k && len(rest) > 0 && (rest[0] == '\n' || rest[0] == 0) {
			t.Fatalf("typeahead %q of %q keeps the second half of the password line's CR LF", rest, in)
		}
	})
}

// TestTextLoginLeftAfterFailures: a caller who hangs up (or cancels) after
// a wrong password gets a denied outcome naming the user tried, not an
// error the call records as abandoned without a name: one guess per call
// must not go unrecorded.
func TestTextLoginLeftAfterFailures(t *testing.T) {
	for _, in := range []string{
		"alice\rwrong\r",            // gone at "Login incorrect."
		"alice\rwrong\ralice\r",     // gone at the second password prompt
		"alice\rwrong\r\x03",        // cancelled after one failure
		"bob\rwrong\rbob\rwrong2\r", // two failures, then gone
	} {
		v := &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": "secret"}}}
		e := newLineEditor(strings.NewReader(in), io.Discard, true)
		out, err := textLogin(context.Background(), e, v, "test", "banner\r\n", 3, nil)
		if err != nil || out.result != store.ResultDenied || out.tried == "" || out.tries != v.calls {
			t.Errorf("%q: outcome %+v, error %v; want denied with the user tried after %d attempts", in, out, err, v.calls)
		}
	}
	// The reason counts in words that read right (it said "1 failed
	// login attempts").
	e := newLineEditor(strings.NewReader("alice\rwrong\r"), io.Discard, true)
	out, _ := textLogin(context.Background(), e, &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": "secret"}}}, "test", "", 3, nil)
	if out.reason != "1 failed login attempt, then the caller left" {
		t.Errorf("reason %q", out.reason)
	}
	// Gone once told "Login incorrect.": the next prompt's write fails
	// (the caller closed, its system reset the connection). Operator
	// trial: recorded abandoned, without the user.
	e = newLineEditor(strings.NewReader("alice\rwrong\ralice\r"), &failAfter{mark: "Login incorrect."}, true)
	out, err := textLogin(context.Background(), e, &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": "secret"}}}, "test", "", 3, nil)
	if err != nil || out.result != store.ResultDenied || out.tried != "alice" || out.reason != "1 failed login attempt, then the caller left" {
		t.Errorf("gone when the next prompt was written: outcome %+v, error %v", out, err)
	}
	// Gone before any attempt was checked: the error, as before.
	e = newLineEditor(strings.NewReader("alice\r"), io.Discard, true)
	if _, err := textLogin(context.Background(), e, &countingVerifier{}, "test", "", 3, nil); !errors.Is(err, io.EOF) && !errors.Is(err, errCallerGone) {
		t.Errorf("gone at the first password prompt: error %v", err)
	}
}

// TestTextLoginLongPassword: a password of auth.MaxPasswordLen octets
// (the longest `gateway user` and Access Security take) logs in by text
// too. Regression: the text login cut it to 256 octets, so such an
// account was denied on every text call.
func TestTextLoginLongPassword(t *testing.T) {
	pw := strings.Repeat("0123456789abcdef", auth.MaxPasswordLen/16)
	v := &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": pw}}}
	e := newLineEditor(strings.NewReader("alice\r"+pw+"\r"), io.Discard, true)
	out, err := textLogin(context.Background(), e, v, "test", "", 3, nil)
	if err != nil || out.result != "" || v.granted != 1 {
		t.Errorf("a %d-octet password: outcome %+v, error %v, granted %d", len(pw), out, err, v.granted)
	}
}

// TestTextLoginOverlongPasswordDenied: a password longer than
// auth.MaxPasswordLen is denied, as Access Security and the verifier deny
// it, not cut to its first MaxPasswordLen octets and let in (security
// review: the account's password followed by anything logged in).
func TestTextLoginOverlongPasswordDenied(t *testing.T) {
	pw := strings.Repeat("0123456789abcdef", auth.MaxPasswordLen/16)
	v := &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": pw}}}
	e := newLineEditor(strings.NewReader("alice\r"+pw+"and-more\r"), io.Discard, true)
	out, err := textLogin(context.Background(), e, v, "test", "", 1, nil)
	if err != nil || out.result != store.ResultDenied || v.granted != 0 {
		t.Errorf("the password and 8 octets more: outcome %+v, error %v, granted %d", out, err, v.granted)
	}
}

type countingVerifier struct {
	fakeVerifier
	calls, granted int
}

func (v *countingVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	v.calls++
	a, err := v.fakeVerifier.Verify(ctx, user, password, source)
	if err == nil {
		v.granted++
	}
	return a, err
}

// chunkReader returns one chunk per Read, as a line delivers what arrived.
type chunkReader struct {
	chunks []string
	onRead func() // if set, called as each Read starts (a clock moving while it waits)
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.onRead != nil {
		c.onRead()
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// resetWriter accepts writes until it has seen after, then fails every
// write as a TCP connection the peer reset does.
type resetWriter struct {
	after string
	seen  bytes.Buffer
}

func (w *resetWriter) Write(p []byte) (int, error) {
	if strings.Contains(w.seen.String(), w.after) {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("writev", syscall.ECONNRESET)}
	}
	return w.seen.Write(p)
}

// TestTextLoginResetAfterPassword: a caller that resets the connection
// right after sending the password line (the echo of its CR LF fails)
// left: the login ends with errCallerGone, which the call records as
// abandoned, not with the raw write error recorded as a gateway error
// (trial: "result":"error","reason":"tcp: write: writev ... connection
// reset by peer").
func TestTextLoginResetAfterPassword(t *testing.T) {
	v := &countingVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"alice": "secret"}}}
	e := newLineEditor(strings.NewReader("alice\rsecret\r"), &resetWriter{after: "password: "}, true)
	_, err := textLogin(context.Background(), e, v, "test", "banner\r\n", 3, nil)
	if !errors.Is(err, errCallerGone) {
		t.Errorf("error %v; want errCallerGone", err)
	}
	if v.calls != 0 {
		t.Errorf("%d password checks for a caller that left", v.calls)
	}
}

// failAfter is a caller's line that takes writes until what it took
// holds mark, then fails them (the caller has gone).
type failAfter struct {
	mark string
	took strings.Builder
}

func (f *failAfter) Write(p []byte) (int, error) {
	if strings.Contains(f.took.String(), f.mark) {
		return 0, errors.New("write: broken pipe")
	}
	return f.took.Write(p)
}
