package lapm

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Large buffers (line reads, frame output) are needed only
// while data flows. An idle link keeps small ones and returns the large
// ones here, so that ten thousand idle links do not each hold tens of
// KiB. Buffers are pooled by power-of-two capacity class, up to the
// largest output buffer a link in bulk transfer uses (a window's batch of
// 4 KiB frames, under 1 MiB, grown behind a busy writer): with classes only up
// to 128 KiB every output buffer past that was a fresh, zeroed
// allocation left to the collector, 0.28 octets allocated per octet sent
// (BenchmarkFullPathTCP: 2.6 -> 1.5 MB allocated per 4 MiB, CPU per octet
// about 4 % lower).
const (
	minPooledShift = 10 // 1 KiB: smaller buffers are kept by their owner
	maxPooledShift = 20 // 1 MiB: larger ones are left to the collector
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
		if c := bufCheck.Load(); c != nil {
			return c.get(len(bufPools), frameBuf)
		}
		if p, ok := frameBufPool.Get().(*[]byte); ok {
			return (*p)[:0]
		}
		return make([]byte, 0, frameBuf)
	}
	c := bits.Len(uint(max(n, 1) - 1)) // smallest class with 1<<c >= n
	if c < minPooledShift || c > maxPooledShift {
		return make([]byte, 0, n)
	}
	if bc := bufCheck.Load(); bc != nil {
		return bc.get(c, 1<<c)
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
	if bc := bufCheck.Load(); bc != nil {
		if cap(b) >= frameBuf && c == 12 {
			c = len(bufPools)
		}
		bc.put(c, b)
		return
	}
	if cap(b) >= frameBuf && c == 12 {
		frameBufPool.Put(&p)
		return
	}
	bufPools[c].Put(&p)
}

// bufCheck, when set (by tests only), replaces the pools with checked
// free lists: see bufChecker.
var bufCheck atomic.Pointer[bufChecker]

// bufChecker is a deterministic stand-in for the pools that makes a
// buffer used after putBuf visible. putBuf fills the whole buffer with
// poisonOctet, so that a reader of a buffer it no longer owns sees
// poison instead of its data; getBuf hands out the buffer put last (the
// reuse most likely to expose a stale owner) and first checks that the
// poison is intact, so that a writer after putBuf is caught too; and a
// buffer put twice (two later owners of one array) is caught at the
// second putBuf. Violations are recorded, not panicked on, and read with
// errors. It also records the buffers it hands out until they come back,
// so that a test can see what an idle link still holds (heldAtLeast).
type bufChecker struct {
	mu    sync.Mutex
	free  [maxPooledShift + 2][][]byte // per class; the last is frameBuf's
	in    map[*byte]bool               // first octet of each buffer in free
	out   map[*byte]int                // capacity of each buffer handed out and not yet put
	gets  int                          // buffers taken from free
	fails []string
}

// poisonOctet fills every buffer in a bufChecker's free lists.
const poisonOctet = 0xA5

func newBufChecker() *bufChecker {
	return &bufChecker{in: make(map[*byte]bool), out: make(map[*byte]int)}
}

func (c *bufChecker) get(class, size int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.free[class]
	if len(l) == 0 {
		b := make([]byte, 1, size)
		c.out[&b[0]] = size
		return b[:0]
	}
	b := l[len(l)-1]
	c.free[class] = l[:len(l)-1]
	delete(c.in, &b[:1][0])
	c.gets++
	c.out[&b[:1][0]] = cap(b)
	for i, v := range b[:cap(b)] {
		if v != poisonOctet {
			c.fails = append(c.fails, fmt.Sprintf("buffer of %d octets written after putBuf (octet %d is 0x%02x)", cap(b), i, v))
			break
		}
	}
	return b[:0]
}

func (c *bufChecker) put(class int, b []byte) {
	b = b[:cap(b)]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.in[&b[0]] {
		c.fails = append(c.fails, fmt.Sprintf("buffer of %d octets put twice", cap(b)))
		return
	}
	for i := range b {
		b[i] = poisonOctet
	}
	delete(c.out, &b[0])
	c.in[&b[0]] = true
	c.free[class] = append(c.free[class], b)
}

// heldAtLeast returns how many buffers of at least n octets get has
// handed out that have not been put back.
func (c *bufChecker) heldAtLeast(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := 0
	for _, size := range c.out {
		if size >= n {
			held++
		}
	}
	return held
}

// errors returns the violations seen so far and how many buffers were
// reused.
func (c *bufChecker) errors() (fails []string, reused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.fails...), c.gets
}
