package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// maxHeard bounds what detectTap keeps of the octets read during
// detection: enough for a gateway's last words before it hangs up.
const maxHeard = 64

// detectTap keeps the first octets read from a line during V.42
// detection. A gateway with no free line (or holding off a caller that
// called again too soon) says BUSY and hangs up before any detection
// pattern; lapm.Detect then fails with the line's end and does not give
// back what it read, so the tap is where the BUSY is found.
type detectTap struct {
	transport.Line
	dl    deadliner
	heard []byte
}

// deadliner is the read-deadline ability lapm.Detect needs.
type deadliner interface{ SetReadDeadline(time.Time) error }

func (t *detectTap) Read(p []byte) (int, error) {
	n, err := t.Line.Read(p)
	if room := maxHeard - len(t.heard); room > 0 && n > 0 {
		t.heard = append(t.heard, p[:min(n, room)]...)
	}
	return n, err
}

func (t *detectTap) SetReadDeadline(d time.Time) error { return t.dl.SetReadDeadline(d) }

// heardBusy reports whether the octets a gateway sent before it hung up
// were its BUSY result and nothing else.
func heardBusy(heard []byte) bool {
	return bytes.Equal(bytes.TrimSpace(heard), []byte("BUSY"))
}

// detectV42 runs V.42 detection (ITU-T V.42 clause 8.2) in role on line.
// When the line ends during detection after the gateway said only BUSY,
// the error wraps errBusy; other failures are lapm.Detect's. A line
// without read deadlines is passed to lapm.Detect as it is (it reports
// lapm.ErrNoDeadline).
func detectV42(ctx context.Context, line transport.Line, role lapm.Role) (lapm.DetectResult, []byte, error) {
	dl, ok := line.(deadliner)
	if !ok {
		return lapm.Detect(ctx, line, role)
	}
	tap := &detectTap{Line: line, dl: dl}
	res, leftover, err := lapm.Detect(ctx, tap, role)
	if err != nil && heardBusy(tap.heard) {
		return 0, nil, fmt.Errorf("%w: the gateway answered BUSY and hung up", errBusy)
	}
	return res, leftover, err
}
