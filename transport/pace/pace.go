// Package pace makes any transport.Line behave like a serial line of a given
// speed, so an operator can have a TCP or WebSocket line carry data at
// 2400 or 33,600 bit/s as a modem connection would (33,600 bit/s is the top
// rate of an ITU-T V.34 modem). On a start-stop line each character takes
// 10 bits: start bit, 8 data bits, stop bit (the start-stop character that
// ITU-T V.14 carries over a synchronous modem).
//
// Writes are paced by a token bucket (Bucket) with a small burst (20 ms of
// characters by default), exact over time; reads can be paced too
// (Config.PaceReads), which holds back what arrives faster than the line
// rate and lets the underlying transport's flow control slow the sender.
//
// # Optional interfaces
//
// The wrapper always implements Unwrap, which returns the wrapped line, and
// forwards these optional interfaces of package transport:
// WindowNotifier, EventNotifier, EchoController, Breaker and Deadliner.
// When the wrapped line lacks one, WindowChanges and Events return nil (a
// nil channel: no notifications ever), and SetServerEcho, SendBreak and the
// deadline setters return an error wrapping errors.ErrUnsupported. A write
// deadline also bounds the wait for the pacer; a read deadline is passed to
// the wrapped line only. SetLinger (tcp.Line's bound on Close) is passed on
// when the wrapped line has it.
package pace

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// ErrBadRate is wrapped by New for a bit rate or character size out of
// range.
var ErrBadRate = errors.New("pace: bad line rate")

// ErrPreempted is returned by a Write that Preempt cut short.
var ErrPreempted = errors.New("pace: write preempted")

// Config configures a paced line.
type Config struct {
	// BitsPerSecond is the line rate.
	BitsPerSecond int
	// BitsPerChar is the number of bits each octet takes on the line: 10
	// for start-stop characters (the default when zero), 8 for a
	// synchronous bit pipe.
	BitsPerChar int
	// Burst is the largest number of octets sent at once; zero means
	// DefaultBurst (20 ms of characters).
	Burst int
	// PaceReads paces Read as well as Write.
	PaceReads bool
}

// Line is a paced line. See the package documentation for the optional
// interfaces it forwards.
type Line struct {
	l    transport.Line
	done chan struct{}
	once sync.Once

	wmu     sync.Mutex // serializes writers; guards wb
	wb      *Bucket
	preempt atomic.Uint64 // Preempt's count: a Write that sees it change stops
	dlMu    sync.Mutex
	writeDL time.Time

	rmu sync.Mutex // serializes readers; guards rb
	rb  *Bucket    // nil unless reads are paced
}

var (
	_ transport.Line           = (*Line)(nil)
	_ transport.WindowNotifier = (*Line)(nil)
	_ transport.EventNotifier  = (*Line)(nil)
	_ transport.EchoController = (*Line)(nil)
	_ transport.Breaker        = (*Line)(nil)
	_ transport.Deadliner      = (*Line)(nil)
)

// Wrap paces writes on l to bitsPerSecond, with characters of bitsPerChar
// bits (10 when zero or negative). A non-positive bitsPerSecond means no
// pacing: Wrap returns l itself.
func Wrap(l transport.Line, bitsPerSecond int, bitsPerChar int) transport.Line {
	p, err := New(l, Config{BitsPerSecond: bitsPerSecond, BitsPerChar: bitsPerChar})
	if err != nil {
		return l
	}
	return p
}

// New wraps l as configured.
func New(l transport.Line, cfg Config) (*Line, error) {
	if cfg.BitsPerSecond <= 0 || cfg.BitsPerSecond > MaxBitsPerSecond {
		return nil, fmt.Errorf("%w: BitsPerSecond %d outside 1..%d", ErrBadRate, cfg.BitsPerSecond, MaxBitsPerSecond)
	}
	if cfg.BitsPerChar > MaxBitsPerChar {
		return nil, fmt.Errorf("%w: BitsPerChar %d exceeds %d", ErrBadRate, cfg.BitsPerChar, MaxBitsPerChar)
	}
	if cfg.BitsPerChar <= 0 {
		cfg.BitsPerChar = 10
	}
	p := &Line{
		l:    l,
		done: make(chan struct{}),
		wb:   NewBucket(cfg.BitsPerSecond, cfg.BitsPerChar, cfg.Burst),
	}
	if cfg.PaceReads {
		p.rb = NewBucket(cfg.BitsPerSecond, cfg.BitsPerChar, cfg.Burst)
	}
	return p, nil
}

// Unwrap returns the wrapped line.
func (p *Line) Unwrap() transport.Line { return p.l }

// Info returns the wrapped line's Info.
func (p *Line) Info() transport.LineInfo { return p.l.Info() }

// Write sends b at the configured rate, in bursts of at most Burst octets.
// It returns an error wrapping transport.ErrHungUp if the line is closed
// while it waits, an error wrapping os.ErrDeadlineExceeded when the write
// deadline passes during the wait, and the wrapped line's errors.
func (p *Line) Write(b []byte) (int, error) {
	gen := p.preempt.Load()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	total := 0
	for len(b) > 0 {
		if p.preempt.Load() != gen {
			return total, ErrPreempted
		}
		k := min(len(b), p.wb.Burst())
		if err := p.sleep(p.wb.Reserve(time.Now(), k), p.writeDeadline()); err != nil {
			return total, err
		}
		n, err := p.l.Write(b[:k])
		total += n
		if err != nil {
			select {
			case <-p.done: // Close raced with this burst: report our hang-up
				return total, fmt.Errorf("pace: %w", transport.ErrHungUp)
			default:
			}
			return total, err
		}
		b = b[k:]
	}
	return total, nil
}

// Preempt cuts short the Writes begun before it, each at its next burst
// (it returns what it wrote and ErrPreempted), so that a Write after it
// goes out within a burst's time: the last words to a caller who is being
// hung up need not wait while a copy's 32 KiB drain at the line rate
// (BBS trial: at 33,600 bit/s that took longer than the words are given,
// and the caller heard no NO CARRIER). Nothing is cut within a burst.
func (p *Line) Preempt() { p.preempt.Add(1) }

// Read reads from the wrapped line; with PaceReads it returns at most one
// burst at a time, no faster than the configured rate.
func (p *Line) Read(b []byte) (int, error) {
	if p.rb == nil {
		return p.l.Read(b)
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	n, err := p.l.Read(b[:min(len(b), p.rb.Burst())])
	if n > 0 {
		if serr := p.sleep(p.rb.Reserve(time.Now(), n), time.Time{}); serr != nil {
			return 0, serr
		}
	}
	return n, err
}

// sleep waits for d, or until the line closes or the deadline passes.
func (p *Line) sleep(d time.Duration, deadline time.Time) error {
	select {
	case <-p.done:
		return fmt.Errorf("pace: %w", transport.ErrHungUp)
	default:
	}
	if d <= 0 {
		return nil
	}
	var dl <-chan time.Time
	if !deadline.IsZero() {
		if time.Until(deadline) < d {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			dl = t.C
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-dl:
		return fmt.Errorf("pace: write: %w", os.ErrDeadlineExceeded)
	case <-p.done:
		return fmt.Errorf("pace: %w", transport.ErrHungUp)
	}
}

// SetLinger passes the bound on Close on to the paced line, when it has
// one (tcp.Line: see its SetLinger).
func (p *Line) SetLinger(d time.Duration) {
	if s, ok := p.l.(transport.Lingerer); ok {
		s.SetLinger(d)
	}
}

// Close hangs up: a Write waiting for the pacer returns transport.ErrHungUp
// and the wrapped line is closed (which flushes what it accepted).
func (p *Line) Close() error {
	err := error(nil)
	p.once.Do(func() {
		close(p.done)
		err = p.l.Close()
	})
	return err
}

func (p *Line) writeDeadline() time.Time {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	return p.writeDL
}

func unsupported(what string, l transport.Line) error {
	return fmt.Errorf("pace: wrapped %s line has no %s: %w", l.Info().Transport, what, errors.ErrUnsupported)
}

// WindowChanges forwards to the wrapped line; nil if it has none.
func (p *Line) WindowChanges() <-chan transport.WindowSize {
	if w, ok := p.l.(transport.WindowNotifier); ok {
		return w.WindowChanges()
	}
	return nil
}

// Events forwards to the wrapped line; nil if it has none.
func (p *Line) Events() <-chan transport.Event {
	if e, ok := p.l.(transport.EventNotifier); ok {
		return e.Events()
	}
	return nil
}

// SetServerEcho forwards to the wrapped line.
func (p *Line) SetServerEcho(on bool) error {
	if e, ok := p.l.(transport.EchoController); ok {
		return e.SetServerEcho(on)
	}
	return unsupported("echo control", p.l)
}

// SendBreak forwards to the wrapped line.
func (p *Line) SendBreak() error {
	if b, ok := p.l.(transport.Breaker); ok {
		return b.SendBreak()
	}
	return unsupported("break", p.l)
}

// SetReadDeadline forwards to the wrapped line.
func (p *Line) SetReadDeadline(t time.Time) error {
	if d, ok := p.l.(transport.Deadliner); ok {
		return d.SetReadDeadline(t)
	}
	return unsupported("deadlines", p.l)
}

// SetWriteDeadline forwards to the wrapped line and also bounds the wait
// for the pacer.
func (p *Line) SetWriteDeadline(t time.Time) error {
	d, ok := p.l.(transport.Deadliner)
	if !ok {
		return unsupported("deadlines", p.l)
	}
	p.dlMu.Lock()
	p.writeDL = t
	p.dlMu.Unlock()
	return d.SetWriteDeadline(t)
}
