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

// frameBuf is one more class, between 4 and 8 KiB: the buffer a Decoder
// decodes a frame of MaxN401 information octets into (with the FCS and
// the slack of its word stores, DefaultMaxFrame+4+16 octets), which the
// Link hands on with the delivered payload. Without it such a frame would
// take an 8 KiB buffer.
const frameBuf = MaxN401 + 64

var frameBufPool sync.Pool // of *[]byte with capacity in [frameBuf, 8 KiB)

// getBuf returns an empty slice with capacity at least n, from the pool
// when it has one.
func getBuf(n int) []byte {
	if n > 1<<12 && n <= frameBuf {
		if p, ok := frameBufPool.Get().(*[]byte); ok {
			return (*p)[:0]
		}
		return make([]byte, 0, frameBuf)
	}
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
	if cap(b) >= frameBuf && c == 12 {
		frameBufPool.Put(&p)
		return
	}
	bufPools[c].Put(&p)
}
