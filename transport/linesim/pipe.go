package linesim

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// chunk is a run of octets accepted by one Write (after impairment) and the
// moment its first octet went on the wire.
type chunk struct {
	data  []byte
	off   int       // octets already read
	start time.Time // wire time of the first octet
}

// pipe is one direction of a pair: what the writing line sends and the
// reading line receives. All fields are guarded by mu.
type pipe struct {
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when state changes
	waiting int           // goroutines blocked on wake

	clock   Clock
	created time.Time
	im      Impairments
	z       *impairer
	lossy   bool // outages configured

	q      []*chunk
	queued int // octets in q not yet read
	limit  int // Buffer

	// The wire is free at anchor + the wire time of chars octets.
	anchor time.Time
	chars  int64

	readerClosed bool // the reading line hung up
	writerClosed bool // the writing line hung up
	eofAt        time.Time
	readDL       time.Time
	writeDL      time.Time
}

func newPipe(clock Clock, created time.Time, im Impairments, seed int64, dir uint64, limit int) *pipe {
	return &pipe{
		wake:    make(chan struct{}),
		clock:   clock,
		created: created,
		im:      im,
		z:       newImpairer(seed, dir, &im),
		lossy:   len(im.Outages) > 0 || im.OutageFunc != nil,
		limit:   limit,
	}
}

// signal wakes every goroutine waiting on the pipe. Call with mu held.
func (p *pipe) signal() {
	if p.waiting > 0 {
		close(p.wake)
		p.wake = make(chan struct{})
		p.waiting = 0
	}
}

// wait releases mu until the state changes or the earlier of the non-zero
// times until and deadline arrives, then takes mu again.
func (p *pipe) wait(until, deadline time.Time) {
	if until.IsZero() || (!deadline.IsZero() && deadline.Before(until)) {
		until = deadline
	}
	ch := p.wake
	p.waiting++
	p.mu.Unlock()
	defer p.mu.Lock()
	if until.IsZero() {
		<-ch
		return
	}
	d := until.Sub(p.clock.Now())
	if d <= 0 {
		return
	}
	tc, stop := p.clock.NewTimer(d)
	select {
	case <-ch:
	case <-tc:
	}
	stop()
}

// charNanos returns the wire time of n octets, in nanoseconds, rounded up.
func (p *pipe) charNanos(n int64) int64 {
	num := n * int64(p.im.BitsPerChar) * 1e9
	r := int64(p.im.BitRate)
	return (num + r - 1) / r
}

// available returns how many unread octets of c have arrived by now and,
// when that is all of them or none, the time the next one arrives.
func (p *pipe) available(c *chunk, now time.Time) (int, time.Time) {
	first := c.start.Add(p.im.Latency)
	if p.im.BitRate == 0 {
		if now.Before(first) {
			return 0, first
		}
		return len(c.data) - c.off, time.Time{}
	}
	el := now.Sub(first)
	total := time.Duration(p.charNanos(int64(len(c.data))))
	k := len(c.data)
	if el < total {
		k = int(el * time.Duration(p.im.BitRate) / time.Duration(int64(p.im.BitsPerChar)*1e9))
		k = max(k, 0)
	}
	if k > c.off {
		return k - c.off, time.Time{}
	}
	return 0, first.Add(time.Duration(p.charNanos(int64(c.off + 1))))
}

func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.readerClosed {
			return 0, fmt.Errorf("linesim: read: %w", transport.ErrHungUp)
		}
		now := p.clock.Now()
		if !p.readDL.IsZero() && !now.Before(p.readDL) {
			return 0, fmt.Errorf("linesim: read: %w", os.ErrDeadlineExceeded)
		}
		if len(b) == 0 {
			return 0, nil
		}
		var until time.Time
		if len(p.q) > 0 {
			c := p.q[0]
			avail, next := p.available(c, now)
			if avail > 0 {
				n := copy(b, c.data[c.off:c.off+avail])
				c.off += n
				p.queued -= n
				if c.off == len(c.data) {
					p.q[0] = nil
					p.q = p.q[1:]
				}
				p.signal()
				return n, nil
			}
			until = next
		} else if p.writerClosed {
			if !now.Before(p.eofAt) {
				return 0, io.EOF
			}
			until = p.eofAt
		}
		p.wait(until, p.readDL)
	}
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for {
		if p.writerClosed {
			return total, fmt.Errorf("linesim: write: %w", transport.ErrHungUp)
		}
		if p.readerClosed {
			return total, ErrPeerHungUp
		}
		now := p.clock.Now()
		if !p.writeDL.IsZero() && !now.Before(p.writeDL) {
			return total, fmt.Errorf("linesim: write: %w", os.ErrDeadlineExceeded)
		}
		if len(b) == 0 {
			return total, nil
		}
		space := p.limit - p.queued
		if space <= 0 {
			p.wait(time.Time{}, p.writeDL)
			continue
		}
		n := min(space, len(b))
		p.send(b[:n], now)
		b = b[n:]
		total += n
		p.signal()
	}
}

// send puts data on the wire at now (or when the wire is free) and queues
// what arrives for the reader.
func (p *pipe) send(data []byte, now time.Time) {
	start := now
	if p.im.BitRate > 0 {
		free := p.anchor.Add(time.Duration(p.charNanos(p.chars)))
		if now.After(free) {
			p.anchor, p.chars = now, 0
		} else {
			start = free
		}
		p.chars += int64(len(data))
		if p.chars*int64(p.im.BitsPerChar) >= 1<<32 {
			// Re-anchor before the arithmetic can overflow; at most a
			// nanosecond of rounding is lost, once per 4 Gbit.
			p.anchor = p.anchor.Add(time.Duration(p.charNanos(p.chars)))
			p.chars = 0
		}
	}
	var lost []bool
	if p.lossy {
		lost = p.outages(start, len(data))
	}
	out := p.z.apply(make([]byte, 0, len(data)), data, lost)
	if len(out) == 0 {
		return
	}
	p.q = append(p.q, &chunk{data: out, start: start})
	p.queued += len(out)
}

// outages marks the octets of a chunk starting on the wire at start that go
// out during an outage; nil when none does.
func (p *pipe) outages(start time.Time, n int) []bool {
	var lost []bool
	at := func(j int) time.Duration {
		d := start.Sub(p.created)
		if p.im.BitRate > 0 {
			d += time.Duration(int64(j) * int64(p.im.BitsPerChar) * 1e9 / int64(p.im.BitRate))
		}
		return d
	}
	for j := range n {
		t := at(j)
		out := p.im.OutageFunc != nil && p.im.OutageFunc(t)
		for _, o := range p.im.Outages {
			if t >= o.Start && t < o.End {
				out = true
				break
			}
		}
		if out {
			if lost == nil {
				lost = make([]bool, n)
			}
			lost[j] = true
		}
		if p.im.BitRate == 0 && j == 0 {
			// Without a rate cap the whole chunk is on the wire at once.
			if out {
				for k := range lost {
					lost[k] = true
				}
			}
			break
		}
	}
	return lost
}

// closeWriter hangs up the writing end: queued octets stay readable, then
// the reader gets io.EOF.
func (p *pipe) closeWriter() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.writerClosed {
		p.writerClosed = true
		p.eofAt = p.clock.Now().Add(p.im.Latency)
	}
	p.signal()
}

// closeReader hangs up the reading end: queued octets are discarded.
func (p *pipe) closeReader() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readerClosed = true
	p.q = nil
	p.queued = 0
	p.signal()
}

func (p *pipe) statistics() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.z.stats
}

func (p *pipe) setReadDeadline(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readDL = t
	p.signal()
}

func (p *pipe) setWriteDeadline(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeDL = t
	p.signal()
}
