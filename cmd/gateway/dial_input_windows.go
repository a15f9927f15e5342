package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// ctrlZIsEOF reports whether f (nil: stdin is no terminal) is a Windows
// console, whose reads in Go return io.EOF for a Ctrl-Z typed
// (afterStdinError).
func ctrlZIsEOF(f *os.File) bool {
	if f == nil {
		return false
	}
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}
