//go:build !linux

package main

import (
	"errors"
	"runtime"
	"syscall"
	"time"
)

// errMeasure is why benchpeer run refuses to start here: its figures are
// read from Linux interfaces (/proc/PID/stat and schedstat for the
// gateway's and the backend's CPU, getrusage, sched_setaffinity for the
// one-CPU echo rows). benchpeer backend runs anywhere.
var errMeasure = errors.New("benchpeer: run: the measurements need Linux (/proc, getrusage, sched_setaffinity), not " + runtime.GOOS)

// selfCPU is not measured here (benchpeer run stops at errMeasure).
func selfCPU() time.Duration { return 0 }

// kernelName is only the system's name here.
func kernelName() string { return runtime.GOOS }

// childAttr: no parent-death signal outside Linux.
func childAttr() *syscall.SysProcAttr { return nil }

// pinProcesses: CPU sets are not set here.
func pinProcesses([]int) (restore func(), err error) {
	return nil, errors.New("benchpeer: CPU pinning needs Linux (sched_setaffinity), not " + runtime.GOOS)
}
