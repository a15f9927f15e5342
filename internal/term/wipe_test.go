package term

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// allZero reports whether b is all zero octets.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestReadLineWipesItsBuffer: readLine reads into the buffer it is given
// and never grows it (the line is the buffer: no copy is left behind); the
// CR of a CR LF is wiped, and on every failure the whole buffer is.
func TestReadLineWipesItsBuffer(t *testing.T) {
	for _, c := range []struct {
		name, in string
		r        func(io.Reader) io.Reader
		want     string
		err      bool
	}{
		{"CR LF", "hunter2\r\nrest", nil, "hunter2", false},
		{"LF", "hunter2\nrest", nil, "hunter2", false},
		{"last line", "hunter2", nil, "hunter2", false},
		{"too long", strings.Repeat("s", 17), nil, "", true},
		{"too long with CR", strings.Repeat("s", 16) + "\r\n", nil, "", true},
		{"read error mid-line", "hunter2", func(r io.Reader) io.Reader {
			return io.MultiReader(r, iotest.ErrReader(errors.New("line gone")))
		}, "", true},
		{"empty", "", nil, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, 0, 16)
			var r io.Reader = strings.NewReader(c.in)
			if c.r != nil {
				r = c.r(r)
			}
			got, err := readLine(r, buf)
			if (err != nil) != c.err || string(got) != c.want {
				t.Fatalf("readLine = %q, %v; want %q (error %v)", got, err, c.want, c.err)
			}
			if got != nil && &got[:1][0] != &buf[:1][0] {
				t.Error("the line is not the buffer: a copy was made")
			}
			if rest := buf[len(got):cap(buf)]; !allZero(rest) {
				t.Errorf("the buffer past the line is not wiped: %q", rest)
			}
			clear(got)
			if !allZero(buf[:cap(buf)]) {
				t.Errorf("wiping the line left %q in the buffer", buf[:cap(buf)])
			}
		})
	}
}

// TestReadLineBytesBound: ReadLineBytes takes lines up to 1024 octets and
// returns a slice of that one buffer.
func TestReadLineBytesBound(t *testing.T) {
	b, err := ReadLineBytes(strings.NewReader(strings.Repeat("x", maxPassword) + "\n"))
	if err != nil || len(b) != maxPassword || cap(b) != maxPassword {
		t.Fatalf("ReadLineBytes of %d octets: len %d cap %d, %v", maxPassword, len(b), cap(b), err)
	}
	if _, err := ReadLineBytes(strings.NewReader(strings.Repeat("x", maxPassword+1))); err == nil {
		t.Error("a line over the bound was accepted")
	}
}

// TestReadPasswordBytesPipe: from a pipe, ReadPasswordBytes prompts and
// reads one line, consuming nothing after it.
func TestReadPasswordBytesPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		io.WriteString(w, "hunter2\r\nnext\n")
		w.Close()
	}()
	var prompt strings.Builder
	pw, err := ReadPasswordBytes(r, &prompt, "Password: ")
	if err != nil || string(pw) != "hunter2" || prompt.String() != "Password: " {
		t.Fatalf("ReadPasswordBytes = %q, %v; prompt %q", pw, err, prompt.String())
	}
	clear(pw)
	if next, err := ReadLine(r); err != nil || next != "next" {
		t.Errorf("the line after the password: %q, %v", next, err)
	}
}
