package main

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestContextSwitches: the per-thread sum counts a thread's sleeps (each a
// voluntary context switch), and pid 0 counts nothing.
func TestContextSwitches(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if n := contextSwitches(0); n != 0 {
		t.Errorf("contextSwitches(0) = %d, want 0", n)
	}
	c0 := contextSwitches(os.Getpid())
	for range 5 {
		// A system call that sleeps blocks the thread, not only the
		// goroutine.
		ts := syscall.NsecToTimespec(int64(time.Millisecond))
		_ = syscall.Nanosleep(&ts, nil)
	}
	if d := contextSwitches(os.Getpid()) - c0; d < 5 {
		t.Errorf("5 sleeps counted %d context switches, want at least 5", d)
	}
}

// TestProcessCPU: the per-thread schedstat sum counts the CPU this process
// burns, like getrusage does.
func TestProcessCPU(t *testing.T) {
	if _, err := schedstatCPU(os.Getpid()); err != nil {
		t.Skipf("no schedstat: %v", err)
	}
	s0, _ := processCPU(os.Getpid())
	r0, w0 := selfCPU(), time.Now()
	x := uint64(1)
	for selfCPU()-r0 < 50*time.Millisecond {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	s1, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(w0)
	if d := s1 - s0; d < 40*time.Millisecond || d > wall*time.Duration(runtime.NumCPU())+10*time.Millisecond {
		t.Errorf("schedstat counted %v while getrusage counted %v in %v (x=%d)", d, selfCPU()-r0, wall, x)
	}
}
