package linesim

import (
	"math"
	"math/rand/v2"
)

// never is the position of an event that never happens.
const never = math.MaxInt64

// Random stream identifiers: each impairment of each direction draws from its
// own stream, so that enabling one does not move the events of another.
const (
	streamBER uint64 = iota + 1
	streamDrop
	streamDup
	streamBurst
)

// geometric draws the number of failures before the first success of a
// Bernoulli process with success probability p; p <= 0 never succeeds.
type geometric struct {
	r    *rand.Rand
	p    float64
	logq float64 // log(1-p)
}

func newGeometric(r *rand.Rand, p float64) geometric {
	return geometric{r: r, p: p, logq: math.Log1p(-p)}
}

// draw returns the gap to the next event; never when p is 0.
func (g *geometric) draw() int64 {
	switch {
	case g.p <= 0:
		return never
	case g.p >= 1:
		return 0
	}
	u := 1 - g.r.Float64() // (0, 1]
	k := math.Log(u) / g.logq
	if k >= 1<<62 {
		return never
	}
	return int64(k)
}

// events walks the positions of a Bernoulli process: next is the position of
// the next event, advanced by geometric skips.
type events struct {
	g    geometric
	next int64
}

func newEvents(r *rand.Rand, p float64) events {
	e := events{g: newGeometric(r, p)}
	e.next = e.g.draw()
	return e
}

// advance moves to the event after the current one.
func (e *events) advance() {
	if e.next == never {
		return
	}
	d := e.g.draw()
	if d >= never-e.next-1 {
		e.next = never
		return
	}
	e.next += 1 + d
}

// impairer applies the position-based impairments of one direction: bit
// errors, burst noise, drops and duplicates. Its decisions depend only on
// the seed and on stream positions (bits and octets sent so far).
type impairer struct {
	ber, drop, dup events // ber counts bits, drop and dup count octets

	bursts               bool
	burstGap, burstLen   geometric
	burstR               *rand.Rand
	burstStart, burstEnd int64 // current or next burst, octets [start, end)

	pos   int64 // octets processed
	stats Stats
}

// Stats counts what one direction of a line did to the octets sent on it.
type Stats struct {
	Sent         int64 // octets accepted by Write
	Delivered    int64 // octets queued for the reader, duplicates included
	BitsFlipped  int64 // bit errors (BitErrorRate)
	Garbled      int64 // octets garbled by burst noise
	Dropped      int64 // octets dropped (DropRate), outages not included
	Duplicated   int64 // octets delivered twice (DupRate)
	LostInOutage int64 // octets lost to outages
}

func newImpairer(seed int64, dir uint64, im *Impairments) *impairer {
	stream := func(id uint64) *rand.Rand {
		return rand.New(rand.NewPCG(uint64(seed), dir<<8|id))
	}
	z := &impairer{
		ber:  newEvents(stream(streamBER), im.BitErrorRate),
		drop: newEvents(stream(streamDrop), im.DropRate),
		dup:  newEvents(stream(streamDup), im.DupRate),
	}
	if im.Bursts.MeanInterval > 0 {
		z.bursts = true
		z.burstR = stream(streamBurst)
		z.burstGap = newGeometric(z.burstR, 1/float64(im.Bursts.MeanInterval+1))
		z.burstLen = newGeometric(z.burstR, 1/float64(max(im.Bursts.MeanLength, 1)))
		z.burstEnd = 0
		z.nextBurst()
	}
	return z
}

// nextBurst schedules the burst after the one ending at burstEnd.
func (z *impairer) nextBurst() {
	gap := z.burstGap.draw()
	n := 1 + z.burstLen.draw()
	if gap >= never/4 || n >= never/4 || z.burstEnd >= never/4 {
		z.burstStart, z.burstEnd = never, never
		return
	}
	z.burstStart = z.burstEnd + gap
	z.burstEnd = z.burstStart + n
}

// apply impairs the octets in, which occupy the next len(in) positions of
// the stream, appends the octets to deliver to dst and returns it. lost, if
// not nil, marks octets lost to an outage (index into in); those still
// consume their stream positions.
func (z *impairer) apply(dst, in []byte, lost []bool) (res []byte) {
	base, n := z.pos, int64(len(in))
	end := base + n
	z.pos = end
	z.stats.Sent += n
	at := len(dst)
	defer func() { z.stats.Delivered += int64(len(res) - at) }()
	dst = append(dst, in...)
	buf := dst[at:]

	// Bit errors: flip the bits the geometric skips land on; bits are
	// numbered from the least significant bit of each octet, the order
	// in which a serial line sends them.
	for bitEnd := end * 8; z.ber.next < bitEnd; z.ber.advance() {
		b := z.ber.next - base*8
		buf[b>>3] ^= 1 << (b & 7)
		z.stats.BitsFlipped++
	}

	// Burst noise: replace each octet of a burst with a different value.
	if z.bursts {
		for z.burstStart < end {
			lo, hi := max(z.burstStart, base), min(z.burstEnd, end)
			z.stats.Garbled += max(hi-lo, 0)
			for i := lo; i < hi; i++ {
				buf[i-base] ^= byte(1 + z.burstR.IntN(255))
			}
			if z.burstEnd > end {
				break
			}
			z.nextBurst()
		}
	}

	if lost == nil && z.drop.next >= end && z.dup.next >= end {
		return dst
	}

	if lost == nil && z.dup.next >= end {
		// Drops only: compact in place.
		w := int64(0)
		j := int64(0)
		for ; z.drop.next < end; z.drop.advance() {
			k := z.drop.next - base
			z.stats.Dropped++
			w += int64(copy(buf[w:], buf[j:k]))
			j = k + 1
		}
		w += int64(copy(buf[w:], buf[j:]))
		return dst[:at+int(w)]
	}

	// Duplicates and outages: rebuild the output.
	out := make([]byte, 0, len(buf)+8)
	if lost == nil {
		j := int64(0)
		for {
			e := min(z.drop.next, z.dup.next)
			if e >= end {
				break
			}
			k := e - base
			out = append(out, buf[j:k]...)
			j = k + 1
			if z.drop.next == e {
				z.stats.Dropped++
				z.drop.advance()
				if z.dup.next == e {
					z.dup.advance()
				}
				continue
			}
			z.stats.Duplicated++
			z.dup.advance()
			out = append(out, buf[k], buf[k])
		}
		out = append(out, buf[j:]...)
	} else {
		for k := range n {
			p := base + k
			drop, dup := false, false
			if z.drop.next == p {
				drop = true
				z.drop.advance()
			}
			if z.dup.next == p {
				dup = true
				z.dup.advance()
			}
			switch {
			case lost[k]:
				z.stats.LostInOutage++
				continue
			case drop:
				z.stats.Dropped++
				continue
			}
			out = append(out, buf[k])
			if dup {
				z.stats.Duplicated++
				out = append(out, buf[k])
			}
		}
	}
	if at == 0 {
		return out
	}
	return append(dst[:at], out...)
}
