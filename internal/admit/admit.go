// Package admit counts what is in progress (connections being prepared,
// HTTP connections not yet lines) in all and per source, against a bound
// on each, so that a flood from one address cannot take every place from
// the others, and (Waiting) which holder has waited longest, to be closed
// when every place is taken. The gateway's TLS/PROXY listeners and its
// WebSocket transport share it.
package admit

import "sync"

// Limit says which bound refused a place.
type Limit int

const (
	// None: the place was taken.
	None Limit = iota
	// Total: every place is taken.
	Total
	// Source: the source holds its share.
	Source
)

// Counter counts places taken, in all (at most Max) and by source (at
// most PerSource each). The zero value is not usable: set both bounds.
type Counter[K comparable] struct {
	Max, PerSource int

	mu       sync.Mutex
	total    int
	bySource map[K]int
}

// Take takes a place for src, or says which bound refused it; an exempt
// source (a trusted proxy, which carries everyone's connections) counts
// only towards Max.
func (c *Counter[K]) Take(src K, exempt bool) Limit {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.Max {
		return Total
	}
	if !exempt && c.bySource[src] >= c.PerSource {
		return Source
	}
	if c.bySource == nil {
		c.bySource = map[K]int{}
	}
	c.total++
	c.bySource[src]++
	return None
}

// Release gives back a place Take gave src.
func (c *Counter[K]) Release(src K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.bySource[src]--; c.bySource[src] <= 0 {
		delete(c.bySource, src)
	}
}
