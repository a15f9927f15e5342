package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/tcp"
)

func TestModeTracker(t *testing.T) {
	for _, c := range []struct {
		name, out, want string
	}{
		{"plain text", "hello\r\n\x1b[2J\x1b[1;1H", ""},
		{"vim left on", "\x1b[?1049h\x1b[?1h\x1b=\x1b[?25l\x1b[?2004h\x1b[?1000;1006h", "\x1b[?1049l\x1b[?1000l\x1b[?1006l\x1b[?2004l\x1b[?1l\x1b[?25h\x1b>\x1b[0m"},
		{"vim ended", "\x1b[?1049h\x1b[?1h\x1b=\x1b[?25lscreen\x1b[?25h\x1b[?1l\x1b>\x1b[?1049l", ""},
		{"untracked modes", "\x1b[?7l\x1b[?12h\x1b[?99999999h", ""},
		{"not private", "\x1b[1049h\x1b[25l\x1b[4h", ""},
		{"ESC in a sequence starts another", "\x1b[?10\x1b[?47h", "\x1b[?47l\x1b[0m"},
		{"control ends a sequence", "\x1b[?1049\nh", ""},
		{"intermediate", "\x1b[?1049$p\x1b[?1047h", "\x1b[?1047l\x1b[0m"},
		// Review: colours left on alone were not put back.
		{"colours left on", "\x1b[1;31mred, the line drops here", "\x1b[0m"},
		{"colours put back", "\x1b[1;31mred\x1b[0m plain \x1b[7mx\x1b[m", ""},
		{"reset then colour", "\x1b[0;32mgreen", "\x1b[0m"},
	} {
		// Whole, and in pieces of every size: a sequence may be split.
		for size := range len(c.out) + 1 {
			tr := newModeTracker()
			if size == 0 {
				tr.feed([]byte(c.out))
			} else {
				for p := []byte(c.out); len(p) > 0; p = p[min(size, len(p)):] {
					tr.feed(p[:min(size, len(p))])
				}
			}
			if got := string(tr.reset()); got != c.want {
				t.Errorf("%s, pieces of %d: reset %q, want %q", c.name, size, got, c.want)
				break
			}
			if again := tr.reset(); again != nil {
				t.Errorf("%s: a second reset wrote %q", c.name, again)
			}
		}
	}
}

// FuzzModeTracker: any output, fed whole or split at any point, leaves the
// same modes to put back, and the put-back sequence is well formed.
func FuzzModeTracker(f *testing.F) {
	f.Add([]byte("\x1b[?1049h\x1b[?25l"), 3)
	f.Add([]byte("\x1b[?1;1000;2004h\x1b=x\x1b[?1l"), 1)
	f.Add([]byte("\x1b\x1b[?\x1b[?47h\x1b[0m"), 5)
	f.Fuzz(func(t *testing.T, out []byte, cut int) {
		whole := newModeTracker()
		whole.feed(out)
		split := newModeTracker()
		cut = min(max(cut, 0), len(out))
		split.feed(out[:cut])
		split.feed(out[cut:])
		a, b := whole.reset(), split.reset()
		if !bytes.Equal(a, b) {
			t.Fatalf("whole %q, split at %d %q", a, cut, b)
		}
		if len(a) > 0 && !bytes.HasSuffix(a, []byte("\x1b[0m")) {
			t.Fatalf("reset %q", a)
		}
	})
}

// TestDialPutsBackModesAtEnd: a program behind the call that turned on
// the alternate screen, mouse reporting and a hidden cursor, and never
// turned them off (the gateway went away mid-vim), has them put back by
// dial when the call ends. Power-user trial: the prompt came back on
// vim's alternate screen.
func TestDialPutsBackModesAtEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		io.WriteString(line, "\x1b[?1049h\x1b[?1000h\x1b[?25lvim-screen")
		time.Sleep(200 * time.Millisecond)
	})
	cmd := exec.Command(gatewayBinary(t), "dial", "--text", "--quiet", addr)
	_, screen, done := startOnPty(t, cmd, 80, 24)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("dial did not end; screen:\n%q", screen)
	}
	s := screen.String()
	i := strings.Index(s, "vim-screen")
	if i < 0 || !strings.Contains(s[i:], "\x1b[?1049l\x1b[?1000l\x1b[?25h\x1b[0m") {
		t.Fatalf("screen %q: the modes were not put back after the call", s)
	}
}
