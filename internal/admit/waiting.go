package admit

import (
	"sync"
	"time"
)

// Waiting is the set of places whose holders are waiting (for a TLS
// handshake, for an HTTP request), each with when it began to wait, so
// that when every place is taken the one that has waited longest can be
// closed to make room: a real handshake or request takes milliseconds,
// and silent peers would otherwise keep every caller out. The zero value
// is empty and ready.
type Waiting[T comparable] struct {
	mu    sync.Mutex
	since map[T]time.Time
}

// Add puts x in the set, waiting from now (again, if it was in it).
func (w *Waiting[T]) Add(x T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since == nil {
		w.since = map[T]time.Time{}
	}
	w.since[x] = time.Now()
}

// Remove takes x out of the set: it is waiting no more.
func (w *Waiting[T]) Remove(x T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.since, x)
}

// TakeOldest removes and returns the entry that has waited longest among
// those match accepts (nil: all); ok is false when there is none.
func (w *Waiting[T]) TakeOldest(match func(T) bool) (oldest T, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var at time.Time
	for x, t := range w.since {
		if (match == nil || match(x)) && (!ok || t.Before(at)) {
			oldest, at, ok = x, t, true
		}
	}
	if ok {
		delete(w.since, oldest)
	}
	return oldest, ok
}
