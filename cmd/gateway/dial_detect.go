package main

import (
	"context"
	"errors"

	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

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
// when lapm.Detect fails and what it read was that (busyline.Parse), the
// error is a busyError; other failures are lapm.Detect's.
func detectV42(ctx context.Context, line transport.Line, role lapm.Role) (lapm.DetectResult, []byte, error) {
	res, leftover, err := lapm.Detect(ctx, line, role)
	if err != nil {
		if why, ok := busyline.Parse(leftover); ok {
			return 0, nil, &busyError{why: why}
		}
	}
	return res, leftover, err
}
