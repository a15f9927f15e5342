package main

import (
	"context"
	"fmt"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// dialLinkParams is what gateway dial (and gateway modem) offers in the
// LAPM parameter negotiation (V.42 §8.10): larger frames and window than
// the defaults, and FCS-32. Not SREJ: its lines (TCP, WebSocket) deliver
// in order and lose nothing, REJ recovers what a damaged frame would
// need, and selective reject would hold the window at 64
// (lapm.MaxKSREJ), about a tenth less bulk throughput
// (docs/BENCHMARKS.md). The gateway answers with what it accepts.
var dialLinkParams = lapm.LinkParams{N401: lapm.MaxN401, K: 127, FCS32: true}

func init() {
	lapmOpen = func(ctx context.Context, line transport.Line, leftover []byte, role lapm.Role) (v42Link, error) {
		return lapm.Open(ctx, line, leftover, lapm.Config{Role: role, Params: dialLinkParams})
	}
	lapmStart = func(ctx context.Context, link v42Link, tr auth.Transform) error {
		l, ok := link.(*lapm.Link)
		if !ok {
			return fmt.Errorf("gateway dial: link %T is not a lapm.Link", link)
		}
		if tr != nil {
			l.SetTransform(tr)
		}
		return l.Establish(ctx)
	}
}
