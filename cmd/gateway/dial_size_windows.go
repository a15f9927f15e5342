package main

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/windows"

	"github.com/dialgate/dialgate/internal/term"
	"github.com/dialgate/dialgate/transport"
)

// sizePoll is how often watchSize asks for the console's size.
const sizePoll = 250 * time.Millisecond

// watchSize reports the console f's window size when it changes, until
// ctx ends: Windows has no SIGWINCH, so the size is polled (sizePoll).
func watchSize(ctx context.Context, f *os.File) <-chan transport.WindowSize {
	from, _ := term.Size(f)
	return pollSize(ctx, from, func() (transport.WindowSize, error) { return term.Size(f) }, sizePoll)
}

// vtOutput turns on the console's interpretation of escape sequences
// (ENABLE_VIRTUAL_TERMINAL_PROCESSING) on f, so that a BBS's ANSI colours
// and cursor movements work as on a Unix terminal, and returns the
// function that gives the console its previous mode. Where the console
// does not have it (before Windows 10) the sequences are shown as text.
func vtOutput(f *os.File) (restore func()) {
	h := windows.Handle(f.Fd())
	var mode uint32
	if windows.GetConsoleMode(h, &mode) != nil || mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return func() {}
	}
	if windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) != nil {
		return func() {}
	}
	return func() { _ = windows.SetConsoleMode(h, mode) }
}
