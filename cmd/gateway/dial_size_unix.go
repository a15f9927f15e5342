//go:build unix

package main

import (
	"context"
	"os"

	"github.com/dialgate/dialgate/internal/term"
	"github.com/dialgate/dialgate/transport"
)

// watchSize reports the terminal f's window size when it changes
// (SIGWINCH), until ctx ends.
func watchSize(ctx context.Context, f *os.File) <-chan transport.WindowSize {
	return term.WatchSize(ctx, f)
}

// vtOutput: a Unix terminal interprets the remote's escape sequences as
// they are; nothing to restore.
func vtOutput(*os.File) (restore func()) { return func() {} }
