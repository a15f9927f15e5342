// Package testutil holds helpers shared by dialgate's tests: goroutine-leak
// checks and the rule for tests that need a real peer program.
package testutil

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true). There, a test that
// needs a real peer that is missing fails instead of skipping.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedBinary returns the path of a program a test needs as a real peer. A
// missing program skips the test locally and fails it under CI.
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "program "+name+" not found (the test command installs it)")
	}
	return p
}

// Missing skips (locally) or fails (CI=true) a test whose real peer is absent.
func Missing(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("real peer missing under CI: %s", why)
	}
	t.Skipf("real peer missing: %s", why)
}

// CheckGoroutines records the goroutines running now and, when the test
// ends, fails it if new ones are still running after a grace period.
// Call it first in a test, before starting anything. Goroutines of the
// testing package and the runtime are not counted (under GOOS=js, the
// runtime.handleEvent goroutine that runs callbacks from JavaScript,
// which the runtime creates anew for events such as timers).
func CheckGoroutines(t testing.TB) { checkGoroutines(t, leakGrace) }

// leakGrace is how long CheckGoroutines waits for new goroutines to end.
const leakGrace = 5 * time.Second

func checkGoroutines(t testing.TB, grace time.Duration) {
	t.Helper()
	before := goroutineSet()
	t.Cleanup(func() {
		deadline := time.Now().Add(grace)
		var leaked []string
		for {
			leaked = leaked[:0]
			for id, stack := range goroutineSet() {
				if _, ok := before[id]; !ok && !ignorable(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(leaked) > 0 {
			sort.Strings(leaked)
			t.Errorf("%d goroutine(s) leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// ignorable reports whether a goroutine's stack belongs to the testing
// package or the runtime rather than to the code under test.
func ignorable(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run",
		"testing.tRunner",
		"runtime.goexit\n",
		"os/signal.signal_recv",
		"testing.runFuzzing",
		"created by net/http.(*Transport).dialConn", // idle keep-alive conns, closed by CloseIdleConnections
		"\nruntime.handleEvent()\n",                 // GOOS=js: runs JavaScript callbacks; a new one per event
	} {
		if strings.Contains(stack, s) && !strings.Contains(stack, "github.com/dialgate") {
			return true
		}
	}
	return false
}

func goroutineSet() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		line, _, _ := strings.Cut(g, "\n")
		// "goroutine 12 [running]:"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		out[f[1]] = g
	}
	return out
}

// CloseWhileFlooded writes to w as fast as it takes while c is closed, and
// fails t unless Close returns within a minute: for a line whose linger or
// close timeout the caller set far longer, and whose peer (w's end)
// overran its read budget, hang-up must not wait for the flood to end.
func CloseWhileFlooded(t testing.TB, w io.Writer, c io.Closer) {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		b := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close of a flooded line waits for the flood to end")
	}
}

// Flood writes octet c to w in 64 KiB writes until limit octets are
// written or a write fails (the peer hung up), and returns how many were
// written: for a peer that must be hung up at its read budget.
func Flood(w io.Writer, c byte, limit int) (sent int) {
	chunk := bytes.Repeat([]byte{c}, 64<<10)
	for sent < limit {
		n, err := w.Write(chunk[:min(len(chunk), limit-sent)])
		sent += n
		if err != nil {
			break
		}
	}
	return sent
}
