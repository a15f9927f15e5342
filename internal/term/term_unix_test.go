//go:build unix

package term

import (
	"os"
	"testing"
)

// TestWatchSizeNonTerminal: WatchSize on a file that is no terminal
// sends no size and closes its channel.
func TestWatchSizeNonTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := <-WatchSize(t.Context(), f); ok {
		t.Error("WatchSize on a file sent a size")
	}
}
