//go:build linux

package lapm

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// guarded returns a slice of n octets that ends where an inaccessible page
// begins, so that any load or store past its end faults.
func guarded(t *testing.T, n int) []byte {
	t.Helper()
	ps := unix.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if err := unix.Mprotect(m[ps:], unix.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return m[ps-n : ps : ps]
}

// TestCodecLoopsStayInBounds runs the word loops (the assembly where this
// CPU has it) on inputs and outputs that end right before an inaccessible
// page: every length to 48 octets of line or frame and of output, every
// start octet and bit offset. A load or store past either slice faults.
func TestCodecLoopsStayInBounds(t *testing.T) { eachPath(t, testCodecLoopsStayInBounds) }

func testCodecLoopsStayInBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const max = 48
	for np := 0; np <= max; np++ {
		p := guarded(t, np)
		for no := 0; no <= max; no++ {
			out := guarded(t, no)
			for fill := range 3 {
				copy(p, codecRandBytes(r, np, fill))
				// The portable stuffer relies on its caller for room
				// (Go's bounds checks stand behind it); the assembly
				// stops at the end of out.
				if useBMI2 || no >= np+np/5+16 {
					left, rest, _, n, _ := stuffWords(out, p, 0, uint(r.IntN(64)), uint64(r.IntN(16)))
					if left < 0 || left > no || rest < 0 || rest > np || n > 63 {
						t.Fatalf("stuffWords(%d, %d octets): left %d, rest %d, n %d", no, np, left, rest, n)
					}
				}
				for i := 0; i <= np; i++ {
					for sh := range uint(8) {
						o := r.IntN(no + 1)
						nacc := uint(r.IntN(64))
						ro, ri, _, _, rn, _ := unstuffLoop(out, o, p, i, sh, uint64(r.IntN(16)), 0, nacc)
						if ro < o || ro > no || ri < i || ri > np || rn > 63 {
							t.Fatalf("unstuffLoop(%d octets from %d, %d from %d bit %d): o %d, i %d, nacc %d", no, o, np, i, sh, ro, ri, rn)
						}
					}
				}
			}
		}
	}
}

// TestBlockLoopsStayInBounds runs stuffWords and unstuffLoop (the AVX-512
// block loops, which load 64 octets per block, where this CPU has them)
// on inputs and outputs of every length to 200 and 230 octets that end
// right before an inaccessible page, in three fillings, the line from
// several start octets and at several bit offsets. A load or store past
// either slice faults.
func TestBlockLoopsStayInBounds(t *testing.T) { eachPath(t, testBlockLoopsStayInBounds) }

func testBlockLoopsStayInBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	gp, gout := guarded(t, 4096), guarded(t, 4096)
	for np := 0; np <= 200; np++ {
		p := gp[len(gp)-np:]
		for no := 0; no <= 230; no++ {
			out := gout[len(gout)-no:]
			fill := (np + no) % 3
			copy(p, codecRandBytes(r, np, fill))
			// As in testCodecLoopsStayInBounds, the portable stuffer
			// relies on its caller for room.
			if useBMI2 || no >= np+np/5+16 {
				left, rest, _, n, _ := stuffWords(out, p, 0, uint(r.IntN(64)), uint64(r.IntN(16)))
				if left < 0 || left > no || rest < 0 || rest > np || n > 63 {
					t.Fatalf("stuffWords(%d, %d octets): left %d, rest %d, n %d", no, np, left, rest, n)
				}
			}
			for j := range 3 {
				if j == 2 {
					clear(p) // no flags: the block loop runs to the end
				}
				i, o, sh := r.IntN(np/4+1), r.IntN(no/4+1), uint(r.IntN(8))
				ro, ri, _, _, rn, _ := unstuffLoop(out, o, p, i, sh, uint64(r.IntN(16)), 0, uint(r.IntN(64)))
				if ro < o || ro > no || ri < i || ri > np || rn > 63 {
					t.Fatalf("unstuffLoop(%d octets from %d, %d from %d bit %d): o %d, i %d, nacc %d", no, o, np, i, sh, ro, ri, rn)
				}
			}
		}
	}
}
