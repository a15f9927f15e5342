package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestAfterStdinError: on a Windows console io.EOF is a Ctrl-Z typed,
// which goes on to the call as 0x1A; elsewhere, and for any other error,
// the input ends.
func TestAfterStdinError(t *testing.T) {
	other := errors.New("read failed")
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
		ended, typed := afterStdinError(c.err, c.ctrlZEOF)
		if ended != c.ended || !bytes.Equal(typed, c.typed) {
			t.Errorf("afterStdinError(%v, %v) = %v, %q; want %v, %q", c.err, c.ctrlZEOF, ended, typed, c.ended, c.typed)
		}
	}
}

// consoleReads returns its reads in turn, as Go's reader of a Windows
// console does when the user types "ab", Ctrl-Z, "c" (the Ctrl-Z as
// io.EOF), then fails.
type consoleReads struct{ reads []any }

func (r *consoleReads) Read(p []byte) (int, error) {
	if len(r.reads) == 0 {
		return 0, errors.New("console gone")
	}
	next := r.reads[0]
	r.reads = r.reads[1:]
	if err, ok := next.(error); ok {
		return 0, err
	}
	return copy(p, next.(string)), nil
}

// TestInputGoesOnAfterConsoleCtrlZ: a Ctrl-Z on a Windows console does not
// end the input, and reaches the call. Trial: startInput stopped at the
// io.EOF and the call hung up ("stdin ended"); startInput had no ctrlZEOF
// parameter, so this does not build on the code before.
func TestInputGoesOnAfterConsoleCtrlZ(t *testing.T) {
	in := startInput(&consoleReads{reads: []any{"ab", io.EOF, "c"}}, true)
	defer in.close()
	var got []byte
	for b := range in.ch {
		got = append(got, b...)
	}
	if want := "ab\x1ac"; string(got) != want {
		t.Errorf("input %q, want %q", got, want)
	}

	in = startInput(&consoleReads{reads: []any{"ab", io.EOF, "c"}}, false)
	defer in.close()
	got = nil
	for b := range in.ch {
		got = append(got, b...)
	}
	if want := "ab"; string(got) != want {
		t.Errorf("input from a pipe %q, want %q", got, want)
	}
}
