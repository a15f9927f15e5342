//go:build !linux

package term

import "errors"

// errNoEchoOff is echoOff's error where it is not available.
var errNoEchoOff = errors.New("term: no echo control on this system")

// echoOff is not available here: ReadPassword writes the prompt and then
// lets golang.org/x/term turn the echo off.
func echoOff(int) (restore func(), err error) { return nil, errNoEchoOff }

// flushInput is not needed here: echoOff fails, and golang.org/x/term
// reads the whole line.
func flushInput(int) {}
