//go:build amd64 && !purego

package lapm

import "golang.org/x/sys/cpu"

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

// unstuffLoop is unstuffLoopBMI2 where the CPU has it, else unstuffLoopGo.
func unstuffLoop(out []byte, o int, p []byte, i int, sh uint, last, acc uint64, nacc uint) (int, int, uint64, uint64, uint, uint64) {
	if !useBMI2 {
		return unstuffLoopGo(out, o, p, i, sh, last, acc, nacc)
	}
	// Every window loads eight octets of p and moves on by seven, and
	// stores eight octets of out and moves on by at most eight.
	windows := 0
	if len(p)-i >= 8 && len(out)-o >= 8 {
		windows = min((len(p)-i-8)/7, (len(out)-o-8)/8) + 1
	}
	// The assembly looks at five bits before the window; the fifth
	// does not matter here: no inserted zero is pending at the start.
	o, i, last5, acc, nacc := unstuffLoopBMI2(out, o, p, i, windows, sh, last<<1, acc, nacc)
	c := uint64(0)
	if last5 == 0x1F {
		c = 1 // the next window starts with an inserted zero
	}
	return o, i, last5 >> 1, acc, nacc, c
}

// unstuffLoopBMI2 is unstuffLoopGo with the zeros of a window removed by
// one PEXT (framing_amd64.s), for at most windows windows.
//
//go:noescape
func unstuffLoopBMI2(out []byte, o int, p []byte, i, windows int, sh uint, last5, acc uint64, nacc uint) (ro, ri int, rlast5, racc uint64, rnacc uint)

// stuffWords is stuffWordsBMI2 where the CPU has it, else stuffWordsGo.
func stuffWords(out, p []byte, acc uint64, n uint, l uint64) (int, int, uint64, uint, uint64) {
	if !useBMI2 {
		return stuffWordsGo(out, p, acc, n, l)
	}
	// Every word loads eight octets of p and moves on by seven, and
	// stores eight octets of out and moves on by at most eight. A call
	// takes at most maxWords (about 7 µs), so that a huge frame does not
	// hold off preemption: words calls again.
	words := 0
	if len(p) >= 8 && len(out) >= 8 {
		words = min((len(p)-8)/7, (len(out)-8)/8, maxWords-1) + 1
	}
	return stuffWordsBMI2(out, p, words, acc, n, l)
}

// maxWords bounds the words of one stuffWordsBMI2 call.
const maxWords = 1 << 12

// stuffWordsBMI2 is stuffWordsGo with the zeros of a word inserted by one
// PDEP (framing_amd64.s), for at most words words.
//
//go:noescape
func stuffWordsBMI2(out, p []byte, words int, acc uint64, n uint, l uint64) (left, np int, racc uint64, rn uint, rl uint64)

// cpuidWorks tells the tests that cpuid exists.
const cpuidWorks = true
