// Package term is the small raw-terminal helper of the caller's tools
// (gateway dial, gateway modem): raw mode on a tty and its restoration,
// the window size and its changes (SIGWINCH), and a password prompt without
// echo. It wraps golang.org/x/term; on anything that is not a terminal
// every operation is a harmless no-op or a clear error, so the tools work
// the same from scripts and pipes.
package term

import (
	"errors"
	"fmt"
	"io"
	"os"

	xterm "golang.org/x/term"

	"github.com/dialgate/dialgate/transport"
)

// ErrNotTerminal is returned where a terminal is required.
var ErrNotTerminal = errors.New("term: not a terminal")

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return f != nil && xterm.IsTerminal(int(f.Fd())) }

// FlushInput discards what was typed on terminal f and not read yet (a
// password half typed at a prompt that ended), so that the next program
// to read the terminal, the user's shell, does not get it (Linux; a
// no-op elsewhere).
func FlushInput(f *os.File) { flushInput(int(f.Fd())) }

// MakeRaw puts the terminal f into raw mode (no line editing, no echo, no
// signals from ^C, 8-bit clean) and returns the function that restores the
// previous mode. On a non-terminal it does nothing and restore is a no-op.
func MakeRaw(f *os.File) (restore func() error, err error) {
	if !IsTerminal(f) {
		return func() error { return nil }, nil
	}
	st, err := xterm.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("term: raw mode: %w", err)
	}
	return func() error {
		if err := xterm.Restore(int(f.Fd()), st); err != nil {
			return fmt.Errorf("term: restoring the terminal: %w", err)
		}
		return nil
	}, nil
}

// Size reports the window size of the terminal f.
func Size(f *os.File) (transport.WindowSize, error) {
	if !IsTerminal(f) {
		return transport.WindowSize{}, ErrNotTerminal
	}
	w, h, err := xterm.GetSize(int(f.Fd()))
	if err != nil {
		return transport.WindowSize{}, fmt.Errorf("term: window size: %w", err)
	}
	return transport.WindowSize{Cols: w, Rows: h}, nil
}

// maxPassword bounds a typed password.
const maxPassword = 1024

// errLineTooLong is ReadLineBytes's error for a line over the bound.
var errLineTooLong = errors.New("term: line too long")

// ReadPassword is ReadPasswordBytes as a string. The string is a copy
// nobody can wipe; callers that can should use ReadPasswordBytes.
func ReadPassword(in *os.File, out io.Writer, prompt string) (string, error) {
	b, err := ReadPasswordBytes(in, out, prompt)
	s := string(b)
	clear(b)
	return s, err
}

// EchoOff turns off the echo of the terminal fd (keeping line editing
// and signals) and returns the function that gives the terminal its
// previous mode; on systems other than Linux it fails. For a caller
// that reads a password itself (ReadLineBytes) and must have the echo
// off before anything else can happen, such as a signal handler that
// restores the terminal.
func EchoOff(fd int) (restore func(), err error) { return echoOff(fd) }

// ReadSecretLine reads a password line from the terminal in, whose echo
// the caller has turned off (EchoOff), without touching the terminal's
// modes: a reader that set them itself could do so after a signal
// handler's restore, and leave the terminal without echo (gateway user
// interrupted at its prompt under load). The rest of an over-long line
// is flushed, so that whatever reads the terminal next (the shell, into
// its history) does not get it.
func ReadSecretLine(in *os.File) ([]byte, error) {
	line, err := ReadLineBytes(in)
	if errors.Is(err, errLineTooLong) {
		flushInput(int(in.Fd()))
	}
	if err != nil {
		return nil, fmt.Errorf("term: reading password: %w", err)
	}
	return line, nil
}

// ReadPasswordBytes prints prompt to out and reads one line from in
// without echo. When in is a terminal, echo is turned off for the read;
// otherwise (a pipe) the line is read as it comes, one octet at a time so
// nothing after the line is consumed. The line end (LF, CR LF) is not
// returned. The caller owns the slice and should wipe it (clear) when
// done; the buffers the read used are wiped or are the slice itself. A
// line over 1024 octets is refused, and on a terminal whose echo is
// turned off here the input queue is flushed, so that its tail is not
// read by what reads the terminal next.
// Where the echo cannot be turned off here (systems other than Linux),
// golang.org/x/term reads a terminal's line, and the copies it makes
// while the line grows are not wiped.
func ReadPasswordBytes(in *os.File, out io.Writer, prompt string) ([]byte, error) {
	if IsTerminal(in) {
		if restore, err := echoOff(int(in.Fd())); err == nil {
			// Echo is off before the prompt shows: a password typed
			// the moment it appears is never echoed.
			defer restore()
			if _, err := io.WriteString(out, prompt); err != nil {
				return nil, fmt.Errorf("term: prompt: %w", err)
			}
			line, err := ReadSecretLine(in)
			io.WriteString(out, "\n")
			return line, err
		}
	}
	if _, err := io.WriteString(out, prompt); err != nil {
		return nil, fmt.Errorf("term: prompt: %w", err)
	}
	if IsTerminal(in) {
		b, err := xterm.ReadPassword(int(in.Fd()))
		io.WriteString(out, "\n")
		if err != nil {
			clear(b)
			return nil, fmt.Errorf("term: reading password: %w", err)
		}
		return b, nil
	}
	return ReadLineBytes(in)
}

// ReadLine is ReadLineBytes as a string (for what is not secret: a user
// name).
func ReadLine(r io.Reader) (string, error) {
	b, err := ReadLineBytes(r)
	s := string(b)
	clear(b)
	return s, err
}

// ReadLineBytes reads one line from r, one octet at a time (so nothing
// past the line is consumed), without its line end (LF, CR LF). It fails
// at end of input before any octet and for lines longer than 1024
// octets. The line is read into one buffer of that size, which is the
// returned slice (the caller owns it and may wipe it); on failure the
// buffer is wiped, and so is the CR of a CR LF.
func ReadLineBytes(r io.Reader) ([]byte, error) {
	return readLine(r, make([]byte, 0, maxPassword))
}

// readLine is ReadLineBytes reading into buf, whose capacity bounds the
// line: buf never grows, so no copy of the line is left behind.
func readLine(r io.Reader, buf []byte) ([]byte, error) {
	b := buf[:0]
	var c [1]byte
	defer clear(c[:])
	fail := func(err error) ([]byte, error) {
		clear(b[:cap(b)])
		return nil, err
	}
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			if len(b) == cap(b) {
				return fail(errLineTooLong)
			}
			b = append(b, c[0])
			continue
		}
		if err == io.EOF {
			if len(b) == 0 {
				return fail(fmt.Errorf("term: reading a line: %w", io.ErrUnexpectedEOF))
			}
			break
		}
		if err != nil {
			return fail(fmt.Errorf("term: reading a line: %w", err))
		}
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b[n-1] = 0
		b = b[:n-1]
	}
	return b, nil
}
