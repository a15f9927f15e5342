package bridge

import (
	"bytes"
	"io"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// TestPTYInputQueuedCountsWhatWasJustWritten: octets written to the
// master count as the program's unread input at once, while the kernel's
// tty buffer work may not have moved them into the terminal's input
// queue yet (TIOCINQ alone answered 0 then, and a hang-up after an
// upload cut the tail the program had not read: concurrency review).
func TestPTYInputQueuedCountsWhatWasJustWritten(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("u"), 300)
	buf := make([]byte, len(chunk))
	missed := 0
	for i := range 2000 {
		if _, err := ptmx.Write(chunk); err != nil {
			t.Fatal(err)
		}
		n, ok := ptyInputQueued(ptmx)
		if !ok {
			t.Fatalf("write %d: the queue cannot be told", i)
		}
		if n != len(chunk) {
			missed++
		}
		if _, err := io.ReadFull(tty, buf); err != nil {
			t.Fatal(err)
		}
	}
	if missed > 0 {
		t.Errorf("%d of 2000 writes of %d octets were not counted at once", missed, len(chunk))
	}
}
