package callbackd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/transport"
)

// V42Link is what a V.42 callback needs from the LAPM link on the new
// line: the XID exchanges of Access Security phases v and vi, then the data
// phase. *lapm.Link is meant to satisfy it.
type V42Link interface {
	auth.XIDConn
	io.ReadWriteCloser
}

// V42 proves a callback with Access Security phases v CALLBACK and vi
// ACCEPT (auth.PlaceCallback) over a LAPM link (ITU-T V.42 clause 8). The
// gateway is the originator of the new call.
//
// The link is brought up by hooks, so this package stays independent of the
// link's construction (detection mode, parameters, logging are the
// bridge's business):
//
//	Open(ctx, line, job)  detection as originator (unless the address
//	                      skips it) and LAPM parameter negotiation (XID);
//	                      the link is ready for ExchangeXID
//	auth.PlaceCallback    CALLBACK / ACCEPT, which spends the ticket
//	Start(ctx, link, tr)  data phase: sealed payloads (Link.SetTransform)
//	                      and establishment (SABME/UA)
//
// A failure in Open is retried (the ticket is still unspent). Once CALLBACK
// is sent the ticket is spent: a REJECT, a wrong or unauthenticated ACCEPT
// is ErrWrongParty, any other failure ErrNoRetry.
type V42 struct {
	Open  func(ctx context.Context, line transport.Line, job Job) (V42Link, error)
	Start func(ctx context.Context, link V42Link, tr auth.Transform) error
	// Rand and Now are passed to auth.PlaceCallback (nil: crypto/rand,
	// time.Now).
	Rand io.Reader
	Now  func() time.Time
}

// Place implements Placer.
func (v V42) Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
	if v.Open == nil || v.Start == nil {
		return nil, fmt.Errorf("callbackd: V42 placer needs Open and Start: %w", ErrNoRetry)
	}
	if job.Ticket == nil {
		return nil, fmt.Errorf("callbackd: session %d: V.42 callback without a ticket: %w", job.Session, ErrNoRetry)
	}
	if job.Ticket.Spent() {
		// Wiped or used: CALLBACK could not be sent, do not make the
		// user's line go through detection for nothing.
		return nil, fmt.Errorf("callbackd: session %d: %w: %w", job.Session, ErrNoRetry, auth.ErrTicketUsed)
	}
	link, err := v.Open(ctx, line, job)
	if err != nil {
		return nil, fmt.Errorf("callbackd: bringing up LAPM: %w", err)
	}
	tr, err := auth.PlaceCallback(ctx, link, job.Ticket, auth.CallbackConfig{Rand: v.Rand, Now: v.Now})
	if err != nil {
		link.Close()
		switch {
		case errors.Is(err, auth.ErrTicketExpired):
			return nil, err
		case errors.Is(err, auth.ErrAuthFailed), errors.Is(err, auth.ErrTicketMismatch),
			errors.Is(err, auth.ErrMalformed), errors.Is(err, auth.ErrUnexpected):
			return nil, fmt.Errorf("%w: %w", ErrWrongParty, err)
		}
		if _, rejected := auth.RejectReason(err); rejected {
			return nil, fmt.Errorf("%w: %w", ErrWrongParty, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrNoRetry, err)
	}
	if err := v.Start(ctx, link, tr); err != nil {
		// After the Close: Wipe must not run while the link may Open
		// (a lapm.Link that took tr wipes it itself as it closes).
		link.Close()
		auth.Wipe(tr)
		return nil, fmt.Errorf("callbackd: starting the data phase: %w: %w", ErrNoRetry, err)
	}
	return link, nil
}
