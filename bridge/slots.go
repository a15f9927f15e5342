package bridge

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// busyReason says why a call got no line slot.
type busyReason string

const (
	busyNone        busyReason = ""
	busyFull        busyReason = "all lines busy"
	busyPerSource   busyReason = "too many calls from this address"
	busyHoldoff     busyReason = "hold-off after a recent call from this address"
	busyMaintenance busyReason = "maintenance"
	busyDraining    busyReason = "gateway shutting down"
)

// slotLimits are the line-slot settings; they can change on reload.
type slotLimits struct {
	max         int
	perSource   int // 0 = no limit
	maintenance bool
	holdoff     time.Duration
}

// slots hands out line slots. Pure bookkeeping: time comes from the caller.
type slots struct {
	mu       sync.Mutex
	lim      slotLimits
	inUse    int
	bySource map[string]int
	hangup   map[string]time.Time // source -> end of hold-off
	draining bool
}

func newSlots(lim slotLimits) *slots {
	return &slots{lim: lim, bySource: map[string]int{}, hangup: map[string]time.Time{}}
}

func (s *slots) setLimits(lim slotLimits) {
	s.mu.Lock()
	s.lim = lim
	s.mu.Unlock()
}

func (s *slots) drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// take reserves a slot for a call from source at now, or says why not.
func (s *slots) take(source string, now time.Time) busyReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.draining:
		return busyDraining
	case s.lim.maintenance:
		return busyMaintenance
	case s.inUse >= s.lim.max:
		return busyFull
	case s.lim.perSource > 0 && s.bySource[source] >= s.lim.perSource:
		return busyPerSource
	}
	if until, ok := s.hangup[source]; ok {
		if now.Before(until) {
			return busyHoldoff
		}
		delete(s.hangup, source)
	}
	s.inUse++
	s.bySource[source]++
	return busyNone
}

// release frees a slot taken by take and starts the source's hold-off.
func (s *slots) release(source string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse--
	if s.bySource[source]--; s.bySource[source] <= 0 {
		delete(s.bySource, source)
	}
	if s.lim.holdoff > 0 {
		s.hangup[source] = now.Add(s.lim.holdoff)
	}
	// Forget expired hold-offs so the map cannot grow without bound.
	if len(s.hangup) > 4*s.lim.max+64 {
		for k, t := range s.hangup {
			if !now.Before(t) {
				delete(s.hangup, k)
			}
		}
	}
}

// busy reports the slots in use.
func (s *slots) busy() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse
}

// maxBusyRecords bounds the BUSY calls whose records are being written at
// once. A connection flood beyond it is hung up without a record (the
// calls_total metric still counts it), so a flood cannot pile up
// goroutines waiting for fsync.
const maxBusyRecords = 64

// busyRecorder is that bound, and the summary log of dropped records.
type busyRecorder struct {
	mu       sync.Mutex
	inFlight int
	// summary logs the dropped records; Server.New sets its emit.
	summary burstLog
}

func (b *busyRecorder) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight >= maxBusyRecords {
		return false
	}
	b.inFlight++
	return true
}

func (b *busyRecorder) release() {
	b.mu.Lock()
	b.inFlight--
	b.mu.Unlock()
}

// dropped counts a BUSY call left unrecorded. The count goes to the
// server's log, summed over at most a second (see burstLog); the
// arguments are not used.
func (b *busyRecorder) dropped(_ time.Time, _ *zap.Logger) { b.summary.add("") }

// burstWindow is the longest a burstLog holds a count back, and so the
// shortest time between two of its lines.
const burstWindow = time.Second

// burstLog sums events that come in bursts (BUSY calls left unrecorded,
// failed accepts) into at most one log line a second, so that a flood
// does not become a log flood, and without losing any: every event is
// counted in exactly one line, the end of a burst included. The first
// event of a burst is logged at once and arms one timer; each tick logs
// the events since the last line and re-arms, and a tick that finds none
// disarms. So a burst costs one timer, and between bursts nothing runs. close logs what is
// left at once and waits for a tick in progress; an event after close is
// logged at once. The zero value is ready once emit is set.
type burstLog struct {
	// emit writes a line for n events; last is what the last of them
	// was noted with. It is called without locks held, from the timer's
	// goroutine, add (after close) or close.
	emit func(n int, last string)

	mu     sync.Mutex
	n      int    // events not yet logged
	last   string // of the last event
	timer  *time.Timer
	closed bool
	ticks  sync.WaitGroup // the timer's callback, armed or running
}

// add counts one event, noted with last.
func (b *burstLog) add(last string) {
	b.mu.Lock()
	b.n++
	b.last = last
	if b.closed {
		n := b.n
		b.n = 0
		b.mu.Unlock()
		b.emit(n, last)
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
	b.timer = time.AfterFunc(burstWindow, b.tick)
	b.mu.Unlock()
	b.emit(1, last)
}

func (b *burstLog) tick() {
	defer b.ticks.Done()
	b.mu.Lock()
	if b.closed {
		// close logged the rest.
		b.mu.Unlock()
		return
	}
	n, last := b.n, b.last
	b.n = 0
	if n > 0 {
		// The burst may go on: look again in a window.
		b.ticks.Add(1)
		b.timer.Reset(burstWindow)
	} else {
		b.timer = nil
	}
	b.mu.Unlock()
	if n > 0 {
		b.emit(n, last)
	}
}

// close logs the events not yet logged and stops the timer; it returns
// when no tick runs. It is idempotent.
func (b *burstLog) close() {
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
		b.emit(n, last)
	}
	b.ticks.Wait()
}
