//go:build !linux

package main

// hardenProcess does nothing here: core dumps are the system's to limit
// (LimitCORE=0, ulimit -c 0).
func hardenProcess() error { return nil }
