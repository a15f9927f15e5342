package callbackd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// LAPMConfig configures the V42 placer over package lapm (LAPM).
type LAPMConfig struct {
	// SkipDetection starts LAPM from the first octet, for callback
	// addresses whose answerer is set to skip the detection phase (V.42
	// clause 8.2; the default is to detect, as gateway dial --answer and
	// gateway modem expect).
	SkipDetection bool
	// AnswerWait is how long the new call may ring before the answering
	// party answers (default DefaultAnswerWait). An emulated line connects
	// while it still rings (gateway modem shows RING and waits for ATA or
	// S0), so a silent T400 expiry is not taken as "no V.42": detection
	// is started again, with a fresh ODP burst, until the party answers
	// or AnswerWait runs out.
	AnswerWait time.Duration
	// Params and LineRate are passed to lapm.Open.
	Params   lapm.LinkParams
	LineRate int
	// Logger, if set, gives lapm.Open the logger of a job's link: one
	// that names the call (nil from it: silent).
	Logger func(job Job) lapm.Logger
	// Rand and Now are passed to auth.PlaceCallback (nil: crypto/rand,
	// time.Now).
	Rand io.Reader
	Now  func() time.Time
}

// DefaultAnswerWait is LAPMConfig.AnswerWait's default: about ten rings.
const DefaultAnswerWait = 60 * time.Second

// LAPM returns the V42 placer over a lapm.Link: detection as the
// originator of the new call (unless SkipDetection), lapm.Open, then
// phases v/vi, then SetTransform and Establish. The session's Conn is the
// *lapm.Link (its Stats are for the call record).
func LAPM(c LAPMConfig) V42 {
	return V42{
		Rand: c.Rand, Now: c.Now,
		Open: func(ctx context.Context, line transport.Line, job Job) (V42Link, error) {
			var leftover []byte
			if !c.SkipDetection {
				wait := c.AnswerWait
				if wait <= 0 {
					wait = DefaultAnswerWait
				}
				ringing := time.Now().Add(wait)
				var (
					res  lapm.DetectResult
					left []byte
					err  error
				)
				for {
					res, left, err = lapm.Detect(ctx, line, lapm.Originator)
					if err != nil {
						return nil, err
					}
					// A party that has not answered yet sends nothing.
					if res != lapm.DetectTimeout || len(left) > 0 || !time.Now().Before(ringing) {
						break
					}
				}
				if res != lapm.DetectLAPM {
					return nil, fmt.Errorf("callbackd: V.42 detection: the answering party has no LAPM (%v)", res)
				}
				leftover = left
			}
			var logger lapm.Logger
			if c.Logger != nil {
				logger = c.Logger(job)
			}
			link, err := lapm.Open(ctx, line, leftover, lapm.Config{Role: lapm.Originator, Params: c.Params, LineRate: c.LineRate, Logger: logger})
			if err != nil {
				return nil, err
			}
			// After detection the answering party's first frame
			// answered our XID, which followed the line's opening
			// negotiation (and our ODP): its answers to that are in,
			// and one still missing was lost on the way
			// (tcp.Line.ReassertBinary).
			if b, ok := line.(interface{ ReassertBinary() (bool, error) }); ok && !c.SkipDetection {
				_, _ = b.ReassertBinary()
			}
			return link, nil
		},
		Start: func(ctx context.Context, link V42Link, tr auth.Transform) error {
			l, ok := link.(*lapm.Link)
			if !ok {
				return fmt.Errorf("callbackd: link %T is not a lapm.Link", link)
			}
			l.SetTransform(tr)
			return l.Establish(ctx)
		},
	}
}
