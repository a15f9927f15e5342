package callbackd

import "time"

// Backoff is the wait after failed attempt number failed (counting from 1)
// before the next dial: base doubled for every earlier failure, capped at
// max (a max of zero or less means no cap). It is a pure function: the same
// arguments always give the same wait, so schedules can be checked without
// a clock. A base of zero or less gives zero.
func Backoff(base, max time.Duration, failed int) time.Duration {
	if base <= 0 || failed < 1 {
		return 0
	}
	d := base
	for i := 1; i < failed; i++ {
		if d > (1<<62)/2 || (max > 0 && d >= max) {
			break
		}
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	return d
}
