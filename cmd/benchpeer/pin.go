package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcesses runs every thread of the processes pids on CPU cpu alone
// and returns a function that lets them run on every CPU again. Threads
// they start meanwhile inherit the setting (Linux copies a thread's CPU
// set to the threads and processes it creates), so a socat relay that
// forks per connection is covered by pinning its listening process.
//
// The echo phase uses it to measure round trips without cross-CPU
// wake-ups: on a virtual machine whose idle vCPUs halt, a wake-up on the
// other vCPU costs tens of microseconds in the hypervisor, and whether the
// scheduler puts the load client, the relay and the backend on one vCPU or
// spreads them decides most of the round trip (docs/BENCHMARKS.md, "Echo
// latency on this machine").
func pinProcesses(pids []int, cpu int) (restore func(), err error) {
	var one, all unix.CPUSet
	one.Set(cpu)
	for c := range runtime.NumCPU() {
		all.Set(c)
	}
	set := func(s *unix.CPUSet) error {
		for _, pid := range pids {
			tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			if err != nil {
				return fmt.Errorf("benchpeer: pinning process %d: %w", pid, err)
			}
			for _, t := range tasks {
				tid, err := strconv.Atoi(t.Name())
				if err != nil {
					continue
				}
				// A thread that ended since the listing is no error.
				if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
					return fmt.Errorf("benchpeer: pinning thread %d of process %d: %w", tid, pid, err)
				}
			}
		}
		return nil
	}
	restore = func() { _ = set(&all) }
	if err := set(&one); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}
