//go:build windows

package main

import "errors"

// stopSelf: a Windows console has no job control to suspend dial to.
func stopSelf() error { return errors.New("a Windows console has no job control") }
