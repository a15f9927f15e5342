package lapm

import (
	"math/bits"
	"sync"
)

// Large buffers (line reads, frame output) are needed only
// while data flows. An idle link keeps small ones and returns the large
// ones here, so that ten thousand idle links do not each hold tens of
// KiB. Buffers are pooled by power-of-two capacity class.
const (
	minPooledShift = 10 // 1 KiB: smaller buffers are kept by their owner
	maxPooledShift = 17 // 128 KiB: larger ones are left to the collector
)

var bufPools [maxPooledShift + 1]sync.Pool // of *[]byte, index = class

// getBuf returns an empty slice with capacity at least n, from the pool
// when it has one.
func getBuf(n int) []byte {
	c := bits.Len(uint(max(n, 1) - 1)) // smallest class with 1<<c >= n
	if c < minPooledShift || c > maxPooledShift {
		return make([]byte, 0, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// putBuf hands b to the pool; the caller must not use it afterwards.
// Buffers outside the pooled classes are left to the collector, without
// an allocation (only a pooled one needs a heap slice header).
func putBuf(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 // largest class with 1<<c <= cap(b)
	if c < minPooledShift || c > maxPooledShift {
		return
	}
	p := b[:0]
	bufPools[c].Put(&p)
}
