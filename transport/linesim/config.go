package linesim

import (
	"fmt"
	"math"
	"time"
)

// DefaultBuffer is the per-direction buffer, in octets, of a pair whose
// Config.Buffer is zero.
const DefaultBuffer = 64 << 10

// MaxBuffer is the largest per-direction buffer a pair accepts.
const MaxBuffer = 16 << 20

// MaxBitsPerChar is the largest character length a pair accepts.
const MaxBitsPerChar = 64

// DefaultBitsPerChar is the character length on a start-stop line: one start
// bit, eight data bits, one stop bit: the 10-unit start-stop character
// that ITU-T V.14 carries and ISO 1177 structures.
const DefaultBitsPerChar = 10

// Clock supplies time to a line. The zero Config uses the time package,
// which inside a testing/synctest bubble is fake time.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has elapsed, and a
	// function that stops the timer (reporting whether it was still
	// pending).
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// SystemClock is the Clock of the time package.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Bursts describes burst noise: runs of consecutive octets that are garbled
// (each replaced by a different, random value). Intervals and lengths are
// counted in octets sent, so bursts hit the same octets whatever the timing.
type Bursts struct {
	// MeanInterval is the mean number of octets from the end of one burst
	// to the start of the next (geometrically distributed). Zero disables
	// burst noise.
	MeanInterval int
	// MeanLength is the mean number of octets a burst garbles
	// (geometrically distributed, at least one). Zero means 1.
	MeanLength int
}

// Outage is a window of time, relative to the creation of the pair, during
// which everything sent is lost: [Start, End).
type Outage struct {
	Start, End time.Duration
}

// Impairments configures one direction of a line. The zero value is a
// perfect line: no errors, no delay, no rate cap.
type Impairments struct {
	// BitErrorRate is the probability that any one bit is flipped, in [0, 1].
	BitErrorRate float64
	// DropRate is the probability that an octet is lost, in [0, 1].
	DropRate float64
	// DupRate is the probability that an octet is delivered twice, in [0, 1].
	DupRate float64
	// Bursts adds burst noise.
	Bursts Bursts
	// Latency is the fixed one-way delay of every octet.
	Latency time.Duration
	// Outages lists windows, relative to the creation of the pair, in
	// which every octet put on the wire is lost.
	Outages []Outage
	// OutageFunc, if set, reports whether the line is out at the given
	// time since the creation of the pair; octets sent while it returns
	// true are lost. It is called with the line's lock held and must not
	// call back into the line.
	OutageFunc func(sinceCreation time.Duration) bool
	// BitRate caps the throughput in bits per second; zero means
	// unlimited. Each octet occupies BitsPerChar bits on the wire.
	BitRate int
	// BitsPerChar is the number of bits one octet occupies on the wire
	// when BitRate is set: 10 (DefaultBitsPerChar) for start-stop
	// characters when zero, 8 for a synchronous bit pipe.
	BitsPerChar int
}

// Config configures a pair of lines.
type Config struct {
	// Impairments applies to both directions unless AtoB or BtoA is set.
	Impairments
	// AtoB and BtoA, if set, replace Impairments for the direction from
	// line a to line b and from b to a.
	AtoB, BtoA *Impairments
	// Seed seeds every random decision. Zero picks a random seed and
	// reports it through Logf.
	Seed int64
	// Buffer is the number of octets each direction holds before Write
	// blocks (DefaultBuffer when zero, at most MaxBuffer).
	Buffer int
	// Clock supplies time; nil means SystemClock.
	Clock Clock
	// Logf, if set, receives the seed in use and configuration warnings.
	Logf func(format string, args ...any)
	// Name names the pair in Info().LocalAddr and RemoteAddr ("sim" when
	// empty): line a is Name+"/a", line b is Name+"/b".
	Name string
}

// Validate reports the first out-of-range value in the configuration.
// NewPair does not fail: it clamps such values into range and logs a
// warning through Logf.
func (c *Config) Validate() error {
	for _, d := range []struct {
		name string
		im   *Impairments
	}{{"", &c.Impairments}, {"AtoB.", c.AtoB}, {"BtoA.", c.BtoA}} {
		if d.im == nil {
			continue
		}
		if err := d.im.validate(d.name); err != nil {
			return err
		}
	}
	if c.Buffer < 0 || c.Buffer > MaxBuffer {
		return fmt.Errorf("linesim: Buffer %d out of range [0, %d]", c.Buffer, MaxBuffer)
	}
	return nil
}

func (im *Impairments) validate(prefix string) error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"BitErrorRate", im.BitErrorRate}, {"DropRate", im.DropRate}, {"DupRate", im.DupRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("linesim: %s%s %v is not a probability in [0, 1]", prefix, r.name, r.v)
		}
	}
	if im.Bursts.MeanInterval < 0 || im.Bursts.MeanLength < 0 {
		return fmt.Errorf("linesim: %sBursts %+v has a negative mean", prefix, im.Bursts)
	}
	if im.Latency < 0 {
		return fmt.Errorf("linesim: %sLatency %v is negative", prefix, im.Latency)
	}
	if im.BitRate < 0 || im.BitsPerChar < 0 || im.BitsPerChar > MaxBitsPerChar {
		return fmt.Errorf("linesim: %sBitRate %d / BitsPerChar %d out of range (BitsPerChar at most %d)", prefix, im.BitRate, im.BitsPerChar, MaxBitsPerChar)
	}
	for _, o := range im.Outages {
		if o.End < o.Start {
			return fmt.Errorf("linesim: %soutage %v..%v ends before it starts", prefix, o.Start, o.End)
		}
	}
	return nil
}

// clamped returns a copy of im with every value forced into range.
func (im Impairments) clamped() Impairments {
	clampP := func(p float64) float64 {
		if math.IsNaN(p) || p < 0 {
			return 0
		}
		return math.Min(p, 1)
	}
	im.BitErrorRate = clampP(im.BitErrorRate)
	im.DropRate = clampP(im.DropRate)
	im.DupRate = clampP(im.DupRate)
	im.Bursts.MeanInterval = max(im.Bursts.MeanInterval, 0)
	im.Bursts.MeanLength = max(im.Bursts.MeanLength, 0)
	im.Latency = max(im.Latency, 0)
	im.BitRate = max(im.BitRate, 0)
	if im.BitsPerChar <= 0 {
		im.BitsPerChar = DefaultBitsPerChar
	}
	im.BitsPerChar = min(im.BitsPerChar, MaxBitsPerChar)
	outs := make([]Outage, 0, len(im.Outages))
	for _, o := range im.Outages {
		if o.End > o.Start {
			outs = append(outs, o)
		}
	}
	im.Outages = outs
	return im
}
