package config

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadBannerFIFOSwappedIn: a banner_file that becomes a FIFO between
// readBanner's look at it and its open is refused, not waited on (review:
// the stat before the open was a race; a reload that lost it waited for a
// writer for ever, in the signal loop, and SIGTERM went unheard).
func TestReadBannerFIFOSwappedIn(t *testing.T) {
	dir := t.TempDir()
	path, fifo := filepath.Join(dir, "issue"), filepath.Join(dir, "fifo")
	if err := os.WriteFile(path, []byte("welcome\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var stop atomic.Bool
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for !stop.Load() {
			if err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, fifo, unix.RENAME_EXCHANGE); err != nil {
				return // no RENAME_EXCHANGE here: the test proves nothing
			}
		}
	}()
	done := make(chan int)
	go func() {
		fifos := 0
		for range 20000 {
			if _, err := readBanner(path); err != nil {
				fifos++
			}
		}
		done <- fifos
	}()
	select {
	case n := <-done:
		t.Logf("%d of 20000 reads found the FIFO", n)
	case <-time.After(20 * time.Second):
		stop.Store(true)
		// Let the stuck open go: a writer for whichever name the FIFO has.
		for _, p := range []string{path, fifo} {
			if f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
		t.Fatal("readBanner waited on a FIFO swapped in after its check")
	}
	stop.Store(true)
	<-swapped
}
