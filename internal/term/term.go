// Package term is the small raw-terminal helper of the caller's tools
// (gateway dial, gateway modem): raw mode on a tty and its restoration,
// the window size and its changes (SIGWINCH), and a password prompt without
// echo. It wraps golang.org/x/term; on anything that is not a terminal
// every operation is a harmless no-op or a clear error, so the tools work
// the same from scripts and pipes.
package term

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	xterm "golang.org/x/term"

	"github.com/dialgate/dialgate/transport"
)

// ErrNotTerminal is returned where a terminal is required.
var ErrNotTerminal = errors.New("term: not a terminal")

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return f != nil && xterm.IsTerminal(int(f.Fd())) }

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

// ReadPassword prints prompt to out and reads one line from in without
// echo. When in is a terminal, echo is turned off for the read; otherwise
// (a pipe) the line is read as it comes, one octet at a time so nothing
// after the line is consumed. The line end (LF, CR LF) is not returned.
func ReadPassword(in *os.File, out io.Writer, prompt string) (string, error) {
	if IsTerminal(in) {
		if restore, err := echoOff(int(in.Fd())); err == nil {
			// Echo is off before the prompt shows: a password typed
			// the moment it appears is never echoed.
			defer restore()
			if _, err := io.WriteString(out, prompt); err != nil {
				return "", fmt.Errorf("term: prompt: %w", err)
			}
			line, err := ReadLine(in)
			io.WriteString(out, "\n")
			if err != nil {
				return "", fmt.Errorf("term: reading password: %w", err)
			}
			return strings.TrimSuffix(line, "\r"), nil
		}
	}
	if _, err := io.WriteString(out, prompt); err != nil {
		return "", fmt.Errorf("term: prompt: %w", err)
	}
	if IsTerminal(in) {
		b, err := xterm.ReadPassword(int(in.Fd()))
		io.WriteString(out, "\n")
		if err != nil {
			return "", fmt.Errorf("term: reading password: %w", err)
		}
		return string(b), nil
	}
	return ReadLine(in)
}

// ReadLine reads one line from r, one octet at a time (so nothing past the
// line is consumed), without its line end. It fails at end of input
// before any octet and for lines longer than 1024 octets.
func ReadLine(r io.Reader) (string, error) {
	var b []byte
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			if len(b) >= maxPassword {
				return "", errors.New("term: line too long")
			}
			b = append(b, c[0])
			continue
		}
		if err == io.EOF {
			if len(b) == 0 {
				return "", fmt.Errorf("term: reading a line: %w", io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return "", fmt.Errorf("term: reading a line: %w", err)
		}
	}
	return string(bytes.TrimSuffix(b, []byte{'\r'})), nil
}
