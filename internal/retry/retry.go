// Package retry is the back-off of the loops that accept calls (the
// gateway's listeners, the modem's answerer, gateway dial's --answer):
// an accept that fails for a while (out of descriptors, EMFILE/ENFILE)
// is retried after a delay that doubles from Min to Max, as net/http
// does. It starts over only after Calm without a failure: out of
// descriptors, an accept succeeds each time a call ends and the next one
// fails again, and starting over at every success retried (and logged)
// every few milliseconds.
package retry

import "time"

// The first delay, the largest, and the time without a failure after
// which the delays start over.
const (
	Min  = 5 * time.Millisecond
	Max  = time.Second
	Calm = 5 * time.Second
)

// Accept is the delay before retrying after a failed accept: prev is the
// delay after the previous failure (0 for none), since the time from it.
func Accept(prev, since time.Duration) time.Duration {
	if since >= Calm {
		prev = 0
	}
	return min(max(2*prev, Min), Max)
}

// Backoff follows a loop's failed accepts: Next gives the delay before
// the next retry. The zero value is ready.
type Backoff struct {
	delay  time.Duration
	failed time.Time // the last failure; zero: none
}

// Next records a failure at now and returns the delay before retrying.
func (b *Backoff) Next(now time.Time) time.Duration {
	since := Calm
	if !b.failed.IsZero() {
		since = now.Sub(b.failed)
	}
	b.delay, b.failed = Accept(b.delay, since), now
	return b.delay
}
