//go:build unix

package term

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dialgate/dialgate/transport"
)

// WatchSize reports the window size of the terminal f whenever it changes
// (SIGWINCH), until ctx ends; the channel is then closed. It keeps only the
// latest size for a slow reader. On a non-terminal the channel is closed
// at once.
func WatchSize(ctx context.Context, f *os.File) <-chan transport.WindowSize {
	out := make(chan transport.WindowSize, 1)
	if !IsTerminal(f) {
		close(out)
		return out
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	go func() {
		defer close(out)
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			ws, err := Size(f)
			if err != nil {
				continue
			}
			select {
			case <-out:
			default:
			}
			out <- ws
		}
	}()
	return out
}
