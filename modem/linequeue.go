package modem

import "sync"

// maxLineBacklog bounds what the DTE sent for the line and the call has
// not taken yet. Beyond it the DTE's input waits (the forwarder holds it
// back, then the inbox, then the pty or the serial port's flow control),
// as a modem whose remote end is slow stops taking data from its DTE.
const maxLineBacklog = 64 << 10

// lineQueue carries what the loop has for the call's line to its writer
// goroutine without the loop ever waiting for the line: while the line
// is slow or stuck the loop still hears the line, the DTE's DTR and
// incoming calls (review: a remote that stopped reading froze the loop
// in a send to a full channel, and with it DTR drops and hang-ups).
type lineQueue struct {
	mu      sync.Mutex
	bufs    [][]byte
	backlog int  // octets put and not yet written (or dropped)
	closed  bool // the call ended: puts are dropped, the writer stops
	ready   chan struct{}
	// took is closed, and replaced, whenever the backlog shrinks or the
	// queue closes: the forwarder waits on it for room.
	took chan struct{}
}

func newLineQueue() *lineQueue {
	return &lineQueue{ready: make(chan struct{}, 1), took: make(chan struct{})}
}

// put queues b (the queue's own copy) for the line.
func (q *lineQueue) put(b []byte) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.bufs = append(q.bufs, b)
	q.backlog += len(b)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take waits for what is queued; nil once the queue is closed.
func (q *lineQueue) take() [][]byte {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		if len(q.bufs) > 0 {
			bufs := q.bufs
			q.bufs = nil
			q.mu.Unlock()
			return bufs
		}
		q.mu.Unlock()
		<-q.ready
	}
}

// wrote says that n octets taken have gone to the line.
func (q *lineQueue) wrote(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.backlog -= n
	q.signalLocked()
}

// close drops what is queued and stops the writer.
func (q *lineQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		q.bufs, q.backlog = nil, 0
		q.signalLocked()
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// wake wakes a forwarder waiting for room to look again.
func (q *lineQueue) wake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.signalLocked()
}

func (q *lineQueue) signalLocked() {
	close(q.took)
	q.took = make(chan struct{})
}

// look reports whether the queue is closed and whether its backlog is at
// its bound, and the channel closed when either may have changed.
func (q *lineQueue) look() (closed, full bool, took <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed, !q.closed && q.backlog >= maxLineBacklog, q.took
}

// waitLineRoom holds the forwarder, before it hands the loop more input
// from the DTE, while the modem is online and the call's line has
// maxLineBacklog waiting. It stops waiting when the call ends or the
// modem leaves the online state (commands such as ATH never wait for the
// line), at a DTR drop (queued behind the input: the loop must see it)
// or when Run ends (false).
func (m *modem) waitLineRoom() bool {
	for {
		q := m.lineQ.Load()
		if q == nil {
			return true
		}
		// online after took: noteOnline clears it before it wakes took.
		_, full, took := q.look()
		if !full || !m.online.Load() {
			return true
		}
		select {
		case <-took:
		case <-m.dtrDown.C():
			return true
		case <-m.ctx.Done():
			return false
		}
	}
}

// writeLine writes what q carries to c until q closes or c fails. A
// write may wait as long as the other end takes nothing: how long one
// write lasts says nothing of progress (the kernel wakes a blocked
// writer only once much of its buffer has drained, minutes at modem
// speeds: review), so a slow end is never taken for a stuck one.
func (m *modem) writeLine(c Call, q *lineQueue) {
	for {
		bufs := q.take()
		if bufs == nil {
			return
		}
		for _, b := range bufs {
			_, err := c.Write(b)
			q.wrote(len(b))
			if err != nil {
				// The reader reports the end of the call.
				q.close()
				return
			}
		}
	}
}
