package ws

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// decodeSplit feeds msg to a textDecoder in pieces cut at the given
// lengths (cycled; 0 means 1) and returns the output and the first error.
func decodeSplit(base64 bool, msg, cuts []byte) ([]byte, error) {
	var d textDecoder
	d.reset(base64)
	var out []byte
	var err error
	for i := 0; len(msg) > 0; i++ {
		k := 1
		if len(cuts) > 0 {
			k = max(1, int(cuts[i%len(cuts)]))
		}
		k = min(k, len(msg))
		if out, err = d.feed(out, msg[:k]); err != nil {
			return out, err
		}
		msg = msg[k:]
	}
	return d.end(out)
}

// FuzzTextStream checks that decoding a text message piece by piece gives
// what decoding it whole gives, in both subprotocols and for any split.
func FuzzTextStream(f *testing.F) {
	f.Add(false, []byte("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), []byte{1, 2, 3})
	f.Add(false, []byte("\xe2\x82"), []byte{1})
	f.Add(true, []byte("QVREVA0="), []byte{3, 5})
	f.Add(true, []byte("QQ==QQ=="), []byte{4})
	f.Add(true, []byte("QV\r\nRE\nVA0="), []byte{2})
	f.Fuzz(func(t *testing.T, base64 bool, msg, cuts []byte) {
		whole, werr := appendPlainDecoded(nil, msg)
		if base64 {
			whole, werr = appendBase64Decoded(nil, msg)
		}
		got, err := decodeSplit(base64, msg, cuts)
		if (err != nil) != (werr != nil) {
			t.Fatalf("base64=%v %q cut %v: pieces give %v, whole gives %v", base64, msg, cuts, err, werr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("undocumented error %v", err)
			}
			if len(got) > len(msg) {
				t.Fatalf("%d octets of output from a %d-byte message", len(got), len(msg))
			}
			return
		}
		if !bytes.Equal(got, whole) {
			t.Fatalf("base64=%v %q cut %v: pieces give %x, whole gives %x", base64, msg, cuts, got, whole)
		}
	})
}

// countingReader serves size octets of one value and counts what was read.
type countingReader struct {
	left int
	c    byte
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range p[:n] {
		p[i] = r.c
	}
	r.left -= n
	r.read.Add(int64(n))
	return n, nil
}

// TestTextMessageNotHeldWhole: while nobody Reads, a 1 MiB text message is
// consumed only as far as the receive ring and one piece hold, in both text
// subprotocols (the line used to read a whole message into memory first,
// and keep a decoded copy, before pushing any of it).
func TestTextMessageNotHeldWhole(t *testing.T) {
	for _, proto := range []string{ProtoPlain, ProtoBase64} {
		t.Run(proto, func(t *testing.T) {
			l := &Line{proto: proto, in: newRing(ringSize)}
			r := &countingReader{left: 1 << 20, c: 'A'}
			var wg sync.WaitGroup
			wg.Add(1)
			var rerr error
			go func() { defer wg.Done(); rerr = l.readText(r) }()
			full := func() bool {
				l.in.mu.Lock()
				defer l.in.mu.Unlock()
				return l.in.n > len(l.in.buf)-textChunk
			}
			waitFor(t, "receive ring filled", full)
			if got, bound := r.read.Load(), int64(2*ringSize+2*textChunk); got > bound {
				t.Errorf("read %d octets of the message while nobody Reads; want at most %d", got, bound)
			}
			l.in.close() // the line hangs up: the rest is discarded
			wg.Wait()
			if rerr != nil {
				t.Fatal(rerr)
			}
			if r.read.Load() != 1<<20 {
				t.Errorf("message not drained after close: %d octets read", r.read.Load())
			}
		})
	}
}
