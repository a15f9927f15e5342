package callbackd

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/synctest"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
	"github.com/dialgate/dialgate/transport/tcp"
)

func TestReplyParser(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, maxReply+1)
	for _, c := range []struct {
		in       string
		done     bool
		consumed int
		reply    string
		err      error
		echo     string
	}{
		{"alice\r\n", true, 6, "alice", nil, "alice\r\n"},
		{"alice\n", true, 6, "alice", nil, "alice\r\n"},
		{"ali", false, 3, "ali", nil, "ali"},
		{"alx\bice\r", true, 8, "alice", nil, "alx\b \bice\r\n"},
		{"alx\x7fice\r", true, 8, "alice", nil, "alx\b \bice\r\n"},
		{"\b\balice\r", true, 8, "alice", nil, "alice\r\n"},
		{"al\x00i\x1b[Dce\xff\r", true, 11, "alice", nil, "alice\r\n"},
		{"ali\x1bOAce\x1bc\r", true, 11, "alice", nil, "alice\r\n"},
		{"bob\x15alice\r", true, 10, "alice", nil, "bob\b \b\b \b\b \balice\r\n"},
		{"ali\x03ce\r", true, 4, "ali", errReplyRefused, "ali"},
		{"\x04", true, 1, "", errReplyRefused, ""},
		{string(long) + "\r", true, maxReply + 1, string(long[:maxReply]), errReplyTooLong, string(long[:maxReply])},
	} {
		var r replyParser
		done, n, err := r.feed([]byte(c.in))
		if done != c.done || n != c.consumed || string(r.buf) != c.reply || !errors.Is(err, c.err) || string(r.echo) != c.echo {
			t.Errorf("feed(%q) = %v, %d, %q, %v, echo %q; want %v, %d, %q, %v, echo %q", c.in, done, n, r.buf, err, r.echo,
				c.done, c.consumed, c.reply, c.err, c.echo)
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
	f.Add([]byte("bo\x1b[Db\x15alice\r"), 4)
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
		if d1 != d2 || n1 != n2 || !bytes.Equal(whole.buf, split.buf) || !errors.Is(e1, e2) && !errors.Is(e2, e1) ||
			!bytes.Equal(whole.echo, split.echo) {
			t.Fatalf("split at %d changed the outcome: %v %d %q %v echo %q vs %v %d %q %v echo %q", cut, d1, n1, whole.buf, e1, whole.echo,
				d2, n2, split.buf, e2, split.echo)
		}
		// The echo shows the reply: the kept octets, each erased
		// one undone on the screen.
		if shown := screen(whole.echo); !bytes.Equal(shown, whole.buf) {
			t.Fatalf("echo %q shows %q, reply %q", whole.echo, shown, whole.buf)
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

// screen is what a terminal shows on its line after echo: BS SP BS
// erases a character; the CR LF that ends the line is dropped.
func screen(echo []byte) []byte {
	var out []byte
	echo = bytes.TrimSuffix(echo, []byte("\r\n"))
	for len(echo) > 0 {
		if bytes.HasPrefix(echo, []byte("\b \b")) {
			out = out[:max(len(out)-1, 0)]
			echo = echo[3:]
			continue
		}
		out = append(out, echo[0])
		echo = echo[1:]
	}
	return out
}

// TestTextConfirmEchoes: the name typed at the confirmation prompt is
// echoed as the login prompt echoes it, with its corrections, on a
// simulated line and on a telnet line the gateway dialled (where the
// gateway is the telnet client and cannot offer ECHO), for the right
// name and the wrong one.
func TestTextConfirmEchoes(t *testing.T) {
	testutil.CheckGoroutines(t)
	lines := map[string]func(t *testing.T) (gw, party transport.Line){
		"sim": func(t *testing.T) (transport.Line, transport.Line) {
			a, b := linesim.NewPair(linesim.Config{Seed: 1})
			return a, b
		},
		"telnet": func(t *testing.T) (transport.Line, transport.Line) {
			l, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			gw, err := transport.Dial(t.Context(), l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			party, err := l.Accept(t.Context())
			if err != nil {
				gw.Close()
				t.Fatal(err)
			}
			return gw, party
		},
	}
	for name, pair := range lines {
		for _, tc := range []struct {
			name, typed, heard string
			ok                 bool
		}{
			{"right", "alx\x7fice\r\n", "alx\b \bice\r\nCallback accepted.\r\n", true},
			{"wrong", "bob\r\n", "bob\r\nThis callback is not for you.\r\nNO CARRIER\r\n", false},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				gw, party := pair(t)
				defer party.Close()
				type placed struct {
					rw  io.ReadWriteCloser
					err error
				}
				ch := make(chan placed, 1)
				go func() {
					rw, err := TextConfirm{Name: "testgw"}.Place(t.Context(), gw, Job{Session: 7, User: "alice"})
					ch <- placed{rw, err}
				}()
				prompt := "\r\ntestgw: callback for session 7.\r\nType your user name to accept: "
				readUntil(t, party, prompt)
				heard := make(chan []byte, 1)
				go func() {
					got, _ := io.ReadAll(party)
					party.Close() // the gateway's close waits for it (linger)
					heard <- got
				}()
				io.WriteString(party, tc.typed)
				p := <-ch
				if tc.ok != (p.err == nil) {
					t.Errorf("Place: %v", p.err)
				}
				if p.rw != nil {
					p.rw.Close()
				}
				gw.Close()
				if got := <-heard; string(got) != tc.heard {
					t.Errorf("party saw %q, want %q", got, tc.heard)
				}
			})
		}
	}
}
