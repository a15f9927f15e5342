package busyline

import (
	"bytes"
	"strings"
	"testing"
)

// TestParse: BUSY is the last line; before it at most two short
// printable lines, the gateway's reason, are accepted; more lines, long
// or non-printable ones, words after BUSY, or too much in all are not a
// BUSY.
func TestParse(t *testing.T) {
	long := strings.Repeat("x", MaxLineLen)
	for _, c := range []struct {
		heard string
		why   string
		ok    bool
	}{
		{"BUSY\r\n", "", true},
		{"\r\nBUSY\r\n", "", true},
		{"  BUSY \t", "", true},
		{"BUSY", "", true},
		{"\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n", "dialgate: redialled too soon; try again in 2 s", true},
		{"\ngw: all lines busy; try again later\nBUSY\n", "gw: all lines busy; try again later", true},
		{"one\r\n\r\ntwo\r\nBUSY\r\n", "one two", true},
		{"hello\r\nBUSY\r\n", "hello", true},
		{long + "\r\nBUSY\r\n", long, true},
		{long + "x\r\nBUSY\r\n", "", false},
		{"one\r\ntwo\r\nthree\r\nBUSY\r\n", "", false},
		{"BUSY\r\nmore", "", false},
		{"busy\r\n", "", false},
		{"BUSY signal\r\n", "", false},
		{"\x1b[2Jgw: busy\r\nBUSY\r\n", "", false},
		{"gw: caf\xc3\xa9\r\nBUSY\r\n", "", false},
		{"gw\x00: x\r\nBUSY\r\n", "", false},
		{"", "", false},
		{"\r\n\r\n", "", false},
		{strings.Repeat(" ", MaxHeard) + "BUSY", "", false},
	} {
		why, ok := Parse([]byte(c.heard))
		if why != c.why || ok != c.ok {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", c.heard, why, ok, c.why, c.ok)
		}
	}
}

// FuzzParse feeds arbitrary gateway output (untrusted) to Parse: a BUSY
// it accepts is bounded and ends with BUSY, and its reason is short
// printable ASCII; and every short printable reason a gateway puts
// before BUSY comes back as it was.
func FuzzParse(f *testing.F) {
	f.Add([]byte("BUSY\r\n"), "dialgate: redialled too soon; try again in 2 s")
	f.Add([]byte("\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n"), "gw: down for maintenance; try again later")
	f.Add([]byte("a\r\nb\r\nc\r\nBUSY\r\n"), "")
	f.Add([]byte("BUSY\r\nNO CARRIER\r\n"), " padded ")
	f.Add([]byte("\x1b]0;x\x07\r\nBUSY"), "\x1b[31mred")
	f.Fuzz(func(t *testing.T, heard []byte, reason string) {
		if why, ok := Parse(heard); ok {
			if len(heard) > MaxHeard {
				t.Fatalf("accepted %d octets", len(heard))
			}
			if !bytes.HasSuffix(bytes.TrimRight(heard, " \t\v\f\r\n"), []byte("BUSY")) {
				t.Fatalf("accepted %q, which does not end with BUSY", heard)
			}
			if len(why) > MaxLines*(MaxLineLen+1) || !PrintableASCII([]byte(why)) {
				t.Fatalf("reason %q from %q", why, heard)
			}
			if why == "" && !bytes.Equal(bytes.TrimSpace(heard), []byte("BUSY")) {
				t.Fatalf("no reason from %q, which is not a bare BUSY", heard)
			}
		} else if why != "" {
			t.Fatalf("a reason %q without a BUSY", why)
		}
		r := strings.Trim(reason, " \t\v\f")
		msg := []byte("\r\n" + reason + "\r\nBUSY\r\n")
		if r == "" || len(r) > MaxLineLen || !PrintableASCII([]byte(r)) || len(msg) > MaxHeard {
			return
		}
		if why, ok := Parse(msg); !ok || why != r {
			t.Fatalf("reason %q came back as %q, %v", reason, why, ok)
		}
	})
}
