package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcesses runs every thread of the processes pids on one CPU, the
// first this process may run on, and returns a function that gives them
// this process's CPU set back. Threads they start meanwhile inherit the
// setting (Linux copies a thread's CPU set to the threads and processes
// it creates), so a socat relay that forks per connection is covered by
// pinning its listening process.
//
// The echo phase uses it to measure round trips without cross-CPU
// wake-ups: on a virtual machine whose idle vCPUs halt, a wake-up on the
// other vCPU costs tens of microseconds in the hypervisor, and whether the
// scheduler puts the load client, the relay and the backend on one vCPU or
// spreads them decides most of the round trip (docs/BENCHMARKS.md, "Echo
// latency on this machine"). It fails where this process may use only
// one CPU (nothing to measure) or may not set CPU sets.
func pinProcesses(pids []int) (restore func(), err error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, fmt.Errorf("benchpeer: reading this process's CPU set: %w", err)
	}
	if all.Count() < 2 {
		return nil, errors.New("benchpeer: this process may use only one CPU")
	}
	var one unix.CPUSet
	for c := 0; c < len(all)*64; c++ {
		if all.IsSet(c) {
			one.Set(c)
			break
		}
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
