package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// TestPTYAbortOutputDropsQueued: a caller's telnet Abort Output drops
// what a pty program wrote and the gateway has not read yet, as telnetd
// does; what the program writes after it comes through. BBS trial: `send
// ao` did nothing.
func TestPTYAbortOutputDropsQueued(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	b, err := newPTYBackend(config.Backend{Name: "lister", Type: config.BackendPTY, Term: "vt100",
		Command: []string{sh, "-c", `stty -echo; i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "queued line $i"; done; read x; echo AFTER`}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := b.Connect(context.Background(), Session{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pc := conn.(*ptyConn)
	queued := func() int {
		var n int
		_ = withFD(pc.ptmx, func(fd int) { n, _ = unix.IoctlGetInt(fd, unix.TIOCINQ) })
		return n
	}
	// Nothing reads yet: wait until the program's output fills the pty.
	for deadline := time.Now().Add(10 * time.Second); queued() < 2048; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the program's output did not queue up: %d octets", queued())
		}
	}
	if err := conn.(Interrupter).Interrupt(transport.EventAbortOutput); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n >= 2048 {
		t.Errorf("%d octets still queued after Abort Output", n)
	}
	done := make(chan string, 1)
	go func() {
		var out strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), "AFTER") {
			n, err := conn.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- out.String()
	}()
	// The program may write more of its lines after the flush; then it
	// reads a line and writes AFTER.
	conn.Write([]byte("\r"))
	out := <-done
	if !strings.Contains(out, "AFTER") || strings.Contains(out, "queued line 1\r\n") {
		t.Errorf("after Abort Output read %d octets: %.80q ... ; want no first line, then AFTER", len(out), out)
	}
}
