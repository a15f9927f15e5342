package bridge

import (
	"sync"
	"time"

	"github.com/dialgate/dialgate/internal/burstlog"
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
	return s.takeSlot(source, now, true)
}

// takeCallback reserves a slot for a callback the gateway placed to
// source. The source's hold-off does not apply: it turns away callers
// who redial within seconds of hanging up, and a callback follows its
// own call's hang-up by design ([callback] delay may well be shorter).
// Everything else does, as for any call on a line: the maintenance
// switch, max_concurrent and per_source (one pending callback per
// address still lets accounts whose addresses share a host hold more
// than per_source lines otherwise; the first call has given its slot
// back by then, so a caller is never refused for its own call).
func (s *slots) takeCallback(source string, now time.Time) busyReason {
	return s.takeSlot(source, now, false)
}

func (s *slots) takeSlot(source string, now time.Time, holdoff bool) busyReason {
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
	if until, ok := s.hangup[source]; ok && holdoff {
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

// holdOff starts source's hold-off at now, as one of its calls hangs
// up: the gateway's last words (NO CARRIER) are written before the slot
// is released, and a caller that redials the moment it reads them must
// find the hold-off in force already. release sets it again.
func (s *slots) holdOff(source string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lim.holdoff > 0 {
		s.hangup[source] = now.Add(s.lim.holdoff)
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
	summary burstlog.Log
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
// server's log, summed over at most a second (see burstlog.Log).
func (b *busyRecorder) dropped() { b.summary.Add("") }
