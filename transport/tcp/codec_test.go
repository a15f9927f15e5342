package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// recorder is a decodeHandler that writes down what it sees.
type recorder struct {
	items []string
	logs  []string
}

func (r *recorder) negotiate(verb, opt byte) {
	r.items = append(r.items, fmt.Sprintf("%s %d", verbName(verb), opt))
}
func (r *recorder) subnegotiation(opt byte, data []byte) {
	r.items = append(r.items, fmt.Sprintf("SB %d %x", opt, data))
}
func (r *recorder) command(cmd byte) (byte, bool) {
	r.items = append(r.items, fmt.Sprintf("CMD %d", cmd))
	return 0, false
}
func (r *recorder) logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func verbName(v byte) string {
	return map[byte]string{cmdWILL: "WILL", cmdWONT: "WONT", cmdDO: "DO", cmdDONT: "DONT"}[v]
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		binary bool
		max    int
		in     []byte
		data   []byte
		items  []string
		logs   int
	}{
		{name: "plain", in: []byte("hello"), data: []byte("hello")},
		{name: "IAC IAC", in: []byte{'a', 255, 255, 'b'}, data: []byte{'a', 255, 'b'}},
		{name: "CR NUL is CR", in: []byte("a\r\x00b"), data: []byte("a\rb")},
		{name: "CR LF kept", in: []byte("a\r\nb"), data: []byte("a\r\nb")},
		{name: "CR other kept", in: []byte("a\rb"), data: []byte("a\rb")},
		{name: "lone NUL kept", in: []byte("a\x00b"), data: []byte("a\x00b")},
		{name: "binary CR NUL untouched", binary: true, in: []byte("a\r\x00b"), data: []byte("a\r\x00b")},
		{name: "binary IAC IAC", binary: true, in: []byte{0, 255, 255, 13, 0}, data: []byte{0, 255, 13, 0}},
		{name: "negotiations", in: []byte{'x', 255, cmdWILL, 1, 255, cmdWONT, 3, 255, cmdDO, 24, 255, cmdDONT, 31, 'y'},
			data: []byte("xy"), items: []string{"WILL 1", "WONT 3", "DO 24", "DONT 31"}},
		{name: "NAWS", in: []byte{255, cmdSB, 31, 0, 80, 0, 24, 255, cmdSE}, items: []string{"SB 31 00500018"}},
		{name: "SB with IAC IAC", in: []byte{255, cmdSB, 31, 0, 255, 255, 0, 24, 255, cmdSE}, items: []string{"SB 31 00ff0018"}},
		{name: "commands", in: []byte{255, cmdBRK, 255, cmdIP, 255, cmdAYT, 255, cmdNOP, 255, 7}, items: []string{"CMD 243", "CMD 244", "CMD 246", "CMD 241", "CMD 7"}},
		{name: "stray SE", in: []byte{'a', 255, cmdSE, 'b'}, data: []byte("ab"), logs: 1},
		{name: "SB ended by command", in: []byte{255, cmdSB, 24, 0, 'x', 255, cmdWILL, 1, 'z'}, data: []byte("z"), items: []string{"WILL 1"}, logs: 1},
		// Past the bound the subnegotiation is given up and what follows
		// is data (its IAC SE is then a stray one).
		{name: "SB overflow", max: 4, in: []byte{255, cmdSB, 24, 1, 2, 3, 4, 5, 255, cmdSE, 'k', 255, cmdSB, 24, 1, 2, 255, cmdSE},
			data: []byte{5, 'k'}, items: []string{"SB 24 0102"}, logs: 2},
		{name: "SB overflow at IAC IAC", max: 4, in: []byte{255, cmdSB, 24, 1, 2, 3, 4, 255, 255, 'k'},
			data: []byte{255, 'k'}, logs: 1},
		{name: "SB exactly max with IAC IAC", max: 4, in: []byte{255, cmdSB, 24, 1, 2, 3, 255, 255, 255, cmdSE}, items: []string{"SB 24 010203ff"}},
		// An octet damaged into IAC before one read as SB, in a stream
		// with no IAC of its own (an LAPM bit stream): it costs the
		// bound, not the rest of the stream.
		{name: "SB never ended", binary: true, max: 4, in: []byte{'a', 255, cmdSB, 0x42, 1, 2, 3, 4, 0x80, 'b', 'c'},
			data: []byte{'a', 0x80, 'b', 'c'}, logs: 1},
		// Printable text past the bound is dropped with it, up to
		// MaxSubnegText in all: a terminal type longer than the bound
		// (C-Kermit's set telnet terminal-type) does not reach the
		// login as typed text.
		{name: "SB long text", max: 4, in: append(append([]byte{'a', 255, cmdSB, 24, 0}, "VT100-XXXXXXXXXX"...), 255, cmdSE, 'k'),
			data: []byte("ak"), logs: 1},
		{name: "SB long text never ended", binary: true, max: 4, in: append(append([]byte{'a', 255, cmdSB, 24, 0}, bytes.Repeat([]byte{'x'}, MaxSubnegText+2)...), 1),
			data: []byte{'a', 'x', 'x', 'x', 1}, logs: 1},
		{name: "SB long text then IAC IAC", max: 4, in: []byte{255, cmdSB, 24, 0, 'A', 'B', 'C', 'D', 'E', 255, 255, 'k'},
			data: []byte{255, 'k'}, logs: 1},
		{name: "SB exactly max", max: 4, in: []byte{255, cmdSB, 24, 1, 2, 3, 4, 255, cmdSE}, items: []string{"SB 24 01020304"}},
		{name: "CR then IAC then NUL", in: []byte{'\r', 255, cmdNOP, 0}, data: []byte{'\r', 0}, items: []string{"CMD 241"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and split at every point: the decoder is a stream
			// decoder and must not care where reads end.
			for split := 0; split <= len(tc.in); split++ {
				d := decoder{BinaryIn: tc.binary, MaxSubneg: tc.max}
				var r recorder
				got := d.Decode(nil, tc.in[:split], &r)
				got = d.Decode(got, tc.in[split:], &r)
				if !bytes.Equal(got, tc.data) {
					t.Fatalf("split %d: data %q, want %q", split, got, tc.data)
				}
				if !reflect.DeepEqual(r.items, tc.items) {
					t.Fatalf("split %d: items %q, want %q", split, r.items, tc.items)
				}
				if len(r.logs) != tc.logs {
					t.Fatalf("split %d: logs %q, want %d", split, r.logs, tc.logs)
				}
				if d.Pending() {
					t.Fatalf("split %d: decoder pending after complete input", split)
				}
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, in := range [][]byte{
		{'a', 255},
		{'a', 255, cmdWILL},
		{'a', 255, cmdSB},
		{'a', 255, cmdSB, 24, 0, 'x'},
		{'a', 255, cmdSB, 24, 0, 'x', 255},
	} {
		d := decoder{}
		var r recorder
		got := d.Decode(nil, in, &r)
		if string(got) != "a" || len(r.items) != 0 {
			t.Errorf("%v: data %q items %q", in, got, r.items)
		}
		if !d.Pending() {
			t.Errorf("%v: not pending", in)
		}
		d.Reset()
		if got := d.Decode(nil, []byte("b"), &r); string(got) != "b" {
			t.Errorf("%v: after Reset got %q", in, got)
		}
	}
}

func TestDecodeInPlace(t *testing.T) {
	in := []byte{'a', 255, 255, 'b', '\r', 0, 255, cmdWILL, 1, 'c', 255, cmdSB, 31, 0, 1, 0, 2, 255, cmdSE, 'd'}
	buf := append([]byte(nil), in...)
	var d decoder
	var r recorder
	got := d.Decode(buf[:0], buf, &r)
	if want := []byte{'a', 255, 'b', '\r', 'c', 'd'}; !bytes.Equal(got, want) {
		t.Fatalf("in place: %q, want %q", got, want)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		in, bin, nvt string
	}{
		{"abc", "abc", "abc"},
		{"a\xffb", "a\xff\xffb", "a\xff\xffb"},
		{"a\r\nb", "a\r\nb", "a\r\nb"},
		{"a\rb", "a\rb", "a\r\x00b"},
		{"a\r", "a\r", "a\r\x00"},
		{"\r\r\n", "\r\r\n", "\r\x00\r\n"},
		{"\r\x00", "\r\x00", "\r\x00\x00"},
		{"\xff\xff", "\xff\xff\xff\xff", "\xff\xff\xff\xff"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := appendEncoded(nil, []byte(tc.in), true); string(got) != tc.bin {
			t.Errorf("binary %q: %q, want %q", tc.in, got, tc.bin)
		}
		if got := appendEncoded(nil, []byte(tc.in), false); string(got) != tc.nvt {
			t.Errorf("NVT %q: %q, want %q", tc.in, got, tc.nvt)
		}
	}
}

// TestEncodeDecodeRoundTrip encodes in random pieces and decodes in other
// random pieces; the data must come back exactly, in both modes.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		// Bias towards the special octets.
		src := make([]byte, rng.IntN(300))
		for i := range src {
			switch rng.IntN(4) {
			case 0:
				src[i] = []byte{'\r', '\n', 0, 255}[rng.IntN(4)]
			default:
				src[i] = byte(rng.Uint32())
			}
		}
		for _, binary := range []bool{false, true} {
			var enc []byte
			for rest := src; len(rest) > 0; {
				n := 1 + rng.IntN(len(rest))
				enc = appendEncoded(enc, rest[:n], binary)
				rest = rest[n:]
			}
			d := decoder{BinaryIn: binary}
			var r recorder
			var dec []byte
			for rest := enc; len(rest) > 0; {
				n := 1 + rng.IntN(len(rest))
				dec = d.Decode(dec, rest[:n], &r)
				rest = rest[n:]
			}
			if !bytes.Equal(dec, src) || len(r.items) != 0 || len(r.logs) != 0 {
				t.Fatalf("binary=%v: round trip of %x gave %x (items %q logs %q)", binary, src, dec, r.items, r.logs)
			}
		}
	}
}

// escapeTestInputs are inputs with the octets that need an escape (IAC, a
// bare CR, a CR at the end) at every position of a short buffer, next to
// each other, and none at all, plus random inputs biased towards CR, LF,
// NUL and IAC.
func escapeTestInputs() [][]byte {
	var ins [][]byte
	plain := []byte("the quick brown fox\r\njumps")
	ins = append(ins, plain, nil)
	for _, special := range [][]byte{{cmdIAC}, {cr}, {cr, lf}, {cr, nul}, {cmdIAC, cmdIAC}, {cr, cmdIAC}} {
		for k := 0; k <= len(plain); k++ {
			in := append(append(append([]byte(nil), plain[:k]...), special...), plain[k:]...)
			ins = append(ins, in)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		in := make([]byte, rng.IntN(300))
		for i := range in {
			if rng.IntN(4) == 0 {
				in[i] = []byte{cr, lf, nul, cmdIAC}[rng.IntN(4)]
			} else {
				in[i] = byte(rng.Uint32())
			}
		}
		ins = append(ins, in)
	}
	return ins
}

// TestEncodePieces checks that the pieces a vectored write gathers are the
// octets appendEncoded produces, that the runs are the caller's buffer
// itself (no copy), and that too many escapes make it give up.
func TestEncodePieces(t *testing.T) {
	for _, in := range escapeTestInputs() {
		for _, binary := range []bool{false, true} {
			want := appendEncoded(nil, in, binary)
			escapes := len(want) - len(in)
			pieces, ok := appendEncodedPieces(nil, in, binary, escapes)
			if !ok {
				t.Fatalf("binary=%v %q: gave up with %d escapes allowed", binary, in, escapes)
			}
			if got := bytes.Join(pieces, nil); !bytes.Equal(got, want) {
				t.Fatalf("binary=%v %q: pieces %q, want %q", binary, in, got, want)
			}
			runs := 0
			for _, p := range pieces {
				if len(p) == 0 {
					t.Fatalf("binary=%v %q: empty piece", binary, in)
				}
				if &p[0] != &escIAC[0] && &p[0] != &escNUL[0] {
					if runs >= len(in) || &p[0] != &in[runs] {
						t.Fatalf("binary=%v %q: a run is not the input's own octets", binary, in)
					}
					runs += len(p)
				}
			}
			if runs != len(in) {
				t.Fatalf("binary=%v %q: runs cover %d of %d octets", binary, in, runs, len(in))
			}
			if escapes > 0 {
				if _, ok := appendEncodedPieces(nil, in, binary, escapes-1); ok {
					t.Fatalf("binary=%v %q: did not give up with %d escapes allowed", binary, in, escapes-1)
				}
			}
		}
	}
}

// TestEncodedPrefix cuts the encoding of each input after every octet: the
// peer must decode exactly src[:count] from what was sent plus the owed
// escape, and the rest of src must continue the stream exactly.
func TestEncodedPrefix(t *testing.T) {
	for _, in := range escapeTestInputs() {
		for _, binary := range []bool{false, true} {
			enc := appendEncoded(nil, in, binary)
			last := 0
			for n := 0; n <= len(enc); n++ {
				count, owed := encodedPrefix(in, binary, n)
				if count < last || count > len(in) || (n == len(enc) && (count != len(in) || owed != nil)) {
					t.Fatalf("binary=%v %q cut at %d: count %d (previous %d), owed %q", binary, in, n, count, last, owed)
				}
				last = count
				d := decoder{BinaryIn: binary}
				var r recorder
				sent := append(append([]byte(nil), enc[:n]...), owed...)
				got := d.Decode(nil, sent, &r)
				if !bytes.Equal(got, in[:count]) || d.Pending() || len(r.items)+len(r.logs) != 0 {
					t.Fatalf("binary=%v %q cut at %d: peer decodes %q (pending %v), want %q", binary, in, n, got, d.Pending(), in[:count])
				}
				got = d.Decode(got, appendEncoded(nil, in[count:], binary), &r)
				if !bytes.Equal(got, in) || len(r.items)+len(r.logs) != 0 {
					t.Fatalf("binary=%v %q cut at %d and resumed: peer decodes %q", binary, in, n, got)
				}
			}
		}
	}
}

// TestAppendRun covers the three cases of appendRun: a run already in
// place (only extended), a run behind a removed octet (moved down) and a
// separate destination (copied).
func TestAppendRun(t *testing.T) {
	buf := []byte("abcdef")
	if got := appendRun(buf[:2], buf[2:4]); string(got) != "abcd" || &got[0] != &buf[0] {
		t.Errorf("in place: %q", got)
	}
	buf = []byte("abXdef")
	if got := appendRun(buf[:2], buf[3:]); string(got) != "abdef" {
		t.Errorf("behind a removed octet: %q", got)
	}
	dst := make([]byte, 2, 16)
	copy(dst, "xy")
	src := []byte("cd")
	if got := appendRun(dst, src); string(got) != "xycd" || &got[2] == &src[0] {
		t.Errorf("separate buffer: %q", got)
	}
	if got := appendRun(buf[:0], nil); len(got) != 0 {
		t.Errorf("empty run: %q", got)
	}
}
