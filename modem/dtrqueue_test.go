package modem

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// gatedDTE is a DTE whose Write blocks until the test opens the gate, as
// a serial port held by flow control does. Each Read returns the next
// item the test sends (text, or an error such as ErrDTRDrop).
type gatedDTE struct {
	reads  chan gatedRead
	gate   chan struct{} // closed: writes go through
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	dropped bool     // set by the test after the drop was read
	before  []string // writes begun before the drop
	after   []string // writes begun after it
	lastBuf []byte   // the buffer of the last Read, as the modem left it
	lastN   int
}

type gatedRead struct {
	data string
	err  error
}

func newGatedDTE() *gatedDTE {
	return &gatedDTE{reads: make(chan gatedRead), gate: make(chan struct{}), closed: make(chan struct{})}
}

func (d *gatedDTE) Read(b []byte) (int, error) {
	select {
	case r := <-d.reads:
		n := copy(b, r.data)
		d.mu.Lock()
		d.lastBuf, d.lastN = b, n
		d.mu.Unlock()
		return n, r.err
	case <-d.closed:
		return 0, io.EOF
	}
}

func (d *gatedDTE) Write(b []byte) (int, error) {
	d.mu.Lock()
	after := d.dropped
	d.mu.Unlock()
	select {
	case <-d.gate:
	case <-d.closed:
		return 0, io.ErrClosedPipe
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if after {
		d.after = append(d.after, string(b))
	} else {
		d.before = append(d.before, string(b))
	}
	return len(b), nil
}

func (d *gatedDTE) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

func (d *gatedDTE) markDropped() {
	d.mu.Lock()
	d.dropped = true
	d.mu.Unlock()
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// runGated runs the modem on d inside a synctest bubble; the returned
// func stops it.
func runGated(t *testing.T, d *gatedDTE, opts Options) func() {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	if opts.Dialer == nil {
		opts.Dialer = newFakeDialer()
	}
	go func() { done <- Run(ctx, d, opts) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestDTRDropDiscardsQueuedOutput: output queued for a DTE whose Write is
// held (flow control) when it drops DTR is discarded, not written once
// the Write goes on: it was for the DTE that went.
func TestDTRDropDiscardsQueuedOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newGatedDTE()
		stop := runGated(t, d, Options{})
		for range 5 {
			d.reads <- gatedRead{data: "AT\r"}
		}
		synctest.Wait() // the first write is held, the others queued
		d.reads <- gatedRead{err: fmt.Errorf("test: %w", ErrDTRDrop)}
		synctest.Wait()
		d.markDropped()
		close(d.gate)
		synctest.Wait()
		d.mu.Lock()
		before, after := d.before, d.after
		d.mu.Unlock()
		if len(before) != 1 || len(after) != 0 {
			t.Errorf("written before the drop %q, after it %q; want the held write only", before, after)
		}
		d.reads <- gatedRead{data: "ATI\r"}
		synctest.Wait()
		d.mu.Lock()
		after = d.after
		d.mu.Unlock()
		if got := strings.Join(after, ""); strings.Contains(got, "AT\r") || !strings.Contains(got, "ATI\r") {
			t.Errorf("the next DTE got %q", got)
		}
		stop()
	})
}

// TestDTRDropWhileOutputQueueFull: the loop acts on a DTR drop while the
// DTE's output queue is full behind a held Write (a serial port under
// flow control that stays held): it does not wait for the queue.
func TestDTRDropWhileOutputQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newGatedDTE()
		log := &logLines{}
		stop := runGated(t, d, Options{Logger: log})
		// One write held, 64 queued, the loop waiting to queue one
		// more, and a few events behind it.
		for range 70 {
			d.reads <- gatedRead{data: "AT\r"}
		}
		synctest.Wait()
		d.reads <- gatedRead{err: fmt.Errorf("test: %w", ErrDTRDrop)}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if !log.has("DTE dropped DTR") {
			t.Errorf("the loop did not act on the drop while the output was held; log %q", log.lines)
		}
		close(d.gate)
		stop()
	})
}

// TestReadBufferWipedAtPrompt: the keystrokes read from the DTE (a
// password at a hidden prompt) do not stay in the reader's buffer.
func TestReadBufferWipedAtPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newGatedDTE()
		close(d.gate)
		results := make(chan error, 1)
		stop := runGated(t, d, Options{Dialer: loginDialer(true, 0, results)})
		for _, s := range []string{"ATDTgw\r", "bob\r", "secret\r"} {
			d.reads <- gatedRead{data: s}
			synctest.Wait() // the dial has prompted
		}
		if err := <-results; err != nil {
			t.Fatalf("prompts: %v", err)
		}
		synctest.Wait()
		d.mu.Lock()
		kept := string(d.lastBuf[:d.lastN])
		d.mu.Unlock()
		if strings.Trim(kept, "\x00") != "" {
			t.Errorf("the read buffer still holds %q", kept)
		}
		stop()
	})
}
