package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps the cleanups and errors of
// CheckGoroutines for the test to look at.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(f, a...))
}

func (r *recorder) finish() []string {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.errors
}

func TestCheckGoroutinesPassesWhenGoroutinesEnd(t *testing.T) {
	r := &recorder{TB: t}
	checkGoroutines(r, 5*time.Second)
	done := make(chan struct{})
	go func() { <-done }()
	close(done) // the goroutine ends within the grace period
	if errs := r.finish(); len(errs) > 0 {
		t.Fatalf("no leak, but: %v", errs)
	}
}

func TestCheckGoroutinesReportsLeak(t *testing.T) {
	r := &recorder{TB: t}
	checkGoroutines(r, 50*time.Millisecond)
	stop := make(chan struct{})
	defer close(stop)
	started := make(chan struct{})
	go leakUntil(started, stop)
	<-started
	errs := r.finish()
	if len(errs) != 1 || !strings.Contains(errs[0], "1 goroutine(s) leaked") || !strings.Contains(errs[0], "testutil.leakUntil") {
		t.Fatalf("leak reported as %q", errs)
	}
}

func leakUntil(started, stop chan struct{}) {
	close(started)
	<-stop
}

// TestIgnorable covers the goroutines that are not the test's own,
// among them the one GOOS=js creates for each event from JavaScript
// (the stack as runtime.Stack prints it under js/wasm).
func TestIgnorable(t *testing.T) {
	handleEvent := "goroutine 7 [waiting]:\nruntime.gopark(0x0, 0x0, 0x0, 0x0, 0x1)\n\t/usr/local/go/src/runtime/proc.go:462 +0x24\n" +
		"runtime.handleEvent()\n\t/usr/local/go/src/runtime/lock_js.go:294 +0x25\nruntime.goexit({})\n\t/usr/local/go/src/runtime/asm_wasm.s:428 +0x1"
	callback := "goroutine 9 [chan send]:\ngithub.com/dialgate/dialgate/web/wasm.call.func1()\n\t/x/main.go:90 +0x3\n" +
		"syscall/js.handleEvent()\n\t/usr/local/go/src/syscall/js/func.go:100 +0x3\nruntime.handleEvent()\n\t/usr/local/go/src/runtime/lock_js.go:290 +0x25"
	ours := "goroutine 12 [select]:\ngithub.com/dialgate/dialgate/lapm.(*Link).readLoop(0xc000100000)\n\t/x/link.go:300 +0x3\n" +
		"created by github.com/dialgate/dialgate/lapm.(*Link).start in goroutine 11\n\t/x/link.go:260 +0x3"
	for _, c := range []struct {
		name, stack string
		want        bool
	}{
		{"js event goroutine", handleEvent, true},
		{"js callback into our code", callback, false},
		{"our goroutine", ours, false},
	} {
		if got := ignorable(c.stack); got != c.want {
			t.Errorf("%s: ignorable = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCheckGoroutinesHere runs the check on this process's goroutines
// (natively and, with go_js_wasm_exec, under js/wasm, where the runtime
// starts event goroutines while the test sleeps on timers).
func TestCheckGoroutinesHere(t *testing.T) {
	r := &recorder{TB: t}
	checkGoroutines(r, time.Second)
	time.Sleep(20 * time.Millisecond) // under js/wasm a timer event wakes a handleEvent goroutine
	runtime.Gosched()
	if errs := r.finish(); len(errs) > 0 {
		t.Fatalf("%s/%s: %v", runtime.GOOS, runtime.GOARCH, errs)
	}
}
