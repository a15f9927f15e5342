package main

import (
	"bytes"
	"context"
	"errors"

	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// What a gateway may say before its BUSY result line for dial and modem
// to count the call busy (bridge/call.go busyMessage): the reason in at
// most maxBusyLines lines of printable ASCII, each at most
// maxBusyLineLen octets, maxBusyHeard octets in all. Anything longer or
// stranger is not a BUSY; a hostile gateway cannot make the callers
// print control characters or keep more than maxBusyHeard octets.
const (
	maxBusyLines   = 2
	maxBusyLineLen = 120
	maxBusyHeard   = 256
)

// heardBusy reports whether the octets a gateway sent before it hung up
// were its BUSY result: BUSY alone on the last line, preceded by
// nothing, or by at most maxBusyLines short printable lines (the
// gateway's reason: "\r\ndialgate: redialled too soon; try again in 2
// s\r\nBUSY\r\n"). Blank lines and blanks around the words do not count.
// why is the reason's lines joined by a space, "" for a bare BUSY.
func heardBusy(heard []byte) (why string, ok bool) {
	if len(heard) > maxBusyHeard {
		return "", false
	}
	var lines [maxBusyLines + 1][]byte
	n := 0
	for rest := heard; len(rest) > 0; {
		line := rest
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if line = bytes.Trim(line, " \t\v\f"); len(line) == 0 {
			continue
		}
		if n == len(lines) {
			return "", false
		}
		lines[n] = line
		n++
	}
	if n == 0 || string(lines[n-1]) != "BUSY" {
		return "", false
	}
	for _, l := range lines[:n-1] {
		if len(l) > maxBusyLineLen || !printableASCII(l) {
			return "", false
		}
	}
	return string(bytes.Join(lines[:n-1], []byte(" "))), true
}

// printableASCII reports whether b is all printable ASCII (space to ~).
func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// busyError is the gateway's BUSY with the reason it gave before it (""
// for a bare BUSY). It wraps errBusy.
type busyError struct{ why string }

func (e *busyError) Error() string {
	if e.why == "" {
		return "busy: the gateway answered BUSY and hung up"
	}
	return "busy: the gateway answered BUSY and hung up (" + e.why + ")"
}

func (e *busyError) Unwrap() error { return errBusy }

// busyReason is the reason a gateway gave with its BUSY, if err is a
// busyError with one; else "".
func busyReason(err error) string {
	if be := (*busyError)(nil); errors.As(err, &be) {
		return be.why
	}
	return ""
}

// detectV42 runs V.42 detection (ITU-T V.42 clause 8.2) in role on line.
// A gateway with no free line (or holding off a caller that called again
// too soon) says why and BUSY and hangs up before any detection pattern:
// when lapm.Detect fails and what it read was that (heardBusy), the
// error is a busyError; other failures are lapm.Detect's.
func detectV42(ctx context.Context, line transport.Line, role lapm.Role) (lapm.DetectResult, []byte, error) {
	res, leftover, err := lapm.Detect(ctx, line, role)
	if err != nil {
		if why, ok := heardBusy(leftover); ok {
			return 0, nil, &busyError{why: why}
		}
	}
	return res, leftover, err
}
