package main

import (
	"bytes"
	"strings"
	"testing"
)

// feedAll feeds chunks and returns what reached the line and the actions.
func feedAll(e *escaper, chunks ...string) (string, []escAction) {
	var out []byte
	var acts []escAction
	for _, c := range chunks {
		p := []byte(c)
		for len(p) > 0 {
			var a escAction
			var n int
			out, a, n = e.feed(out, p)
			p = p[n:]
			if a != escNone {
				acts = append(acts, a)
			}
			if a == escHangup {
				return string(out), acts
			}
		}
	}
	return string(out), acts
}

func TestEscaper(t *testing.T) {
	for _, c := range []struct {
		name   string
		chunks []string
		out    string
		acts   []escAction
	}{
		{"hangup at start", []string{"~."}, "", []escAction{escHangup}},
		{"hangup after CR", []string{"ls\r~.more"}, "ls\r", []escAction{escHangup}},
		{"hangup after LF", []string{"ls\n~.", "x"}, "ls\n", []escAction{escHangup}},
		{"split across reads", []string{"a\r", "~", "."}, "a\r", []escAction{escHangup}},
		{"not at line start", []string{"a~.b"}, "a~.b", nil},
		{"tilde tilde", []string{"~~."}, "~.", nil},
		{"help", []string{"~?x"}, "x", []escAction{escHelp}},
		{"break", []string{"\r~B"}, "\r", []escAction{escBreak}},
		{"other char sends both", []string{"~x"}, "~x", nil},
		{"tilde then newline", []string{"~\r~."}, "~\r", []escAction{escHangup}},
		{"binary", []string{"\x00\xff~\x7e"}, "\x00\xff~~", nil},
		// As in ssh: after ~? or ~B the line still starts (new-user
		// trial: ~. after ~? went to the call).
		{"help then hangup", []string{"~?", "~."}, "", []escAction{escHelp, escHangup}},
		{"break then hangup", []string{"\r~B~."}, "\r", []escAction{escBreak, escHangup}},
		{"help then text", []string{"~?a~."}, "a~.", []escAction{escHelp}},
		// ~^Z, as in ssh; the line still starts when dial is continued.
		{"suspend then hangup", []string{"ls\r~\x1a", "~."}, "ls\r", []escAction{escSuspend, escHangup}},
		{"suspend not mid-line", []string{"a~\x1a"}, "a~\x1a", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, acts := feedAll(newEscaper('~'), c.chunks...)
			if out != c.out || len(acts) != len(c.acts) {
				t.Fatalf("out %q acts %v, want %q %v", out, acts, c.out, c.acts)
			}
			for i := range acts {
				if acts[i] != c.acts[i] {
					t.Fatalf("acts %v, want %v", acts, c.acts)
				}
			}
		})
	}
}

func TestEscaperDisabled(t *testing.T) {
	in := []byte("~.\r~.~?")
	out, a, n := newEscaper(0).feed(nil, in)
	if !bytes.Equal(out, in) || a != escNone || n != len(in) {
		t.Fatalf("disabled escaper: %q %v %d", out, a, n)
	}
}

// refEscape is the escape rule written the plain way, one octet at a
// time, for FuzzEscaper to compare against: the output up to the first
// action, and the action.
func refEscape(in []byte) (string, escAction) {
	var out []byte
	lineStart, pending := true, false
	for _, c := range in {
		switch {
		case pending:
			pending, lineStart = false, false
			switch c {
			case '.':
				return string(out), escHangup
			case 'B':
				return string(out), escBreak
			case '?':
				return string(out), escHelp
			case 0x1A:
				return string(out), escSuspend
			case '~':
				out = append(out, '~')
			default:
				out = append(out, '~', c)
				lineStart = c == '\r' || c == '\n'
			}
		case lineStart && c == '~':
			pending = true
		default:
			out = append(out, c)
			lineStart = c == '\r' || c == '\n'
		}
	}
	return string(out), escNone
}

// FuzzEscaper checks that without a hang-up every octet typed reaches the
// line except the escape sequences themselves, whatever the chunking.
func FuzzEscaper(f *testing.F) {
	f.Add([]byte("hello\r~.x"), 3)
	f.Add([]byte("~~~?~B\n~x"), 1)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		o1, a1 := feedAll(newEscaper('~'), string(in))
		o2, a2 := feedAll(newEscaper('~'), string(in[:cut]), string(in[cut:]))
		if o1 != o2 || len(a1) != len(a2) || len(a1) > 0 && a1[len(a1)-1] != a2[len(a2)-1] {
			t.Fatalf("chunking changed the result: %q %v vs %q %v", o1, a1, o2, a2)
		}
		if len(o1) > len(in) {
			t.Fatalf("output %d octets longer than input %d", len(o1), len(in))
		}
		// Against the plain rule, up to the first action.
		var out []byte
		o, a, _ := newEscaper('~').feed(out, in)
		ro, ra := refEscape(in)
		if string(o) != ro || a != ra {
			t.Fatalf("feed(%q) = %q %v, the plain rule gives %q %v", in, o, a, ro, ra)
		}
	})
}

// BenchmarkEscaperFeed measures the escape state machine on bulk input
// (32 KiB chunks of random octets, escapes on, as typed or pasted on a
// terminal).
func BenchmarkEscaperFeed(b *testing.B) {
	in := make([]byte, 32<<10)
	for i := range in {
		in[i] = byte(i*7 + i>>3)
	}
	out := make([]byte, 0, len(in)+1)
	e := newEscaper('~')
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p := in
		for len(p) > 0 {
			var n int
			out, _, n = e.feed(out[:0], p)
			p = p[n:]
		}
	}
}

// TestParseEscape: --escape takes one ASCII character, none, or a control
// character as ssh's EscapeChar writes it ("^]", telnet's escape), and
// names it that way in the notices, never as a raw control octet.
func TestParseEscape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want byte
		name string
	}{
		{"~", '~', "~"}, {"%", '%', "%"}, {"^", '^', "^"}, {"none", 0, ""},
		{"^]", 0x1d, "^]"}, {"^a", 0x01, "^A"}, {"^Z", 0x1a, "^Z"}, {"^?", 0x7f, "^?"},
		{"\x1d", 0x1d, "^]"},
	} {
		got, err := parseEscape(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseEscape(%q) = %#x, %v; want %#x", c.in, got, err, c.want)
			continue
		}
		if got != 0 && escName(got) != c.name {
			t.Errorf("escName(%#x) = %q, want %q", got, escName(got), c.name)
		}
	}
	for _, in := range []string{"", "~~", "é", "^@", "^1", "\x00", "nonE"} {
		if _, err := parseEscape(in); err == nil {
			t.Errorf("parseEscape(%q) accepted", in)
		}
	}
	if h := escHelpText(0x1d); !strings.Contains(h, " ^].") || strings.ContainsRune(h, 0x1d) {
		t.Errorf("help for ^]: %q", h)
	}
}
