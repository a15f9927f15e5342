package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPTYCtrlSHoldsOutput: the caller's Ctrl-S stops what a program in
// cooked mode writes at once, including the output the terminal held
// already (packet mode), and Ctrl-Q lets all of it through. Slow-lines
// trial: after Ctrl-S the ~4 KiB in the pty still reached the caller, 17
// s of a 2,400 bit/s line.
func TestPTYCtrlSHoldsOutput(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	b, err := newPTYBackend(config.Backend{Name: "lister", Type: config.BackendPTY, Term: "vt100",
		Command: []string{sh, "-c", `stty ixon; i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo "line $i"; done; echo END`}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := b.Connect(context.Background(), Session{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The program fills the terminal and waits: nothing reads yet.
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.Write([]byte{0x13}); err != nil { // Ctrl-S
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the line discipline takes it
	chunks := make(chan string, 1024)
	go func() {
		defer close(chunks)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				chunks <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case c := <-chunks:
		t.Fatalf("output after Ctrl-S: %d octets (%q...)", len(c), c[:min(len(c), 40)])
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := conn.Write([]byte{0x11}); err != nil { // Ctrl-Q
		t.Fatal(err)
	}
	var out strings.Builder
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), "END") {
		select {
		case c, ok := <-chunks:
			if !ok {
				t.Fatalf("output ended without END after Ctrl-Q: %d octets", out.Len())
			}
			out.WriteString(c)
		case <-deadline:
			t.Fatalf("no END 20 s after Ctrl-Q: %d octets", out.Len())
		}
	}
	// Nothing held was lost: every line, in order, from the first.
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out.String(), "\r\n", "\n")), "\n")
	if len(lines) != 2001 || lines[0] != "line 1" || lines[1999] != "line 2000" {
		t.Errorf("%d lines after Ctrl-Q (first %q), want lines 1..2000 and END", len(lines), lines[0])
	}
	conn.Close()
	for range chunks {
	}
}
