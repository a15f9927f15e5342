package main

import (
	"syscall"
	"time"
)

// errMeasure is nil: the run's measurements (/proc, getrusage,
// sched_setaffinity, prctl's parent-death signal) are Linux interfaces.
var errMeasure error

// selfCPU is the CPU time this process has used, user and system
// (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kernelName is the kernel's name and release, "Linux 6.1.0", for the
// machine line.
func kernelName() string {
	var un syscall.Utsname
	_ = syscall.Uname(&un)
	return utsString(un.Sysname[:]) + " " + utsString(un.Release[:])
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// childAttr makes a process the run starts die with it (SIGKILL when
// this process ends), so that no backend or relay outlives a killed run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
