package pace

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBucketBurstThenRate(t *testing.T) {
	// 2400 bit/s, 10 bits per character: 240 characters per second,
	// 4,166,666.67 ns each; burst of 4.
	b := NewBucket(2400, 10, 4)
	if d := b.Reserve(t0, 4); d != 0 {
		t.Fatalf("first burst waits %v", d)
	}
	// The next character must wait until one character time has passed
	// (the bucket refills one token per character time).
	if d := b.Reserve(t0, 1); d != 4166667 {
		t.Fatalf("fifth character waits %v, want 4.166667ms", d)
	}
	if d := b.Reserve(t0, 4); d != 5*4166667-1 { // 20,833,333.3 ns rounded up
		t.Fatalf("next burst waits %v", d)
	}
}

func TestBucketIdleRefillsOnlyToBurst(t *testing.T) {
	b := NewBucket(2400, 10, 4)
	b.Reserve(t0, 4)
	later := t0.Add(time.Hour)
	if d := b.Reserve(later, 4); d != 0 {
		t.Fatalf("burst after idling waits %v", d)
	}
	if d := b.Reserve(later, 1); d != 4166667 {
		t.Fatalf("idle time was banked beyond the burst: wait %v", d)
	}
}

func TestBucketLargeReservationWaitsForSurplus(t *testing.T) {
	b := NewBucket(8000, 8, 10) // 1000 characters per second
	if d := b.Reserve(t0, 110); d != 100*time.Millisecond {
		t.Fatalf("110 characters with burst 10 wait %v, want 100ms", d)
	}
	if d := b.Reserve(t0, 0); d != 0 {
		t.Fatalf("zero characters wait %v", d)
	}
}

// TestBucketExactOverTime drives a sender that always sends a burst as soon
// as allowed, for ten simulated seconds, and counts what went out.
func TestBucketExactOverTime(t *testing.T) {
	for _, tc := range []struct{ bps, bpc int }{{2400, 10}, {33600, 10}, {300, 10}, {33600, 8}, {1200, 7}} {
		b := NewBucket(tc.bps, tc.bpc, 0)
		now, sent := t0, 0
		end := t0.Add(10 * time.Second)
		for {
			send := now.Add(b.Reserve(now, b.Burst()))
			if send.After(end) {
				break
			}
			now = send
			sent += b.Burst()
		}
		// Ten seconds of characters plus the initial burst, to within
		// one burst of rounding at the end.
		want := 10*tc.bps/tc.bpc + b.Burst()
		if sent > want || sent <= want-b.Burst() {
			t.Errorf("%d bit/s, %d bits/char: %d characters in 10 s, want %d (burst %d)", tc.bps, tc.bpc, sent, want, b.Burst())
		}
	}
}

func TestBucketNoDrift(t *testing.T) {
	// 33,600 bit/s at 10 bits: 297,619.047... ns per character, not a
	// whole number. A million single characters must end exactly on time.
	b := NewBucket(33600, 10, 1)
	now := t0
	for range 1_000_000 {
		now = now.Add(b.Reserve(now, 1))
	}
	// Character k goes at k * 10 / 33600 s; the last one at
	// 999999 * 10 / 33600 s = 297.61875 s exactly.
	want := t0.Add(297618750000)
	if d := now.Sub(want); d != 0 {
		t.Fatalf("released at %v, want %v (off by %v)", now.Sub(t0), want.Sub(t0), d)
	}
}

func TestDefaultBurst(t *testing.T) {
	for _, tc := range []struct{ bps, bpc, want int }{{2400, 10, 4}, {33600, 10, 67}, {300, 10, 1}, {115200, 10, 230}, {9600, 0, 19}, {9600, -1, 19}} {
		if got := DefaultBurst(tc.bps, tc.bpc); got != tc.want {
			t.Errorf("DefaultBurst(%d, %d) = %d, want %d", tc.bps, tc.bpc, got, tc.want)
		}
	}
}

// BenchmarkReserve measures the pacer's bookkeeping per burst.
func BenchmarkReserve(b *testing.B) {
	bk := NewBucket(33600, 10, 0)
	now := t0
	for b.Loop() {
		now = now.Add(bk.Reserve(now, bk.Burst()))
	}
}

// TestBucketExtremeRates: absurd rates and character sizes from a
// configuration file must not overflow the bookkeeping: the simulated
// wire never runs backwards and waits are never negative.
func TestBucketExtremeRates(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for _, c := range []struct{ bps, bpc int }{
		{math.MaxInt, math.MaxInt}, {1, math.MaxInt}, {math.MaxInt, 10}, {math.MaxInt64 / 3, 64}, {1 << 40, 1 << 20},
	} {
		b := NewBucket(c.bps, c.bpc, 0)
		prev := b.tat
		for i := range 4 {
			w := b.Reserve(now, maxReserve)
			if w < 0 || b.tat.Before(prev) || b.frac < 0 {
				t.Fatalf("rate %d bit/s, %d bits per char, reservation %d: wait %v, wire time went from %v to %v", c.bps, c.bpc, i, w, prev, b.tat)
			}
			prev = b.tat
		}
	}
}
