package lapm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

var dt0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func adps(second byte, n int) []byte {
	return bytes.Repeat([]byte{adpE, second}, n)
}

func TestDetectorOriginator(t *testing.T) {
	for _, c := range []struct {
		name      string
		in        []byte
		want      DetectResult
		consumed  int
		held      string
		undecided bool
	}{
		{"ADP", adps(adpC, 10), DetectLAPM, 4, "", false},
		{"ADP with parity", []byte{0xC5, 0xC3, 0x45, 0x43, 0x45}, DetectLAPM, 4, "", false},
		{"no V.42", append(adps(adpNUL, 10), "login:"...), DetectNoV42, 20, "", false},
		{"banner then ADP", append([]byte("hi E"), adps(adpC, 2)...), DetectLAPM, 8, "", false},
		{"banner then no V.42", append([]byte("CONNECT\r\n"), adps(0x80, 3)...), DetectNoV42, 15, "CONNECT\r\n", false},
		{"flags", []byte{'x', flag, flag, flag, 0x03}, DetectLAPM, 2, "~", false},
		{"flag and address", []byte{flag, AddrCR0, 0xAF}, DetectLAPM, 1, "~", false},
		{"single flag is text", []byte("a~b"), 0, 3, "a~b", true},
		{"ADPs not adjacent", []byte("ECxEC"), DetectLAPM, 0, "", true},
		{"mixed ADPs", []byte{adpE, adpC, adpE, adpNUL}, 0, 4, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDetector(Originator)
			send, dl := d.Start(dt0)
			if !bytes.Equal(send, bytes.Repeat([]byte{0x11, 0x91}, odpPairs)) || !dl.Equal(dt0.Add(odpRepeat)) {
				t.Fatalf("Start: % x, %v", send, dl)
			}
			send, res, consumed := d.Receive(dt0, c.in)
			if c.undecided {
				if res != 0 || consumed != len(c.in) {
					t.Fatalf("decided %v (consumed %d) on %q", res, consumed, c.in)
				}
				if c.held != "" && string(d.Held()) != c.held {
					t.Fatalf("held %q, want %q", d.Held(), c.held)
				}
				return
			}
			if res != c.want || consumed != c.consumed || len(send) != 0 {
				t.Fatalf("got %v consumed %d send % x; want %v consumed %d", res, consumed, send, c.want, c.consumed)
			}
			if string(d.Held()) != c.held {
				t.Fatalf("held %q, want %q", d.Held(), c.held)
			}
			// Decided: sticky, consumes nothing.
			if _, res2, n := d.Receive(dt0, []byte("more")); res2 != c.want || n != 0 {
				t.Fatalf("after decision: %v %d", res2, n)
			}
			if _, res2, _ := d.Timeout(dt0.Add(time.Hour)); res2 != c.want {
				t.Fatalf("Timeout after decision: %v", res2)
			}
		})
	}
}

func TestDetectorOneOctetAtATime(t *testing.T) {
	d := NewDetector(Originator)
	d.Start(dt0)
	in := append([]byte("xE"), adps(adpC, 3)...)
	for i, c := range in {
		_, res, consumed := d.Receive(dt0, []byte{c})
		if res != 0 {
			if res != DetectLAPM || i != 5 || consumed != 1 {
				t.Fatalf("decided %v at %d consumed %d", res, i, consumed)
			}
			return
		}
	}
	t.Fatal("never decided")
}

func TestDetectorAnswerer(t *testing.T) {
	odp := bytes.Repeat([]byte{0x11, 0x91}, 6)
	for _, c := range []struct {
		name     string
		in       []byte
		want     DetectResult
		consumed int
		held     string
		sends    bool
	}{
		{"ODP", odp, DetectLAPM, len(odp), "", true},
		{"ODP then flags", slices.Concat(odp[:5], []byte{flag, flag, 0x03}), DetectLAPM, 5, "", true},
		{"text", []byte("hello"), DetectNoV42, 0, "", false},
		// After a DC1 one other octet may be a damaged ODP: the next
		// octet tells.
		{"XON then text", []byte("\x11\x11hi"), DetectNoV42, 3, "\x11\x11h", false},
		{"ODP with a damaged octet", slices.Concat(odp[:2], []byte{0x13}, odp[3:]), DetectLAPM, len(odp), "", true},
		{"ODP with damaged octets apart", slices.Concat(odp[:1], []byte{0x10}, odp[2:5], []byte{0xD1}, odp[6:]), DetectLAPM, len(odp), "", true},
		{"ODP with a damaged first octet", slices.Concat([]byte{0x13}, odp[1:]), DetectLAPM, len(odp), "", true},
		{"ODP with a damaged odd first octet", slices.Concat([]byte{0x95}, odp[1:]), DetectLAPM, len(odp), "", true},
		{"Ctrl-U then text", []byte("\x15hi"), DetectNoV42, 1, "\x15", false},
		{"a one-bit-off first octet that is text", slices.Concat([]byte{'Q'}, odp[1:]), DetectNoV42, 0, "", false},
		{"two octets not DC1 in a row", slices.Concat(odp[:2], []byte{0x13, 0x13}, odp[4:]), DetectNoV42, 3, "\x11\x91\x13", false},
		{"tilde then text", []byte("~hi"), DetectNoV42, 1, "~", false},
		{"flags", []byte{flag, flag, 0x03}, DetectLAPM, 1, "~", false},
		{"frame without idle flags", []byte{flag, AddrCR1, 0xAF, 0x82}, DetectLAPM, 1, "~", false},
		{"same parity DC1s", []byte{0x11, 0x11, 0x11, 0x91, 0x11, 0x91, 0x11}, DetectLAPM, 7, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDetector(Answerer)
			send, dl := d.Start(dt0)
			if len(send) != 0 || !dl.Equal(dt0.Add(T400)) {
				t.Fatalf("Start: % x %v", send, dl)
			}
			send, res, consumed := d.Receive(dt0, c.in)
			if res != c.want || consumed != c.consumed || string(d.Held()) != c.held {
				t.Fatalf("got %v consumed %d held %q; want %v %d %q", res, consumed, d.Held(), c.want, c.consumed, c.held)
			}
			if c.sends != (len(send) > 0) {
				t.Fatalf("send % x", send)
			}
			if c.sends && !bytes.Equal(send, adps(adpC, adpCount)) {
				t.Fatalf("ADPs: % x", send)
			}
		})
	}
}

func TestDetectorTimeout(t *testing.T) {
	d := NewDetector(Answerer)
	_, dl := d.Start(dt0)
	d.Receive(dt0, []byte{0x11, 0x91}) // half an ODP
	if _, res, next := d.Timeout(dt0.Add(T400 - time.Millisecond)); res != 0 || !next.Equal(dl) {
		t.Fatalf("early Timeout: %v %v", res, next)
	}
	if _, res, _ := d.Timeout(dl); res != DetectTimeout {
		t.Fatalf("Timeout at T400: %v", res)
	}
	if string(d.Held()) != "\x11\x91" {
		t.Fatalf("held %q: the DC1s were not an ODP and belong to the text phase", d.Held())
	}
}

// TestDetectorRepeatsODP: the originator repeats the ODP every odpRepeat
// until T400 (V.42 §7.2.1: continuously until ADP), and stops once it has
// decided.
func TestDetectorRepeatsODP(t *testing.T) {
	d := NewDetector(Originator)
	_, dl := d.Start(dt0)
	if send, res, next := d.Timeout(dl.Add(-time.Millisecond)); res != 0 || len(send) != 0 || !next.Equal(dl) {
		t.Fatalf("early Timeout: % x %v %v", send, res, next)
	}
	n := 0
	for now := dl; ; {
		send, res, next := d.Timeout(now)
		if res != 0 {
			if res != DetectTimeout || !now.Equal(dt0.Add(T400)) {
				t.Fatalf("decided %v at %v", res, now.Sub(dt0))
			}
			break
		}
		if !bytes.Equal(send, bytes.Repeat([]byte{0x11, 0x91}, odpRepeatPairs)) {
			t.Fatalf("at %v: send % x", now.Sub(dt0), send)
		}
		n++
		now = next
	}
	if want := int((T400 - 1) / odpRepeat); n != want {
		t.Fatalf("%d repetitions before T400, want %d", n, want)
	}
	// An ADP ends the repetitions.
	d = NewDetector(Originator)
	d.Start(dt0)
	if _, res, _ := d.Receive(dt0, adps(adpC, 2)); res != DetectLAPM {
		t.Fatalf("ADP: %v", res)
	}
	if send, res, _ := d.Timeout(dt0.Add(odpRepeat)); len(send) != 0 || res != DetectLAPM {
		t.Fatalf("after the decision: % x %v", send, res)
	}
	// The answerer never sends ODPs.
	d = NewDetector(Answerer)
	_, dl = d.Start(dt0)
	if send, _, next := d.Timeout(dt0.Add(odpRepeat)); len(send) != 0 || !next.Equal(dl) || !dl.Equal(dt0.Add(T400)) {
		t.Fatalf("answerer: % x %v %v", send, next, dl)
	}
}

func TestDetectorHeldBound(t *testing.T) {
	d := NewDetector(Originator)
	d.Start(dt0)
	in := bytes.Repeat([]byte("x"), maxHeld+100)
	_, res, consumed := d.Receive(dt0, in)
	if res != DetectNoV42 || len(d.Held())+len(in)-consumed != len(in) || len(d.Held()) > maxHeld {
		t.Fatalf("res %v held %d consumed %d", res, len(d.Held()), consumed)
	}
}

func detectPipe() (net.Conn, net.Conn) { return net.Pipe() }

func TestDetectBothEnds(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := detectPipe()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type out struct {
		res  DetectResult
		left []byte
		err  error
	}
	ansc := make(chan out, 1)
	go func() {
		res, left, err := Detect(ctx, b, Answerer)
		ansc <- out{res, left, err}
	}()
	res, left, err := Detect(ctx, a, Originator)
	if err != nil || res != DetectLAPM {
		t.Fatalf("originator: %v %v", res, err)
	}
	ans := <-ansc
	if ans.err != nil || ans.res != DetectLAPM {
		t.Fatalf("answerer: %v %v", ans.res, ans.err)
	}
	// The originator's leftover is the rest of the ADP burst: harmless
	// for the deframer, which hunts for a flag.
	if strings.Trim(string(left), "EC") != "" {
		t.Fatalf("originator leftover %q", left)
	}
	var dec Decoder
	dec.Feed(left, func([]byte) { t.Fatal("frame from ADPs") })
}

func TestDetectTextCaller(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := detectPipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = a.Write([]byte("\x11guest\r")) }()
	res, left, err := Detect(context.Background(), b, Answerer)
	if err != nil || res != DetectNoV42 || string(left) != "\x11guest\r" {
		t.Fatalf("got %v %q %v", res, left, err)
	}
	// The deadline was cleared: a later read works.
	go func() { _, _ = a.Write([]byte("x")) }()
	buf := make([]byte, 1)
	if _, err := io.ReadFull(b, buf); err != nil {
		t.Fatal(err)
	}
}

func TestDetectTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := detectPipe()
		defer a.Close()
		defer b.Close()
		// Silent caller: the answerer falls back after T400.
		start := time.Now()
		res, left, err := Detect(context.Background(), b, Answerer)
		if err != nil || res != DetectTimeout || len(left) != 0 {
			t.Fatalf("answerer: %v %q %v", res, left, err)
		}
		if el := time.Since(start); el != T400 {
			t.Fatalf("answerer decided after %v (fake clock), want %v", el, T400)
		}
		// A host without V.42 prints a banner and ignores the ODP: the
		// originator repeats the ODP until T400, times out and keeps the
		// banner.
		got := make(chan []byte, 1)
		go func() {
			var in []byte
			buf := make([]byte, 64)
			n, _ := a.Read(buf)
			in = append(in, buf[:n]...)
			_, _ = a.Write([]byte("Welcome\r\n"))
			for {
				n, err := a.Read(buf)
				in = append(in, buf[:n]...)
				if err != nil {
					got <- in
					return
				}
			}
		}()
		start = time.Now()
		res, left, err = Detect(context.Background(), b, Originator)
		if err != nil || res != DetectTimeout || string(left) != "Welcome\r\n" {
			t.Fatalf("originator: %v %q %v", res, left, err)
		}
		if el := time.Since(start); el != T400 {
			t.Fatalf("originator decided after %v (fake clock), want %v", el, T400)
		}
		b.Close()
		// The first burst, then a repetition every odpRepeat before T400.
		reps := int((T400 - 1) / odpRepeat)
		want := slices.Concat(bytes.Repeat([]byte{0x11, 0x91}, odpPairs), bytes.Repeat([]byte{0x11, 0x91}, odpRepeatPairs*reps))
		if in := <-got; !bytes.Equal(in, want) {
			t.Fatalf("host saw % x, want % x", in, want)
		}
	})
}

func TestDetectContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := detectPipe()
		defer a.Close()
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, _, err := Detect(ctx, b, Answerer)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestDetectErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	var rw struct {
		io.Reader
		io.Writer
	}
	if _, _, err := Detect(context.Background(), rw, Answerer); !errors.Is(err, ErrNoDeadline) {
		t.Fatalf("no deadlines: %v", err)
	}
	a, b := detectPipe()
	a.Close()
	if _, _, err := Detect(context.Background(), b, Answerer); err == nil || !strings.HasPrefix(err.Error(), "lapm: ") {
		t.Fatalf("hung up: %v", err)
	}
	b.Close()
}

// TestDetectPeerSkipsDetection: an originator configured without detection
// starts with its first frame; the answerer takes the flag and address as
// LAPM and hands the whole frame on.
func TestDetectPeerSkipsDetection(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := detectPipe()
	defer a.Close()
	defer b.Close()
	e := Encoder{}
	xid := Frame{Addr: Originator.CommandAddr(), Kind: KindXID, PF: true, Info: []byte{0x82}}
	line := e.AppendFrame(nil, xid.Append(nil))
	go func() {
		// Two writes: the decision spans two Receive calls.
		_, _ = a.Write(line[:1])
		_, _ = a.Write(line[1:])
	}()
	res, left, err := Detect(context.Background(), b, Answerer)
	if err != nil || res != DetectLAPM {
		t.Fatalf("%v %v", res, err)
	}
	if len(left) < len(line) {
		// The rest may still be in the pipe.
		rest := make([]byte, len(line)-len(left))
		if _, err := io.ReadFull(b, rest); err != nil {
			t.Fatal(err)
		}
		left = append(left, rest...)
	}
	var d Decoder
	var got []byte
	d.Feed(left, func(f []byte) { got = slices.Clone(f) })
	if !bytes.Equal(got, xid.Append(nil)) {
		t.Fatalf("frame after detection: % x (leftover % x)", got, left)
	}
}

// TestDetectLineEndsKeepsWhatWasRead: a gateway with no free line says
// BUSY and hangs up instead of answering the ODP. Detect fails with the
// line's end and gives back what it read, so the caller can tell BUSY
// from a failed detection; the same for the answerer and for ctx ending.
func TestDetectLineEndsKeepsWhatWasRead(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, c := range []struct {
		role Role
		peer string
	}{
		{Originator, "BUSY\r\n"},
		{Originator, "\r\nBU"},
		{Answerer, "\x11\x91"}, // two DC1s, then the caller hangs up
		{Answerer, ""},
	} {
		a, b := detectPipe()
		go func() {
			defer a.Close()
			// Read the ODP so that Detect's first write completes; the
			// peer's octets come in two writes (two reads for Detect).
			go func() { _, _ = io.Copy(io.Discard, a) }()
			half := len(c.peer) / 2
			_, _ = a.Write([]byte(c.peer[:half]))
			_, _ = a.Write([]byte(c.peer[half:]))
		}()
		// The error is the line's end: io.EOF from Read, or from a pipe
		// whose other end is closed also io.ErrClosedPipe from
		// SetReadDeadline.
		res, left, err := Detect(context.Background(), b, c.role)
		if res != 0 || err == nil || !strings.HasPrefix(err.Error(), "lapm: detection: ") || string(left) != c.peer {
			t.Errorf("%v, peer %q then hang-up: got %v %q %v, want undecided, %q and the line's end",
				c.role, c.peer, res, left, err, c.peer)
		}
		b.Close()
	}

	// ctx ending: what was read so far comes back too.
	synctest.Test(t, func(t *testing.T) {
		a, b := detectPipe()
		defer a.Close()
		defer b.Close()
		go func() {
			_, _ = io.Copy(io.Discard, a)
		}()
		go func() { _, _ = a.Write([]byte("NO DIAL")) }()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		res, left, err := Detect(ctx, b, Originator)
		if res != 0 || !errors.Is(err, context.DeadlineExceeded) || string(left) != "NO DIAL" {
			t.Errorf("ctx ends: got %v %q %v", res, left, err)
		}
	})
}
