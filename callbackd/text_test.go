package callbackd

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/synctest"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

func TestReplyParser(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, maxReply+1)
	for _, c := range []struct {
		in       string
		done     bool
		consumed int
		reply    string
		err      error
	}{
		{"alice\r\n", true, 6, "alice", nil},
		{"alice\n", true, 6, "alice", nil},
		{"ali", false, 3, "ali", nil},
		{"alx\bice\r", true, 8, "alice", nil},
		{"alx\x7fice\r", true, 8, "alice", nil},
		{"\b\balice\r", true, 8, "alice", nil},
		{"al\x00i\x1bce\xff\r", true, 9, "alice", nil},
		{"ali\x03ce\r", true, 4, "ali", errReplyRefused},
		{"\x04", true, 1, "", errReplyRefused},
		{string(long) + "\r", true, maxReply + 1, string(long[:maxReply]), errReplyTooLong},
	} {
		var r replyParser
		done, n, err := r.feed([]byte(c.in))
		if done != c.done || n != c.consumed || string(r.buf) != c.reply || !errors.Is(err, c.err) {
			t.Errorf("feed(%q) = %v, %d, %q, %v; want %v, %d, %q, %v", c.in, done, n, r.buf, err, c.done, c.consumed, c.reply, c.err)
		}
	}
}

// FuzzConfirmReply feeds arbitrary answers to the confirmation prompt, in
// two pieces, and checks the parser's invariants: it never keeps more than
// maxReply octets or non-printable ones, never consumes past what it was
// given, and splitting the input does not change the outcome.
func FuzzConfirmReply(f *testing.F) {
	f.Add([]byte("alice\r\n"), 3)
	f.Add([]byte("al\bice\x00\r"), 0)
	f.Add([]byte("\x03"), 1)
	f.Add(bytes.Repeat([]byte("A"), 100), 50)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		var whole replyParser
		d1, n1, e1 := whole.feed(in)
		if n1 > len(in) || n1 < 0 {
			t.Fatalf("consumed %d of %d", n1, len(in))
		}
		var split replyParser
		d2, n2, e2 := split.feed(in[:cut])
		if !d2 {
			var m int
			d2, m, e2 = split.feed(in[cut:])
			n2 += m
		}
		if d1 != d2 || n1 != n2 || !bytes.Equal(whole.buf, split.buf) || !errors.Is(e1, e2) && !errors.Is(e2, e1) {
			t.Fatalf("split at %d changed the outcome: %v %d %q %v vs %v %d %q %v", cut, d1, n1, whole.buf, e1, d2, n2, split.buf, e2)
		}
		if len(whole.buf) > maxReply {
			t.Fatalf("kept %d octets", len(whole.buf))
		}
		for _, c := range whole.buf {
			if c < ' ' || c >= 0x7f {
				t.Fatalf("kept control octet %#x", c)
			}
		}
	})
}

func TestPrefixConnSkipsLineEnd(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		defer a.Close()
		// The CR ended the confirmation; its LF arrives with the next read.
		c := &prefixConn{Line: b, skipLF: true}
		go func() {
			io.WriteString(a, "\nhello")
			a.Close()
		}()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q, %v", got, err)
		}
		c2 := &prefixConn{Line: b, rest: []byte("\x00typed ahead"), skipLF: true}
		buf := make([]byte, 64)
		n, _ := c2.Read(buf)
		if string(buf[:n]) != "typed ahead" {
			t.Fatalf("read %q", buf[:n])
		}
	})
}
