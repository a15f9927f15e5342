// Package burstlog sums events that come in bursts (refused connections,
// BUSY calls left unrecorded, failed accepts) into at most one log line a
// second, so that a flood does not become a log flood, without losing
// any: every event is counted in exactly one line, the end of a burst
// included. The gateway's bridge and its WebSocket transport share it.
package burstlog

import (
	"sync"
	"time"
)

// Window is the longest a Log holds a count back, and so the shortest
// time between two of its lines.
const Window = time.Second

// Log is one kind of event's summary. The first event of a burst is
// logged at once and arms one timer; each tick logs the events since the
// last line and re-arms, and a tick that finds none disarms. So a burst
// costs one timer, and between bursts nothing runs. Close logs what is
// left at once and waits for a tick in progress; an event after Close is
// logged at once. The zero value is ready once Emit is set.
type Log struct {
	// Emit writes a line for n events; last is what the last of them
	// was noted with. It is called without locks held, from the timer's
	// goroutine, Add (after Close) or Close.
	Emit func(n int, last string)

	mu     sync.Mutex
	n      int    // events not yet logged
	last   string // of the last event
	timer  *time.Timer
	closed bool
	ticks  sync.WaitGroup // the timer's callback, armed or running
}

// Add counts one event, noted with last.
func (b *Log) Add(last string) {
	b.mu.Lock()
	b.n++
	b.last = last
	if b.closed {
		n := b.n
		b.n = 0
		b.mu.Unlock()
		b.Emit(n, last)
		return
	}
	if b.timer != nil {
		b.mu.Unlock()
		return
	}
	// The first event of a burst is logged at once; the timer sums up
	// the rest.
	b.n = 0
	b.ticks.Add(1)
	b.timer = time.AfterFunc(Window, b.tick)
	b.mu.Unlock()
	b.Emit(1, last)
}

func (b *Log) tick() {
	defer b.ticks.Done()
	b.mu.Lock()
	if b.closed {
		// Close logged the rest.
		b.mu.Unlock()
		return
	}
	n, last := b.n, b.last
	b.n = 0
	if n > 0 {
		// The burst may go on: look again in a window.
		b.ticks.Add(1)
		b.timer.Reset(Window)
	} else {
		b.timer = nil
	}
	b.mu.Unlock()
	if n > 0 {
		b.Emit(n, last)
	}
}

// Close logs the events not yet logged and stops the timer; it returns
// when no tick runs. It is idempotent.
func (b *Log) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	if b.timer != nil && b.timer.Stop() {
		b.ticks.Done() // the tick will not run
	}
	b.timer = nil
	n, last := b.n, b.last
	b.n = 0
	b.mu.Unlock()
	if n > 0 {
		b.Emit(n, last)
	}
	b.ticks.Wait()
}
