package termname

import (
	"strings"
	"testing"
)

// TestClean: a terminal type reaches a backend's TERM only if it can be a
// terminfo name: [A-Za-z0-9._+-], starting with a letter or digit, at
// most maxLen characters; anything else, and RFC 1091's UNKNOWN, is none
// (""). Regression: '/' and other printable characters passed (a TTYPE
// of "../../tmp/x" became TERM), an over-long name was cut to a
// different name, and UNKNOWN became TERM=unknown.
func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"xterm-256color", "xterm-256color"},
		{"VT100", "VT100"},
		{"ANSI-BBS", "ANSI-BBS"},
		{"rxvt-unicode-256color", "rxvt-unicode-256color"},
		{"screen.xterm-256color", "screen.xterm-256color"},
		{"xterm+256setaf", "xterm+256setaf"},
		{"IBM-3278-2-E", "IBM-3278-2-E"},
		{" vt220\x00", "vt220"}, // padding around the name
		{strings.Repeat("A", maxLen), strings.Repeat("A", maxLen)},
		{strings.Repeat("A", maxLen+1), ""},
		{"../../tmp/x", ""},
		{"/etc/passwd", ""},
		{"vt100/x", ""},
		{"VT\x00100 \x1b[", ""},
		{"xterm\x1b]0;pwned\x07", ""},
		{"-x", ""},
		{".hidden", ""},
		{"x y", ""},
		{"xterm$(id)", ""},
		{"ANSI\xc3\xa9", ""},
		{"", ""},
		{"\x00", ""},
		{"UNKNOWN", ""},
		{"unknown", ""},
		{" Unknown\x00", ""},
		{"unknown-2", "unknown-2"},
	} {
		if got := Clean([]byte(c.in)); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzClean: whatever a caller announces, Clean gives "" or a name of at
// most maxLen terminfo characters that cleans to itself.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"xterm-256color", "UNKNOWN", "../x", " vt100\x00", strings.Repeat("a", 41)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got := Clean(p)
		if got == "" {
			return
		}
		if len(got) > maxLen || Clean([]byte(got)) != got || strings.ContainsAny(got, "/ \x00") || strings.EqualFold(got, "unknown") {
			t.Fatalf("Clean(%q) = %q", p, got)
		}
	})
}
