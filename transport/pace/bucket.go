package pace

import "time"

// maxReserve bounds the characters one Reserve call accounts for at once,
// so that the arithmetic in units of 1/bitsPerSecond nanoseconds cannot
// overflow.
const maxReserve = 1 << 24

// Bounds on a bucket's parameters that keep its int64 arithmetic exact:
// maxReserve x MaxBitsPerChar x 1e9 plus a remainder below
// MaxBitsPerSecond stays under 2^63.
const (
	MaxBitsPerSecond = 1_000_000_000_000 // 1 Tbit/s
	MaxBitsPerChar   = 64
)

// Bucket is a token bucket that paces characters on a serial line, written
// as a pure function of time: the caller passes now and sleeps for the
// returned wait. Its capacity is a small burst of characters; over time it
// admits exactly bitsPerSecond/bitsPerChar characters per second (the
// bookkeeping keeps sub-nanosecond remainders, so there is no drift).
//
// It is the generic cell rate algorithm: tat is the moment the simulated
// wire would finish sending everything admitted so far, and characters may
// go once tat, including them, is no more than one burst ahead of now.
// A Bucket is not safe for concurrent use.
type Bucket struct {
	bps   int64     // bits per second
	bpc   int64     // bits per character
	burst int       // characters
	tat   time.Time // theoretical arrival time: the wire is free then
	frac  int64     // remainder of tat in units of 1/bps ns, [0, bps)
}

// NewBucket returns a bucket for a line of bitsPerSecond, with characters
// of bitsPerChar bits (10 when not positive), that lets up to burst
// characters go at once (DefaultBurst when not positive). A bitsPerSecond
// below 1 is taken as 1; values above MaxBitsPerSecond and MaxBitsPerChar
// are taken as those.
func NewBucket(bitsPerSecond, bitsPerChar, burst int) *Bucket {
	if bitsPerChar <= 0 {
		bitsPerChar = 10
	}
	bitsPerSecond = min(max(bitsPerSecond, 1), MaxBitsPerSecond)
	bitsPerChar = min(bitsPerChar, MaxBitsPerChar)
	b := &Bucket{bps: int64(bitsPerSecond), bpc: int64(bitsPerChar)}
	if burst <= 0 {
		burst = DefaultBurst(bitsPerSecond, bitsPerChar)
	}
	b.burst = min(burst, maxReserve)
	return b
}

// DefaultBurst is the burst a bucket allows when none is given: the
// characters of 20 ms on the line, at least one. A bitsPerChar that is not
// positive means 10.
func DefaultBurst(bitsPerSecond, bitsPerChar int) int {
	if bitsPerChar <= 0 {
		bitsPerChar = 10
	}
	return max(1, bitsPerSecond/bitsPerChar/50)
}

// ceilDiv returns a/b rounded towards positive infinity, for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b > 0 {
		q++
	}
	return q
}

// Burst returns the largest number of characters the bucket lets go at once.
func (b *Bucket) Burst() int { return b.burst }

// Reserve admits n characters at the earliest moment at or after now that
// the rate allows and returns how long the caller must wait before sending
// them. Successive reservations queue behind each other; a reservation of
// more than Burst characters waits for the surplus.
func (b *Bucket) Reserve(now time.Time, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	if b.tat.Before(now) {
		// The wire has been idle: the bucket is full again.
		b.tat, b.frac = now, 0
	}
	for n > 0 {
		k := min(n, maxReserve)
		n -= k
		u := b.frac + int64(k)*b.bpc*1e9
		b.tat = b.tat.Add(time.Duration(u / b.bps))
		b.frac = u % b.bps
	}
	// The characters may go one burst before the wire is free; in units of
	// 1/bps ns relative to tat, that is frac - burst*bpc*1e9, rounded up to
	// the nanosecond.
	send := b.tat.Add(time.Duration(ceilDiv(b.frac-int64(b.burst)*b.bpc*1e9, b.bps)))
	return max(send.Sub(now), 0)
}
