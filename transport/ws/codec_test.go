package ws

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/transport"
)

func TestPlainEncoding(t *testing.T) {
	all := allOctets()
	enc := appendPlain(nil, all)
	if !utf8.Valid(enc) {
		t.Fatal("plain encoding is not UTF-8")
	}
	// Each octet is the code point of the same value (fTelnet's mapping).
	if got := []rune(string(enc)); len(got) != len(all) || got[0xE9] != 'é' || got[0xFF] != 'ÿ' {
		t.Fatalf("plain encoding maps octets to the wrong code points: %q", enc[:40])
	}
	if len(enc) != 128*2+128*2*2 {
		t.Errorf("plain encoding of 512 octets is %d bytes", len(enc))
	}
	dec, err := appendPlainDecoded(nil, enc)
	if err != nil || !bytes.Equal(dec, all) {
		t.Fatalf("round trip: %v, %x", err, dec)
	}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"ATDT\r", "ATDT\r"},
		{"café", "caf\xe9"},
		{"5 €, 猫 and 🐈", "5 ?, ? and ?"},
	} {
		got, err := appendPlainDecoded(nil, []byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("decode %q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"\xff", "ok\xc3", "\xc0\x80", "\xed\xa0\x80"} {
		got, err := appendPlainDecoded([]byte("keep"), []byte(bad))
		if !errors.Is(err, ErrBadPayload) || string(got) != "keep" {
			t.Errorf("decode %q = %q, %v; want ErrBadPayload and nothing appended", bad, got, err)
		}
	}
}

func TestBase64Encoding(t *testing.T) {
	all := allOctets()
	enc := appendBase64(nil, all)
	dec, err := appendBase64Decoded(nil, enc)
	if err != nil || !bytes.Equal(dec, all) {
		t.Fatalf("round trip: %v", err)
	}
	if got, err := appendBase64Decoded(nil, []byte("QVREVA0=")); err != nil || string(got) != "ATDT\r" {
		t.Errorf("decode = %q, %v", got, err)
	}
	for _, bad := range []string{"QVREVA0", "QVRE=A0=", "not base64!", "QQ==QQ=="} {
		got, err := appendBase64Decoded([]byte("keep"), []byte(bad))
		if !errors.Is(err, ErrBadPayload) || string(got) != "keep" {
			t.Errorf("decode %q = %q, %v; want ErrBadPayload and nothing appended", bad, got, err)
		}
	}
}

func TestParseControl(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Control
		err  error
	}{
		{`{"type":"resize","cols":80,"rows":24}`, Control{Type: "resize", Window: transport.WindowSize{Cols: 80, Rows: 24}}, nil},
		{` { "rows" : 50 , "cols" : 132 , "type" : "resize" , "x" : [1,{}] } `, Control{Type: "resize", Window: transport.WindowSize{Cols: 132, Rows: 50}}, nil},
		{`{"type":"resize","cols":65535,"rows":1}`, Control{Type: "resize", Window: transport.WindowSize{Cols: 65535, Rows: 1}}, nil},
		{`{"type":"bell"}`, Control{Type: "bell"}, ErrUnknownControl},
		{`{"type":"term","name":"xterm-256color"}`, Control{Type: ControlTerm, Term: "xterm-256color"}, nil},
		{`{"type":"term","name":"UNKNOWN"}`, Control{Type: ControlTerm}, nil},
		{`{"type":"term","name":"../../tmp/x"}`, Control{}, ErrBadControl},
		{`{"type":"term","name":7}`, Control{}, ErrBadControl},
		{`{"type":"term"}`, Control{}, ErrBadControl},
		{`{"type":"break"}`, Control{Type: ControlBreak}, nil},
		{` {"length":250, "type" : "break"} `, Control{Type: ControlBreak}, nil},
		{`{"type":"ping"}`, Control{Type: ControlPing}, nil},
		{`{"type":"ping","seq":[1]}`, Control{Type: ControlPing}, nil},
		{`{"type":"pong"}`, Control{Type: ControlPong}, nil},
		{`{"type":"PING"}`, Control{Type: "PING"}, ErrUnknownControl},
		{`{"type":"ping"} {}`, Control{}, ErrBadControl},
		{`{"type":"break","type":7}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":0,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":65536,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":-80,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":80.5,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":8e1,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":"80","rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":80}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":null,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":7}`, Control{}, ErrBadControl},
		{`{"cols":80,"rows":24}`, Control{}, ErrBadControl},
		{`{"type":"resize","cols":80,"rows":24} trailing`, Control{}, ErrBadControl},
		{`[{"type":"resize"}]`, Control{}, ErrBadControl},
		{`null`, Control{}, ErrBadControl},
		{`"resize"`, Control{}, ErrBadControl},
		{``, Control{}, ErrBadControl},
		{"{\"type\":\"\xff\"}", Control{}, ErrBadControl},
		{`{"type":"resize","cols":80,"rows":24,"pad":"` + strings.Repeat("x", MaxControlSize) + `"}`, Control{}, ErrBadControl},
	} {
		got, err := ParseControl([]byte(tc.in))
		if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("ParseControl(%.60q) error %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err != nil && !strings.HasPrefix(err.Error(), "ws: ") {
			t.Errorf("error %q does not start with the package name", err)
		}
		if got != tc.want {
			t.Errorf("ParseControl(%.60q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestAppendResize(t *testing.T) {
	w := transport.WindowSize{Cols: 132, Rows: 50}
	b := AppendResize([]byte("x"), w)
	if string(b) != `x{"type":"resize","cols":132,"rows":50}` {
		t.Fatalf("AppendResize = %s", b)
	}
	if c, err := ParseControl(b[1:]); err != nil || c.Window != w {
		t.Fatalf("ParseControl(AppendResize) = %+v, %v", c, err)
	}
}

func TestAppendTerm(t *testing.T) {
	b := AppendTerm([]byte("x"), "xterm-256color")
	if string(b) != `x{"type":"term","name":"xterm-256color"}` {
		t.Fatalf("AppendTerm = %s", b)
	}
	if c, err := ParseControl(b[1:]); err != nil || c.Term != "xterm-256color" {
		t.Fatalf("ParseControl(AppendTerm) = %+v, %v", c, err)
	}
}

// FuzzParseControl feeds arbitrary text messages to the control decoder:
// no panics, only the documented errors, and accepted resizes and
// terminal types survive a re-encode (a "term" name is a terminfo name or
// none).
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{
		`{"type":"resize","cols":80,"rows":24}`,
		`{"type":"bell"}`,
		`{"type":"resize","cols":1e400,"rows":24}`,
		`{"type":{"type":"resize"}}`,
		`{"type":"break"}`,
		`{"type":"ping"}`,
		`{"type":"pong","x":1}`,
		`{"type":"term","name":"xterm-256color"}`,
		`{"type":"term","name":"../x"}`,
		`{"type":"notice","text":"the gateway is shutting down: this call ends within 30 s"}`,
		`{"type":"notice","text":"\u001b[2J"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseControl(b)
		if err != nil {
			if !errors.Is(err, ErrBadControl) && !errors.Is(err, ErrUnknownControl) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		switch c.Type {
		case ControlBreak, ControlPing, ControlPong:
			if c.Window != (transport.WindowSize{}) || c.Term != "" {
				t.Fatalf("accepted %+v", c)
			}
			return
		case ControlTerm:
			// The name becomes a backend's TERM: a terminfo name (or
			// none), and a message announcing it gives it back.
			if c.Window != (transport.WindowSize{}) || termname.Clean([]byte(c.Term)) != c.Term {
				t.Fatalf("accepted %+v", c)
			}
			if c.Term == "" {
				return // announces none: AppendTerm takes a name
			}
			if again, err := ParseControl(AppendTerm(nil, c.Term)); err != nil || again != c {
				t.Fatalf("re-encode of %+v gave %+v, %v", c, again, err)
			}
			return
		case ControlNotice:
			// Words for the page's status line: one short line of
			// printable ASCII, which AppendNotice gives back.
			if c.Window != (transport.WindowSize{}) || c.Term != "" || !printableNotice(c.Text) {
				t.Fatalf("accepted %+v", c)
			}
			if again, err := ParseControl(AppendNotice(nil, c.Text)); err != nil || again != c {
				t.Fatalf("re-encode of %+v gave %+v, %v", c, again, err)
			}
			return
		}
		if c.Type != ControlResize || c.Window.Cols < 1 || c.Window.Rows < 1 || c.Window.Cols > maxWindowDim || c.Window.Rows > maxWindowDim {
			t.Fatalf("accepted %+v", c)
		}
		again, err := ParseControl(AppendResize(nil, c.Window))
		if err != nil || again != c {
			t.Fatalf("re-encode of %+v gave %+v, %v", c, again, err)
		}
	})
}

// FuzzPlain decodes arbitrary "plain" text messages and round-trips
// arbitrary octets through the encoding.
func FuzzPlain(f *testing.F) {
	f.Add([]byte("ATDT\r"))
	f.Add([]byte("caf\xc3\xa9 \xe2\x82\xac"))
	f.Add([]byte("\xc0\x80\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := appendPlainDecoded(nil, b)
		switch {
		case err != nil && !errors.Is(err, ErrBadPayload):
			t.Fatalf("undocumented error %v", err)
		case err != nil && (utf8.Valid(b) || len(dec) != 0):
			t.Fatalf("valid UTF-8 rejected or partial output: %v", err)
		case err == nil && len(dec) != utf8.RuneCount(b):
			t.Fatalf("decoded %d octets from %d code points", len(dec), utf8.RuneCount(b))
		}
		back, err := appendPlainDecoded(nil, appendPlain(nil, b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip of %x gave %x, %v", b, back, err)
		}
	})
}

// FuzzBase64 decodes arbitrary "base64" text messages and round-trips
// arbitrary octets through the encoding.
func FuzzBase64(f *testing.F) {
	f.Add([]byte("QVREVA0="))
	f.Add([]byte("QVREVA0"))
	f.Add([]byte("QQ==QQ=="))
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := appendBase64Decoded(nil, b)
		if err != nil && (!errors.Is(err, ErrBadPayload) || len(dec) != 0) {
			t.Fatalf("error %v with output %x", err, dec)
		}
		if err == nil && len(dec) > len(b) {
			t.Fatalf("decoded %d octets from %d bytes", len(dec), len(b))
		}
		back, err := appendBase64Decoded(nil, appendBase64(nil, b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip of %x gave %x, %v", b, back, err)
		}
	})
}

// TestNoticeControl: a notice carries one short line of printable ASCII
// (the browser page shows it in its status line); anything else is
// refused, and SendNotice sends what ParseControl reads back.
func TestNoticeControl(t *testing.T) {
	text := "the gateway is shutting down: this call ends within 30 s"
	c, err := ParseControl(AppendNotice(nil, text))
	if err != nil || c.Type != ControlNotice || c.Text != text {
		t.Fatalf("round trip: %+v, %v", c, err)
	}
	for _, bad := range []string{
		`{"type":"notice"}`,
		`{"type":"notice","text":""}`,
		`{"type":"notice","text":5}`,
		`{"type":"notice","text":"a\u001b[2Jb"}`,
		`{"type":"notice","text":"two\nlines"}`,
		`{"type":"notice","text":"caf\u00e9"}`,
		`{"type":"notice","text":"` + strings.Repeat("x", MaxNoticeLen+1) + `"}`,
	} {
		if _, err := ParseControl([]byte(bad)); !errors.Is(err, ErrBadControl) {
			t.Errorf("%s: %v, want ErrBadControl", bad, err)
		}
	}
}
