package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestAfterStdinError: on a Windows console io.EOF is a Ctrl-Z typed,
// which goes on to the call as 0x1A; elsewhere, and for any other error,
// the input ends.
func TestAfterStdinError(t *testing.T) {
	other := errors.New("read failed")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		err      error
		ctrlZEOF bool
		ended    bool
		typed    []byte
	}{
		{io.EOF, false, true, nil},
		{io.EOF, true, false, []byte{0x1A}},
		{other, false, true, nil},
		{other, true, true, nil},
	} {
		var eofs consoleEOFs
		ended, typed := afterStdinError(c.err, c.ctrlZEOF, &eofs, now)
		if ended != c.ended || !bytes.Equal(typed, c.typed) {
			t.Errorf("afterStdinError(%v, %v) = %v, %q; want %v, %q", c.err, c.ctrlZEOF, ended, typed, c.ended, c.typed)
		}
	}
}

// TestConsoleEOFsInARow: io.EOFs from a console that come maxConsoleEOFs
// in a row within consoleEOFWindow, with no data between them, end the
// input (Go's reader returns them at once, read after read, for a console
// that is gone); Ctrl-Zs typed at a person's pace, or with data between
// them, go on to the call. On the code before every io.EOF was a Ctrl-Z
// and the input never ended.
func TestConsoleEOFsInARow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	for _, c := range []struct {
		name  string
		reads eofTimes // the io.EOFs' times after t0; -1 is data
		ended int      // index of the read that ends the input; -1 none
	}{
		{"gone console", eofRun(maxConsoleEOFs, 0), maxConsoleEOFs - 1},
		{"gone console, busy loop", eofRun(maxConsoleEOFs+1, time.Microsecond), maxConsoleEOFs - 1},
		{"one Ctrl-Z", []time.Duration{0}, -1},
		{"three buffered Ctrl-Zs (a paste)", eofRun(3, 0), -1},
		{"typed at a person's pace", []time.Duration{0, 40 * ms, 80 * ms, 120 * ms}, -1},
		{"data between", append(append(eofRun(maxConsoleEOFs-1, 0), -1), eofRun(maxConsoleEOFs-1, 0)...), -1},
		{"run starts again after the window", append(eofRun(maxConsoleEOFs-1, 0), eofRun(maxConsoleEOFs, 0).shift(11*ms)...), 2*maxConsoleEOFs - 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var eofs consoleEOFs
			for i, d := range c.reads {
				if d < 0 {
					eofs = consoleEOFs{} // as startInput does on data
					continue
				}
				ended, typed := afterStdinError(io.EOF, true, &eofs, t0.Add(d))
				if want := i == c.ended; ended != want {
					t.Fatalf("read %d (io.EOF at +%v): ended %v, want %v", i, d, ended, want)
				}
				if !ended && !bytes.Equal(typed, []byte{0x1A}) {
					t.Fatalf("read %d: typed %q, want Ctrl-Z", i, typed)
				}
				if ended {
					return
				}
			}
		})
	}
}

// eofTimes are the times of io.EOFs after a start; -1 stands for data.
type eofTimes []time.Duration

// eofRun is n io.EOFs, step apart, from 0.
func eofRun(n int, step time.Duration) eofTimes {
	t := make(eofTimes, n)
	for i := range t {
		t[i] = time.Duration(i) * step
	}
	return t
}

// shift moves every time by d.
func (t eofTimes) shift(d time.Duration) eofTimes {
	for i := range t {
		t[i] += d
	}
	return t
}

// TestInputEndsOnGoneConsole: a console whose every read returns io.EOF
// at once (gone) ends the input after a few Ctrl-Zs, instead of sending
// 0x1A to the call in a busy loop. In the synctest bubble time stands
// still while the reader spins.
func TestInputEndsOnGoneConsole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := startInput(goneConsole{new(int)}, true)
		defer in.close()
		var got []byte
		for b := range in.ch {
			got = append(got, b...)
		}
		if want := strings.Repeat("\x1a", maxConsoleEOFs-1); string(got) != want {
			t.Errorf("input %q, want %q", got, want)
		}
	})
}

// goneConsole reads as Go's reader of a Windows console that went away:
// io.EOF at once, every time; after 100 reads it fails instead, so that a
// reader that takes every io.EOF for a Ctrl-Z ends too (with 100 of them).
type goneConsole struct{ reads *int }

func (c goneConsole) Read([]byte) (int, error) {
	if *c.reads++; *c.reads > 100 {
		return 0, errors.New("test: too many reads")
	}
	return 0, io.EOF
}

// TestInputGoesOnAfterPastedCtrlZs: Ctrl-Zs with data between them, more
// than maxConsoleEOFs in all and each an immediate io.EOF (a paste), all
// reach the call: data starts the run of io.EOFs again.
func TestInputGoesOnAfterPastedCtrlZs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var want []byte
		var reads []string
		for range 2 * maxConsoleEOFs {
			reads = append(reads, "x", "")
			want = append(want, 'x', 0x1A)
		}
		in := startInput(&pastedConsole{reads: reads}, true)
		defer in.close()
		var got []byte
		for b := range in.ch {
			got = append(got, b...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("input %q, want %q", got, want)
		}
	})
}

// pastedConsole reads as Go's reader of a Windows console gives a paste:
// each "" is a Ctrl-Z (io.EOF at once), anything else is data; then it
// fails.
type pastedConsole struct{ reads []string }

func (c *pastedConsole) Read(p []byte) (int, error) {
	if len(c.reads) == 0 {
		return 0, errors.New("test: end of paste")
	}
	r := c.reads[0]
	c.reads = c.reads[1:]
	if r == "" {
		return 0, io.EOF
	}
	return copy(p, r), nil
}

// keystrokes is a stdin that returns one octet per read, as a terminal
// in raw mode does while the user types, and records the buffers it was
// handed.
type keystrokes struct {
	left  int
	sizes map[int]int
	bufs  map[*byte]bool
}

func (k *keystrokes) Read(p []byte) (int, error) {
	if k.left == 0 {
		return 0, io.EOF
	}
	k.sizes[len(p)]++
	k.bufs[&p[0]] = true
	k.left--
	p[0] = byte('a' + k.left%26)
	return 1, nil
}

// TestInputReusesChunks: a consumer that gives its chunks back has them
// filled again, so typing costs no buffer per keystroke (each read
// allocated a fresh 32 KiB before), and every read offers a whole
// WebSocket message's worth, so that piped input goes out in 64 KiB
// messages.
func TestInputReusesChunks(t *testing.T) {
	const keys = 2000
	k := &keystrokes{left: keys, sizes: map[int]int{}, bufs: map[*byte]bool{}}
	in := startInput(k, false)
	var got []byte
	for chunk := range in.ch {
		got = append(got, chunk...)
		in.release(chunk)
	}
	if len(got) != keys {
		t.Fatalf("read %d octets, want %d", len(got), keys)
	}
	for i, c := range got {
		if want := byte('a' + (keys-1-i)%26); c != want {
			t.Fatalf("octet %d is %q, want %q", i, c, want)
		}
	}
	if len(k.sizes) != 1 || k.sizes[inputChunk] != keys {
		t.Errorf("read sizes %v, want all %d", k.sizes, inputChunk)
	}
	// The consumer runs behind the reader at times, so a second buffer
	// may be needed; never one per read.
	if len(k.bufs) > 2 {
		t.Errorf("%d reads used %d buffers, want at most 2", keys, len(k.bufs))
	}
}

// stuckCall is a call that takes no input: its Write blocks until it is
// hung up (Close, or Hangup where hangs is set: a V.42 link's release),
// and its Read until Close.
type stuckCall struct {
	hangs   bool
	wrote   chan []byte // each Write's octets as it starts
	gone    chan struct{}
	once    sync.Once
	hangups atomic.Int32
}

func newStuckCall(hangs bool) *stuckCall {
	return &stuckCall{hangs: hangs, wrote: make(chan []byte, 16), gone: make(chan struct{})}
}

func (c *stuckCall) Write(p []byte) (int, error) {
	c.wrote <- bytes.Clone(p)
	<-c.gone
	return 0, errors.New("hung up")
}

func (c *stuckCall) Read([]byte) (int, error) {
	<-c.gone
	return 0, io.EOF
}

func (c *stuckCall) Close() error {
	c.once.Do(func() { close(c.gone) })
	return nil
}

// stuckLink is a stuckCall with a V.42 link's Hangup.
type stuckLink struct{ *stuckCall }

func (c stuckLink) Hangup() {
	c.hangups.Add(1)
	c.Close()
}

// TestEscapeWhileCallTakesNoInput: ~. hangs up while a write to the call
// blocks (a gateway whose service stopped reading): the terminal is still
// read, and the escape seen. Before, copyUp read the next input only once
// the write returned, so ~. did nothing until the gateway hung up. A V.42
// link is released at once (Hangup), not after its queue drained.
func TestEscapeWhileCallTakesNoInput(t *testing.T) {
	for _, v42 := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			call := newStuckCall(false)
			var conn io.ReadWriteCloser = call
			if v42 {
				conn = stuckLink{call}
			}
			stdin, typing := io.Pipe()
			in := startInput(stdin, false)
			defer in.close()
			s := &session{conn: conn, input: in, stdout: io.Discard, notice: io.Discard, esc: newEscaper('~')}
			type result struct {
				end sessionEnd
				err error
			}
			done := make(chan result, 1)
			go func() {
				end, err := s.run(t.Context())
				done <- result{end, err}
			}()
			io.WriteString(typing, "paste\r")
			if got := <-call.wrote; string(got) != "paste\r" {
				t.Fatalf("first write %q", got)
			}
			io.WriteString(typing, "more\r")
			io.WriteString(typing, "~.")
			r := <-done
			if r.end != endEscape || r.err != nil {
				t.Errorf("v42 %v: session ended %v, %v; want the escape", v42, r.end, r.err)
			}
			if n := call.hangups.Load(); v42 && n != 1 || !v42 && n != 0 {
				t.Errorf("v42 %v: %d releases", v42, n)
			}
			typing.Close()
		})
	}
}
