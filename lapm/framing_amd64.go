//go:build amd64 && !purego

package lapm

import (
	"math"

	"golang.org/x/sys/cpu"
)

// useBMI2 selects the assembly loops, which need BMI1 and BMI2 (PDEP,
// PEXT, MULX, SHLX, RORX, BLSR, ANDN, TZCNT), LZCNT and POPCNT: every
// x86-64 CPU since Haswell (2013) and Excavator/Zen. Tests turn it off to
// check the portable loops on the same inputs.
// AMD processors before Zen 3 run PDEP and PEXT in microcode, far slower
// than the portable loops: they keep those.
var useBMI2 = cpu.X86.HasBMI1 && cpu.X86.HasBMI2 && cpu.X86.HasLZCNT && cpu.X86.HasPOPCNT && !slowPDEP()

// slowPDEP reports an AMD (or Hygon) processor of a family before 0x19
// (Zen 3).
func slowPDEP() bool {
	_, b, _, _ := cpuid(0)
	if b != 0x68747541 && b != 0x6f677948 { // "Auth"enticAMD, "Hygo"nGenuine
		return false
	}
	a, _, _, _ := cpuid(1)
	family := a >> 8 & 0xF
	if family == 0xF {
		family += a >> 20 & 0xFF
	}
	return family < 0x19
}

// cpuid executes CPUID for leaf (subleaf 0).
func cpuid(leaf uint32) (eax, ebx, ecx, edx uint32)

// unstuffLoop is unstuffBlocksAVX512 and unstuffLoopBMI2 where the CPU
// has them, else unstuffLoopGo.
func unstuffLoop(out []byte, o int, p []byte, i int, sh uint, last, acc uint64, nacc uint) (int, int, uint64, uint64, uint, uint64) {
	if !useBMI2 {
		return unstuffLoopGo(out, o, p, i, sh, last, acc, nacc)
	}
	// The assembly looks at five bits before the window; the fifth
	// does not matter here: no inserted zero is pending at the start.
	last5 := last << 1
	if useAVX512 {
		// The loop stops before the block with the frame's closing
		// flag, whose windows before the flag the BMI2 loop takes.
		blocks := roomForBlocks(len(out)-o, len(p)-i, math.MaxInt)
		o, i, last5, acc, nacc = unstuffBlocksAVX512(out, o, p, i, blocks, sh, last5, acc, nacc)
	}
	windows := roomForWords(len(out)-o, len(p)-i, math.MaxInt)
	o, i, last5, acc, nacc = unstuffLoopBMI2(out, o, p, i, windows, sh, last5, acc, nacc)
	c := uint64(0)
	if last5 == 0x1F {
		c = 1 // the next window starts with an inserted zero
	}
	return o, i, last5 >> 1, acc, nacc, c
}

// unstuffBlocksAVX512 is unstuffLoopBMI2 eight windows at a time, with
// the zeros and any flag of all eight found by AVX-512 vector instructions
// and each window's bits then taken by PEXT (framing_amd64.s), for at most
// blocks blocks. It stops before a block with a flag or an abort.
//
//go:noescape
func unstuffBlocksAVX512(out []byte, o int, p []byte, i, blocks int, sh uint, last5, acc uint64, nacc uint) (ro, ri int, rlast5, racc uint64, rnacc uint)

// unstuffLoopBMI2 is unstuffLoopGo with the zeros of a window removed by
// one PEXT (framing_amd64.s), for at most windows windows.
//
//go:noescape
func unstuffLoopBMI2(out []byte, o int, p []byte, i, windows int, sh uint, last5, acc uint64, nacc uint) (ro, ri int, rlast5, racc uint64, rnacc uint)

// stuffWords is stuffBlocksAVX512 and stuffWordsBMI2 where the CPU has
// them, else stuffWordsGo.
func stuffWords(out, p []byte, acc uint64, n uint, l uint64) (int, int, uint64, uint, uint64) {
	if !useBMI2 {
		return stuffWordsGo(out, p, acc, n, l)
	}
	// o octets of out are written and i of p taken. A call takes at most
	// maxWords words (about 7 µs with BMI2), so that a huge frame does
	// not hold off preemption: words calls again.
	o, i, budget := 0, 0, maxWords
	var left, np int
	for useAVX512 {
		blocks := roomForBlocks(len(out)-o, len(p)-i, budget/8)
		if blocks == 0 {
			break
		}
		left, np, acc, n, l = stuffBlocksAVX512(out[o:], p[i:], blocks, acc, n, l)
		took := len(p) - i - np
		o, i, budget = len(out)-left, len(p)-np, budget-took/7
		if took == 56*blocks {
			continue
		}
		// A block with a word of more than seven zeros: its eight words
		// go through the BMI2 loop, which leaves such a word to chunk.
		w := roomForWords(len(out)-o, len(p)-i, 8)
		left, np, acc, n, l = stuffWordsBMI2(out[o:], p[i:], w, acc, n, l)
		took = len(p) - i - np
		o, i, budget = len(out)-left, len(p)-np, budget-took/7
		if took < 7*w {
			return len(out) - o, len(p) - i, acc, n, l
		}
	}
	w := roomForWords(len(out)-o, len(p)-i, budget)
	left, np, acc, n, l = stuffWordsBMI2(out[o:], p[i:], w, acc, n, l)
	return left, np, acc, n, l
}

// roomForWords is how many of at most max words or windows the BMI2
// loops may take with no octets of out and np of p left: every one loads
// eight octets of p and moves on by seven, and stores eight octets of out
// and moves on by at most eight.
func roomForWords(no, np, max int) int {
	if np < 8 || no < 8 || max <= 0 {
		return 0
	}
	return min((np-8)/7, (no-8)/8, max-1) + 1
}

// roomForBlocks is roomForWords for the AVX-512 loops' blocks of eight:
// every block loads 64 octets of p and moves on by 56, and stores eight
// words of out and moves on by at most 64 octets.
func roomForBlocks(no, np, max int) int {
	if np < 64 || no < 64 || max <= 0 {
		return 0
	}
	return min((np-64)/56, (no-64)/64, max-1) + 1
}

// useAVX512 selects stuffBlocksAVX512 and unstuffBlocksAVX512, which need (beyond
// useBMI2) AVX-512 F, BW, CD (VPLZCNTQ), VBMI (VPERMB) and VPOPCNTDQ:
// Intel from Ice Lake (2019), AMD from Zen 4 (2022). Tests turn it off
// to check the BMI2 loop on the same inputs.
var useAVX512 = useBMI2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512CD &&
	cpu.X86.HasAVX512VBMI && cpu.X86.HasAVX512VPOPCNTDQ

// stuffBlocksAVX512 is stuffWordsBMI2 eight words at a time, with the
// zeros of all eight found by AVX-512 vector instructions and each word
// then deposited by PDEP (framing_amd64.s), for at most blocks blocks. It
// stops before a block with a word of more than seven zeros.
//
//go:noescape
func stuffBlocksAVX512(out, p []byte, blocks int, acc uint64, n uint, l uint64) (left, np int, racc uint64, rn uint, rl uint64)

// maxWords bounds the words of one stuffWords call.
const maxWords = 1 << 12

// stuffWordsBMI2 is stuffWordsGo with the zeros of a word inserted by one
// PDEP (framing_amd64.s), for at most words words.
//
//go:noescape
func stuffWordsBMI2(out, p []byte, words int, acc uint64, n uint, l uint64) (left, np int, racc uint64, rn uint, rl uint64)

// cpuidWorks tells the tests that cpuid exists.
const cpuidWorks = true
