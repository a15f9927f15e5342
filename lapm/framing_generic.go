//go:build !amd64 || purego

package lapm

// unstuffLoop is unstuffLoopGo where no faster loop exists.
func unstuffLoop(out []byte, o int, p []byte, i int, sh uint, last, acc uint64, nacc uint) (int, int, uint64, uint64, uint, uint64) {
	return unstuffLoopGo(out, o, p, i, sh, last, acc, nacc)
}

// stuffWords is stuffWordsGo where no faster loop exists.
func stuffWords(out, p []byte, acc uint64, n uint, l uint64) (int, int, uint64, uint, uint64) {
	return stuffWordsGo(out, p, acc, n, l)
}

// useBMI2 is false: there are no assembly loops in this build.
var useBMI2 = false

// cpuidWorks tells the tests that cpuid does not exist here.
const cpuidWorks = false

// cpuid returns zeros where there is no CPUID (cpuidWorks is false).
func cpuid(uint32) (eax, ebx, ecx, edx uint32) { return 0, 0, 0, 0 }

// slowPDEP is not called where cpuidWorks is false.
func slowPDEP() bool { return false }

// useAVX512 is false: there are no assembly loops in this build.
var useAVX512 = false
