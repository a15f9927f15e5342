package bridge

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// demoStream is a caller for runDemo: input read from in, output
// collected in out.
type demoStream struct {
	in  io.Reader
	out bytes.Buffer
}

func (d *demoStream) Read(p []byte) (int, error)  { return d.in.Read(p) }
func (d *demoStream) Write(p []byte) (int, error) { return d.out.Write(p) }

// runDemoOn runs the board to the end of input and returns its output.
func runDemoOn(in io.Reader) string {
	d := &demoStream{in: in}
	s := Session{Number: 42, User: "ann", Listener: "main", Remote: "192.0.2.1:5000", Term: "vt100", Window: transport.WindowSize{Cols: 80, Rows: 24}}
	runDemo(d, s, func() time.Time { return time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC) })
	return d.out.String()
}

// TestDemoMenu: every menu item, an unknown choice, an empty line, and
// the echo room, with the board's exact output.
func TestDemoMenu(t *testing.T) {
	got := runDemoOn(strings.NewReader("t\ri\r\rx\r\ne\rhello\r.\rq\r"))
	const menu = "\r\n[E]cho room  [T]ime  [I]nfo  [G]oodbye\r\nChoice: "
	want := "\r\nWelcome to the dialgate demo board, ann (session 42).\r\n" +
		menu + "t\r\nIt is Sun, 22 Nov 2026 16:00:00 UTC.\r\n" +
		menu + "i\r\nUser ann, session 42, line main from 192.0.2.1:5000, terminal vt100 80x24.\r\n" +
		menu + "\r\n" +
		menu + "x\r\nUnknown choice \"x\".\r\n" +
		menu + "e\r\nEcho room: lines come back to you; a single '.' leaves.\r\n" +
		"hello\r\necho: hello\r\n" +
		".\r\n" +
		menu + "q\r\nGoodbye, ann.\r\n"
	if got != want {
		t.Errorf("board wrote\n%q\nwant\n%q", got, want)
	}
	// G leaves as Q does.
	if got := runDemoOn(strings.NewReader("G\r\nt\r")); !strings.HasSuffix(got, "G\r\nGoodbye, ann.\r\n") {
		t.Errorf("after G the board wrote %q", got)
	}
}

// TestDemoLongPaste: a paste much larger than the board's buffers, with
// lines longer than demoMaxLine, in the echo room: every line comes back
// in order, cut to demoMaxLine octets, with backspaces applied; control
// characters are dropped.
func TestDemoLongPaste(t *testing.T) {
	var in strings.Builder
	var lines []string
	in.WriteString("e\r")
	for i := range 40 {
		// Lengths around and beyond the line bound and the buffer size.
		n := []int{1, demoMaxLine - 1, demoMaxLine, demoMaxLine + 1, demoBufSize, 3 * demoBufSize}[i%6]
		l := strings.Repeat(string(rune('a'+i%26)), n)
		in.WriteString(l + "\r\n")
		lines = append(lines, l[:min(n, demoMaxLine)])
	}
	in.WriteString("ab\x01c\x7fd\bx\r") // typed "ab", ^A dropped, "c" rubbed out, "d" rubbed out
	lines = append(lines, "abx")
	in.WriteString(".\rg\r")
	if in.Len() < 8*demoBufSize {
		t.Fatalf("paste of %d octets is not long", in.Len())
	}

	got := runDemoOn(strings.NewReader(in.String()))
	i := strings.Index(got, "a single '.' leaves.\r\n")
	if i < 0 {
		t.Fatalf("no echo room in %q", got)
	}
	got = got[i+len("a single '.' leaves.\r\n"):]
	for n, l := range lines {
		var echo string
		if l == "abx" {
			echo = "ab" + "c\b \b" + "d\b \b" + "x"
		} else {
			echo = l
		}
		want := echo + "\r\necho: " + l + "\r\n"
		if !strings.HasPrefix(got, want) {
			t.Fatalf("line %d (%d octets): board wrote %.80q..., want %.80q...", n, len(l), got, want)
		}
		got = got[len(want):]
	}
	if !strings.HasSuffix(got, "g\r\nGoodbye, ann.\r\n") {
		t.Errorf("board ended with %q", got)
	}
}

// TestDemoCallerGone: the board returns when its input ends, in the menu
// and in the middle of a line in the echo room.
func TestDemoCallerGone(t *testing.T) {
	for _, in := range []string{"", "t\r", "e\rpartial line"} {
		if out := runDemoOn(strings.NewReader(in)); !strings.HasPrefix(out, "\r\nWelcome") {
			t.Errorf("input %q: board wrote %q", in, out)
		}
	}
}
