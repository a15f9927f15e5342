package linesim

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// ErrPeerHungUp is returned by Write when the peer has hung up; octets not
// yet read by the peer are discarded. It wraps transport.ErrHungUp: the
// line is hung up, whichever end did it (errors.Is(err, ErrPeerHungUp)
// tells that it was the peer).
var ErrPeerHungUp = fmt.Errorf("linesim: peer hung up: %w", transport.ErrHungUp)

// Direction identifiers, mixed into the seed of each direction.
const (
	dirAtoB uint64 = 1
	dirBtoA uint64 = 2
)

// Line is one end of a simulated line. It implements transport.Line and
// transport.Deadliner; see the package documentation for its contract.
type Line struct {
	in, out   *pipe
	info      transport.LineInfo
	closeOnce sync.Once
	seed      int64
}

var (
	_ transport.Line      = (*Line)(nil)
	_ transport.Deadliner = (*Line)(nil)
)

// NewPair returns the two ends of a new simulated line. Octets written to a
// are read from b and the other way round. Out-of-range configuration values
// are clamped into range and reported through cfg.Logf (see Validate).
func NewPair(cfg Config) (a, b *Line) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := cfg.Validate(); err != nil {
		logf("%v (clamped)", err)
	}
	name := cfg.Name
	if name == "" {
		name = "sim"
	}
	seed := cfg.Seed
	if seed == 0 {
		for seed == 0 {
			seed = rand.Int64()
		}
		logf("linesim: pair %s: random seed %d (set Config.Seed to reproduce)", name, seed)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	limit := cfg.Buffer
	if limit <= 0 {
		limit = DefaultBuffer
	}
	limit = min(limit, MaxBuffer)
	ab, ba := cfg.Impairments, cfg.Impairments
	if cfg.AtoB != nil {
		ab = *cfg.AtoB
	}
	if cfg.BtoA != nil {
		ba = *cfg.BtoA
	}
	now := clock.Now()
	pab := newPipe(clock, now, ab.clamped(), seed, dirAtoB, limit)
	pba := newPipe(clock, now, ba.clamped(), seed, dirBtoA, limit)
	a = &Line{in: pba, out: pab, seed: seed, info: transport.LineInfo{
		Transport: "sim", LocalAddr: name + "/a", RemoteAddr: name + "/b",
	}}
	b = &Line{in: pab, out: pba, seed: seed, info: transport.LineInfo{
		Transport: "sim", LocalAddr: name + "/b", RemoteAddr: name + "/a",
	}}
	return a, b
}

// Read reads octets that have arrived from the peer. It blocks until at
// least one octet has arrived, the peer hangs up (io.EOF once everything it
// sent has been read), the line is closed (transport.ErrHungUp) or the read
// deadline passes (an error wrapping os.ErrDeadlineExceeded).
func (l *Line) Read(p []byte) (int, error) { return l.in.read(p) }

// Write sends p to the peer, impaired as configured. It blocks while the
// peer's buffer is full. It returns transport.ErrHungUp after Close,
// ErrPeerHungUp after the peer's Close and an error wrapping
// os.ErrDeadlineExceeded when the write deadline passes; n counts the octets
// accepted before that.
func (l *Line) Write(p []byte) (int, error) { return l.out.write(p) }

// Close hangs up. Octets already written stay deliverable: the peer reads
// them, then io.EOF. Close never blocks and is idempotent.
func (l *Line) Close() error {
	l.closeOnce.Do(func() {
		l.out.closeWriter()
		l.in.closeReader()
	})
	return nil
}

// Info describes the line: Transport "sim" and the pair's name.
func (l *Line) Info() transport.LineInfo { return l.info }

// Seed returns the seed the pair uses (the random one when Config.Seed was
// zero).
func (l *Line) Seed() int64 { return l.seed }

// SentStats counts what the line did to the octets this end has sent so
// far (the direction towards the peer).
func (l *Line) SentStats() Stats { return l.out.statistics() }

// SetReadDeadline sets the time after which Read fails with an error
// wrapping os.ErrDeadlineExceeded; the zero time means no deadline.
func (l *Line) SetReadDeadline(t time.Time) error {
	l.in.setReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the time after which a blocked Write fails with an
// error wrapping os.ErrDeadlineExceeded; the zero time means no deadline.
func (l *Line) SetWriteDeadline(t time.Time) error {
	l.out.setWriteDeadline(t)
	return nil
}
