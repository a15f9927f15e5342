package ws

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// ring is the bounded receive buffer between a line's reader goroutine (the
// only producer) and Read. The producer reserves free space, fills it
// without holding the lock (the consumer never touches free space) and
// commits it; the mutex orders the two.
type ring struct {
	mu     sync.Mutex
	cond   sync.Cond // broadcast on every change of n, err or closed
	buf    []byte
	r, n   int   // read position and number of buffered octets
	err    error // why no more octets will come (io.EOF: the peer hung up)
	closed bool  // the line was closed locally: Read fails, producer discards

	// Read deadline (net.Conn semantics): expired is set once the
	// deadline passes and cleared by a new deadline in the future.
	deadline time.Time
	timer    *time.Timer
	expired  bool
}

func newRing(size int) *ring {
	q := &ring{buf: make([]byte, size)}
	q.cond.L = &q.mu
	return q
}

// reserve waits for free space and returns it; nil means the line was
// closed locally and received octets are to be discarded.
func (q *ring) reserve() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == len(q.buf) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	if q.n == 0 {
		q.r = 0
	}
	w := (q.r + q.n) % len(q.buf)
	if w < q.r {
		return q.buf[w:q.r]
	}
	return q.buf[w:]
}

// commit makes k octets written into the last reserved space readable.
func (q *ring) commit(k int) {
	if k == 0 {
		return
	}
	q.mu.Lock()
	q.n += k
	q.cond.Broadcast()
	q.mu.Unlock()
}

// push copies p into the buffer, waiting for space; it reports false if
// the line was closed locally before all of p fit.
func (q *ring) push(p []byte) bool {
	for len(p) > 0 {
		space := q.reserve()
		if space == nil {
			return false
		}
		k := copy(space, p)
		q.commit(k)
		p = p[k:]
	}
	return true
}

// read implements Line.Read.
func (q *ring) read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 && q.err == nil && !q.closed && !q.expired {
		q.cond.Wait()
	}
	if q.closed {
		return 0, fmt.Errorf("ws: read: %w", transport.ErrHungUp)
	}
	if q.n == 0 {
		if q.err == nil { // the deadline passed
			return 0, fmt.Errorf("ws: read: %w", os.ErrDeadlineExceeded)
		}
		return 0, q.err
	}
	total := 0
	for len(p) > 0 && q.n > 0 {
		end := min(q.r+q.n, len(q.buf))
		k := copy(p, q.buf[q.r:end])
		q.r = (q.r + k) % len(q.buf)
		q.n -= k
		total += k
		p = p[k:]
	}
	q.cond.Broadcast()
	return total, nil
}

// finish records why the producer stopped; the first reason wins.
func (q *ring) finish(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// status reports the producer's final error, nil while it runs.
func (q *ring) status() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// close makes Read fail with ErrHungUp and the producer discard.
func (q *ring) close() {
	q.mu.Lock()
	q.closed = true
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// setDeadline sets the read deadline: a Read waiting for octets when it
// passes returns an error wrapping os.ErrDeadlineExceeded (octets already
// buffered are still returned). The zero time clears it.
func (q *ring) setDeadline(t time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	q.deadline = t
	q.expired = false
	switch {
	case t.IsZero():
	case !time.Now().Before(t):
		q.expired = true
	default:
		q.timer = time.AfterFunc(time.Until(t), func() {
			q.mu.Lock()
			if q.deadline.Equal(t) {
				q.expired = true
				q.cond.Broadcast()
			}
			q.mu.Unlock()
		})
	}
	q.cond.Broadcast()
}
