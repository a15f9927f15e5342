package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// heardBusy reports whether the octets a gateway sent before it hung up
// were its BUSY result and nothing else.
func heardBusy(heard []byte) bool {
	return bytes.Equal(bytes.TrimSpace(heard), []byte("BUSY"))
}

// detectV42 runs V.42 detection (ITU-T V.42 clause 8.2) in role on line.
// A gateway with no free line (or holding off a caller that called again
// too soon) says BUSY and hangs up before any detection pattern: when
// lapm.Detect fails and what it read was only BUSY, the error wraps
// errBusy; other failures are lapm.Detect's.
func detectV42(ctx context.Context, line transport.Line, role lapm.Role) (lapm.DetectResult, []byte, error) {
	res, leftover, err := lapm.Detect(ctx, line, role)
	if err != nil && heardBusy(leftover) {
		return 0, nil, fmt.Errorf("%w: the gateway answered BUSY and hung up", errBusy)
	}
	return res, leftover, err
}
