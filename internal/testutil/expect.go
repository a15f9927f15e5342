package testutil

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

// Expecter collects everything a reader produces (a terminal, a line) and
// waits for text in it, like expect(1). Each wait starts after what the
// previous one consumed.
type Expecter struct {
	timeout time.Duration
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	seen    int // offset consumed by the waits so far
	err     error
}

// NewExpecter starts reading r until it fails; each wait gives up after
// timeout.
func NewExpecter(r io.Reader, timeout time.Duration) *Expecter {
	e := &Expecter{timeout: timeout}
	e.cond = sync.NewCond(&e.mu)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			e.mu.Lock()
			e.buf = append(e.buf, b[:n]...)
			if err != nil {
				e.err = err
			}
			e.cond.Broadcast()
			e.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return e
}

// Expect waits for s and returns the text up to and including it; it fails
// the test when the reader ends or the timeout passes first.
func (e *Expecter) Expect(t testing.TB, s string) string {
	t.Helper()
	got, _ := e.wait(t, []string{s})
	return got
}

// ExpectOneOf waits for the first of several texts and says which it was.
func (e *Expecter) ExpectOneOf(t testing.TB, texts ...string) int {
	t.Helper()
	_, which := e.wait(t, texts)
	return which
}

func (e *Expecter) wait(t testing.TB, texts []string) (string, int) {
	t.Helper()
	deadline := time.Now().Add(e.timeout)
	tm := time.AfterFunc(e.timeout, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
	defer tm.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		rest := e.buf[e.seen:]
		best, at := -1, len(rest)
		for i, s := range texts {
			if j := bytes.Index(rest, []byte(s)); j >= 0 && j < at {
				best, at = i, j
			}
		}
		if best >= 0 {
			end := at + len(texts[best])
			e.seen += end
			return string(rest[:end]), best
		}
		if e.err != nil || time.Now().After(deadline) {
			t.Fatalf("waiting for %q; got %q (err %v)", texts, rest, e.err)
		}
		e.cond.Wait()
	}
}

// WaitEnd waits until the reader has ended and returns its error.
func (e *Expecter) WaitEnd() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.err == nil {
		e.cond.Wait()
	}
	return e.err
}

// All returns everything read so far, consumed or not.
func (e *Expecter) All() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return string(e.buf)
}

// StillCarries checks that two ends of a line still carry data both ways:
// "still here" written at each end arrives whole at the other, within 5 s
// where the reader takes a read deadline.
func StillCarries(t testing.TB, caller, gateway io.ReadWriter) {
	t.Helper()
	for _, dir := range []struct {
		name string
		w, r io.ReadWriter
	}{{"caller to gateway", caller, gateway}, {"gateway to caller", gateway, caller}} {
		if _, err := io.WriteString(dir.w, "still here"); err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if d, ok := dir.r.(interface{ SetReadDeadline(time.Time) error }); ok {
			d.SetReadDeadline(time.Now().Add(5 * time.Second))
		}
		buf := make([]byte, 32)
		n, err := io.ReadAtLeast(dir.r, buf, len("still here"))
		if err != nil || string(buf[:n]) != "still here" {
			t.Fatalf("%s: read %q, %v", dir.name, buf[:n], err)
		}
	}
}
