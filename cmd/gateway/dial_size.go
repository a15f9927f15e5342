package main

import (
	"context"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// pollSize reports the window size size returns whenever it differs from
// the last one seen (the first, from, being the size at the start), asking
// every interval until ctx ends; the channel is then closed. Like
// term.WatchSize it keeps only the latest size for a slow reader. Errors
// of size are skipped (the window is not resized then).
func pollSize(ctx context.Context, from transport.WindowSize, size func() (transport.WindowSize, error), interval time.Duration) <-chan transport.WindowSize {
	out := make(chan transport.WindowSize, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(interval)
		defer t.Stop()
		last := from
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ws, err := size()
			if err != nil || ws == last {
				continue
			}
			last = ws
			select {
			case <-out:
			default:
			}
			out <- ws
		}
	}()
	return out
}
