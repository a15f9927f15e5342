package lapm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// establishedPair opens and establishes two Links over an in-memory line
// with 4 KiB frames (owned receive buffers) and a small window.
func establishedPair(t *testing.T, ctx context.Context) (*Link, *Link) {
	t.Helper()
	a, b := linesim.NewPair(linesim.Config{Seed: 11})
	cfg := Config{Params: LinkParams{N401: 4096, K: 4, FCS32: true, SREJ: true}, Logger: tlog{t}}
	la, lb := openPair(t, ctx, a, b, cfg, cfg)
	establishPair(t, ctx, la, lb)
	return la, lb
}

// TestLinkWriteToCopy: io.Copy from a Link (WriteTo) moves everything the
// peer sent, many windows' worth, so consumed payloads release the window
// as with Read, and returns nil when the peer releases the link.
func TestLinkWriteToCopy(t *testing.T) {
	testutil.CheckGoroutines(t)
	checkBufs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	la, lb := establishedPair(t, ctx)
	defer lb.Close()
	data := pattern(300_000)
	go func() {
		if _, err := la.Write(data); err != nil {
			t.Error(err)
		}
		la.Close()
	}()
	var got bytes.Buffer
	n, err := io.Copy(&got, lb)
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("io.Copy: %d octets, %v; data equal %v", n, err, bytes.Equal(got.Bytes(), data))
	}
}

// failWriter takes total octets and then fails with err (nil: a short
// write without an error).
type failWriter struct {
	bytes.Buffer
	total int
	err   error
}

func (w *failWriter) Write(p []byte) (int, error) {
	n := len(p)
	if left := w.total - w.Len(); n >= left {
		w.Buffer.Write(p[:left])
		if w.err == nil && left == len(p) {
			return left, nil
		}
		return left, w.err
	}
	w.Buffer.Write(p[:n])
	return n, nil
}

// TestLinkWriteToWriterFails: when the writer fails or writes short,
// WriteTo returns its error (io.ErrShortWrite) with the count it took,
// and what it did not take is read next, in order.
func TestLinkWriteToWriterFails(t *testing.T) {
	for _, c := range []struct {
		name string
		w    *failWriter
		want error
	}{
		{"error", &failWriter{total: 10_000, err: errors.New("backend gone")}, nil},
		{"short", &failWriter{total: 10_000}, io.ErrShortWrite},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			la, lb := establishedPair(t, ctx)
			defer la.Close()
			defer lb.Close()
			data := pattern(50_000)
			go la.Write(data)
			want := c.want
			if want == nil {
				want = c.w.err
			}
			n, err := lb.WriteTo(c.w)
			if !errors.Is(err, want) || n != 10_000 || !bytes.Equal(c.w.Bytes(), data[:10_000]) {
				t.Fatalf("WriteTo: %d octets, %v; want 10000, %v", n, err, want)
			}
			rest := make([]byte, len(data)-10_000)
			if _, err := io.ReadFull(lb, rest); err != nil || !bytes.Equal(rest, data[10_000:]) {
				t.Fatalf("read after the failed WriteTo: %v", err)
			}
		})
	}
}

// TestLinkWriteToClose: a WriteTo waiting for data returns when the link
// is closed, with ErrClosed.
func TestLinkWriteToClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	checkBufs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	la, lb := establishedPair(t, ctx)
	defer la.Close()
	type res struct {
		n   int64
		err error
	}
	done := make(chan res, 1)
	var got bytes.Buffer
	go func() {
		n, err := lb.WriteTo(&got)
		done <- res{n, err}
	}()
	if _, err := la.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if lb.Stats().BytesReceived == 5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no data arrived")
		}
		time.Sleep(time.Millisecond)
	}
	lb.Close()
	select {
	case r := <-done:
		if !errors.Is(r.err, ErrClosed) {
			t.Fatalf("WriteTo after Close: %d, %v; want ErrClosed", r.n, r.err)
		}
	case <-ctx.Done():
		t.Fatal("WriteTo did not return after Close")
	}
}

// callWriter counts its Write calls.
type callWriter struct {
	bytes.Buffer
	calls int
}

func (w *callWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

// TestLinkWriteToGathers: short payloads waiting together go to the
// writer in one write, not one per frame.
func TestLinkWriteToGathers(t *testing.T) {
	testutil.CheckGoroutines(t)
	checkBufs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 12})
	la, lb := openPair(t, ctx, a, b, Config{Logger: tlog{t}}, Config{Logger: tlog{t}}) // N401 128, k 15
	defer lb.Close()
	establishPair(t, ctx, la, lb)
	data := pattern(10 * 128) // fewer than k: all delivered before any is read
	if _, err := la.Write(data); err != nil {
		t.Fatal(err)
	}
	for lb.Stats().BytesReceived < uint64(len(data)) {
		if ctx.Err() != nil {
			t.Fatal("data did not arrive")
		}
		time.Sleep(time.Millisecond)
	}
	if err := la.Close(); err != nil {
		t.Fatal(err)
	}
	var w callWriter
	n, err := lb.WriteTo(&w)
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("WriteTo: %d octets, %v", n, err)
	}
	if w.calls != 1 {
		t.Errorf("%d writes for %d payloads, want 1", w.calls, lb.Stats().IFramesRecv)
	}
}
