package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/modem"
	"github.com/dialgate/dialgate/transport"
)

// newModemDialer returns the dialer ATD uses. Plain telnet-modem calls go
// through modem.PlainDialer. The V.42 path (detection, LAPM, Access
// Security) belongs to `gateway dial`; until its caller-side function is
// available here, "auto" entries are called plainly and "v42" entries are
// refused with an explanation.
func newModemDialer(f modemFlags, log *zap.Logger) modem.Dialer {
	plain := modem.PlainDialer{Rate: f.baud}
	return modem.DialerFunc(func(ctx context.Context, t modem.Target) (modem.Call, error) {
		if t.Mode == modem.ModeV42 {
			log.Warn("V.42 dialing is not wired into gateway modem yet", zap.String("target", t.String()))
		}
		return plain.Dial(ctx, t)
	})
}

// modemCallbackVerifier returns the verification for incoming calls; nil
// answers plainly (text-mode callbacks, where the gateway asks the user to
// confirm). The V.42 CALLBACK ticket check needs the ticket from the V.42
// dial path (see newModemDialer).
func modemCallbackVerifier(modemFlags, *zap.Logger) func(context.Context, transport.Line) (modem.Call, error) {
	return nil
}
