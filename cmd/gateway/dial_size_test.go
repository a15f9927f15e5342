package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// TestPollSize: the window size watch of Windows (no SIGWINCH) reports a
// size only when it changed, skips failed reads, keeps only the latest
// size for a slow reader, and closes its channel when ctx ends.
func TestPollSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		cur := transport.WindowSize{Cols: 80, Rows: 24}
		var fail bool
		set := func(ws transport.WindowSize, f bool) {
			mu.Lock()
			cur, fail = ws, f
			mu.Unlock()
		}
		size := func() (transport.WindowSize, error) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return transport.WindowSize{}, errors.New("console gone")
			}
			return cur, nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		ch := pollSize(ctx, cur, size, time.Second)

		none := func(what string) {
			t.Helper()
			time.Sleep(3 * time.Second)
			synctest.Wait()
			select {
			case ws := <-ch:
				t.Fatalf("%s: reported %+v", what, ws)
			default:
			}
		}
		none("unchanged size")

		set(transport.WindowSize{Cols: 132, Rows: 43}, false)
		time.Sleep(time.Second)
		synctest.Wait()
		if ws := <-ch; ws != (transport.WindowSize{Cols: 132, Rows: 43}) {
			t.Fatalf("after a resize: %+v", ws)
		}
		none("same size again")

		set(transport.WindowSize{}, true)
		none("failing size")

		// Two changes unread: only the latest is kept.
		set(transport.WindowSize{Cols: 100, Rows: 30}, false)
		time.Sleep(time.Second)
		set(transport.WindowSize{Cols: 120, Rows: 40}, false)
		time.Sleep(time.Second)
		synctest.Wait()
		if ws := <-ch; ws != (transport.WindowSize{Cols: 120, Rows: 40}) {
			t.Fatalf("slow reader got %+v, want the latest size", ws)
		}

		cancel()
		synctest.Wait()
		if _, ok := <-ch; ok {
			t.Fatal("channel still open after ctx ended")
		}
	})
}
