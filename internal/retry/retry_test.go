package retry

import (
	"testing"
	"time"
)

// TestBackoff: the delays double from Min to Max while failures follow
// one another, and start over after Calm without one.
func TestBackoff(t *testing.T) {
	var b Backoff
	now := time.Unix(1000, 0)
	var got []time.Duration
	for range 10 {
		d := b.Next(now)
		got = append(got, d)
		now = now.Add(d)
	}
	if got[0] != Min || got[1] != 2*Min || got[9] != Max {
		t.Errorf("delays %v", got)
	}
	if d := b.Next(now.Add(Calm)); d != Min {
		t.Errorf("after %v of calm: %v, want %v", Calm, d, Min)
	}
}
