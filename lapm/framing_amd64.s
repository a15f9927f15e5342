//go:build amd64 && !purego

#include "textflag.h"

// The HDLC codec's hot loops with BMI2 (framing_amd64.go selects them).
// Both take 56 line or input bits per iteration and keep the output in a
// 64-bit accumulator acc holding n bits: every iteration ORs its k bits
// y in above them and stores acc, and the word index W moves on by one
// when that filled a word:
//	DX:AX = y * 2^n (MULX): AX = y<<n, DX = y>>(64-n)
//	acc |= AX; store acc at out[8W]
//	n += k; BTR $6: CF = a word filled, n %= 64
//	acc = CF ? DX : acc; W += CF
// so that no branch depends on the data but the rare ones named below.

DATA mask56<>+0(SB)/8, $0x00ffffffffffffff
GLOBL mask56<>(SB), RODATA|NOPTR, $8
DATA mask57<>+0(SB)/8, $0x01ffffffffffffff
GLOBL mask57<>(SB), RODATA|NOPTR, $8

// runs[8+r] is the four last line bits after a run of r input 1s that
// began after a 0: r mod 5 1s at the top (the zero inserted after the
// fifth 1 restarts the count).
DATA runs<>+0(SB)/8, $0x0000000000000000
DATA runs<>+8(SB)/8, $0x0c08000f0e0c0800
DATA runs<>+16(SB)/8, $0x000f0e0c08000f0e
DATA runs<>+24(SB)/8, $0x0e0c08000f0e0c08
DATA runs<>+32(SB)/8, $0x08000f0e0c08000f
DATA runs<>+40(SB)/8, $0x0f0e0c08000f0e0c
DATA runs<>+48(SB)/8, $0x0c08000f0e0c0800
DATA runs<>+56(SB)/8, $0x000f0e0c08000f0e
DATA runs<>+64(SB)/8, $0x0e0c08000f0e0c08
GLOBL runs<>(SB), RODATA|NOPTR, $72

// func unstuffLoopBMI2(out []byte, o int, p []byte, i, windows int, sh uint, last5, acc uint64, nacc uint) (ro, ri int, rlast5, racc uint64, rnacc uint)
//
// windows windows of 56 line bits from octet i of p, bit sh, as
// unstuffLoopGo, or fewer: it stops before a window with a flag or an
// abort (the caller makes sure that every load and store stays in p and
// out). last5 holds the five line bits before the window, the latest in
// bit 4:
//	t = the line bits (at least 57 of them); v = t<<5 | last5
//	z = v & v>>1 & v>>2 & v>>3 & v>>4: bit q is set when a run of five
//	1s ends at line bit q-1, so that line bit q is an inserted zero
//	if z & t != 0 (q <= 56): a flag or an abort; stop
//	y = PEXT(t, mask56 &^ z), k = POPCNT(mask56 &^ z)
// A zero at bit 56 is the next window's bit 0, found there again from
// last5 (and the caller takes it when the loop ends after the window).
// RORX (rotate) stands in for the shifts: the bits it brings round land
// at 60 and above, which the masks drop.
//
// Registers: SI = &p[i], BX = windows left, DI = &out[o], R15 = W,
// R8 = acc, R9 = nacc, R10 = last5, R11 = sh, R14 = 1; AX, CX, DX, R12
// scratch.
TEXT ·unstuffLoopBMI2(SB), NOSPLIT, $0-144
	MOVQ out_base+0(FP), DI
	ADDQ o+24(FP), DI
	MOVQ p_base+32(FP), SI
	ADDQ i+56(FP), SI
	MOVQ windows+64(FP), BX
	MOVQ sh+72(FP), R11
	MOVQ last5+80(FP), R10
	MOVQ acc+88(FP), R8
	MOVQ nacc+96(FP), R9
	XORL R15, R15
	MOVL $1, R14
	TESTQ BX, BX
	JLE  ddone

dloop:
	MOVQ (SI), AX
	SHRXQ R11, AX, AX       // t
	LEAQ (AX*4), CX
	LEAQ (R10)(CX*8), CX    // v
	RORXQ $1, CX, DX
	ANDQ CX, DX
	RORXQ $2, DX, R12
	ANDQ R12, DX
	RORXQ $4, CX, CX
	ANDQ CX, DX
	ANDQ mask57<>(SB), DX   // z
	TESTQ AX, DX
	JNE  ddone              // a 1 after five: flag or abort
	RORXQ $51, AX, R10
	ANDQ $31, R10           // last5
	ANDNQ mask56<>(SB), DX, CX
	PEXTQ CX, AX, AX        // y
	POPCNTQ CX, CX          // k
	SHLXQ R9, R14, DX
	MULXQ AX, AX, DX
	ORQ  AX, R8
	MOVQ R8, (DI)(R15*8)
	ADDQ CX, R9
	BTRQ $6, R9
	CMOVQCS DX, R8
	ADCQ $0, R15
	ADDQ $7, SI
	DECQ BX
	JNE  dloop

ddone:
	LEAQ (DI)(R15*8), DI
	SUBQ out_base+0(FP), DI
	MOVQ DI, ro+104(FP)
	SUBQ p_base+32(FP), SI
	MOVQ SI, ri+112(FP)
	MOVQ R10, rlast5+120(FP)
	MOVQ R8, racc+128(FP)
	MOVQ R9, rnacc+136(FP)
	RET

// func stuffWordsBMI2(out, p []byte, words int, acc uint64, n uint, l uint64) (left, np int, racc uint64, rn uint, rl uint64)
//
// Up to words words of 56 input bits, as stuffWordsGo (the caller makes
// sure that every load and store stays in p and out):
//	v = x<<4 | l; m = runs of five 1s ending in the word
//	if m & m>>5 == 0 (no run of ten): s = m &^ m<<1, a zero after the
//	first five 1s of each run; the i-th of them (from 0), after input
//	bit j, lands at j+1+i: y = PDEP(x, ^zeros), k = 56 + POPCNT(s)
// The first three zeros are placed without a branch: with s2 = s<<1 (the
// bits after each j), s2 + BLSR(s2) + 2*BLSR(BLSR(s2)) moves the second
// bit up by one and the third by two (the bits are six or more apart, so
// the additions never carry); four to seven in a loop. The word's last
// r < 10 1s leave r mod 5
// of them at the end of the line: that is l for the next word, from the
// input alone (runs), so no word waits for the one before. A run of
// ten 1s takes a zero after every fifth 1 (slong), and l from y. A word
// that needs more than seven zeros is left to the caller (chunk).
//
// Registers: SI = &p[i], BX = words left, DI = &out[0], R15 = W, R8 = acc,
// R9 = n, R10 = l, R13 = &runs, R14 = 1; AX, CX, DX, R11, R12 scratch.
TEXT ·stuffWordsBMI2(SB), NOSPLIT, $0-120
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ words+48(FP), BX
	MOVQ acc+56(FP), R8
	MOVQ n+64(FP), R9
	MOVQ l+72(FP), R10
	XORL R15, R15
	MOVL $1, R14
	LEAQ runs<>(SB), R13
	TESTQ BX, BX
	JLE  sdone

sloop:
	MOVQ (SI), AX
	ANDQ mask56<>(SB), AX   // x
	LEAQ (AX)(AX*1), CX
	LEAQ (R10)(CX*8), CX    // v
	RORXQ $1, CX, DX
	ANDQ CX, DX
	RORXQ $2, DX, CX
	ANDQ CX, DX
	ANDQ AX, DX             // m (v>>4 is x)
	RORXQ $5, DX, CX
	TESTQ DX, CX
	JNE  slong              // a run of ten 1s
	LEAQ (DX)(DX*1), CX
	ANDNQ DX, CX, DX        // s = m &^ m<<1
	POPCNTQ DX, R12         // the number of zeros
	ADDQ DX, DX             // at j+1: s2
	BLSRQ DX, CX
	LEAQ (DX)(CX*1), R11    // all but the first move up by one
	BLSRQ CX, CX
	LEAQ (R11)(CX*2), R11   // all but two by one more: the zeros
	CMPQ R12, $3
	JHI  smany

sdeposit:
	ANDNQ mask56<>(SB), AX, CX
	LZCNTQ CX, CX           // 8 + the 1s at the end of the word
	MOVBQZX (R13)(CX*1), R10 // l
	NOTQ R11
	PDEPQ R11, AX, AX       // y

soutput:
	SHLXQ R9, R14, DX
	MULXQ AX, AX, DX
	ORQ  AX, R8
	MOVQ R8, (DI)(R15*8)
	LEAQ 56(R9)(R12*1), R9  // n += k = 56 + zeros
	BTRQ $6, R9
	CMOVQCS DX, R8
	ADCQ $0, R15
	ADDQ $7, SI
	DECQ BX
	JNE  sloop
	JMP  sdone

smany:
	// Four to seven zeros: place them one by one. Eight would
	// overflow y.
	CMPQ R12, $7
	JHI  sdone
	XORL R11, R11
	XORL R10, R10           // R10 (l) is set again at sdeposit

smore:
	TZCNTQ DX, CX
	JCS  sdeposit           // no more
	ADDQ R10, CX
	BTSQ CX, R11
	INCQ R10
	BLSRQ DX, DX
	JMP  smore

slong:
	// A run of ten or more 1s: after the first zero of a run, every
	// fifth 1 of the same run takes one.
	LEAQ (DX)(DX*1), CX
	ANDNQ DX, CX, R11       // s
	MOVQ R11, CX

slong1:
	SHLQ $5, CX
	ANDQ DX, CX             // the next fifth 1s
	ORQ  CX, R11
	TESTQ CX, CX
	JNE  slong1
	POPCNTQ R11, R12
	CMPQ R12, $7
	JHI  sdone              // y would overflow: the caller does it
	LEAQ (R11)(R11*1), DX   // at j+1
	XORL R11, R11
	XORL R10, R10           // R10 (l) is set again at slong3

slong2:
	TZCNTQ DX, CX
	JCS  slong3             // no more
	ADDQ R10, CX
	BTSQ CX, R11
	INCQ R10
	BLSRQ DX, DX
	JMP  slong2

slong3:
	NOTQ R11
	PDEPQ R11, AX, AX       // y
	LEAQ 52(R12), CX        // k-4
	SHRXQ CX, AX, R10
	ANDQ $15, R10           // l: the last four bits of y
	JMP  soutput

sdone:
	LEAQ (DI)(R15*8), DI
	MOVQ out_base+0(FP), AX
	ADDQ out_len+8(FP), AX
	SUBQ DI, AX
	MOVQ AX, left+80(FP)
	MOVQ p_base+24(FP), AX
	ADDQ p_len+32(FP), AX
	SUBQ SI, AX
	MOVQ AX, np+88(FP)
	MOVQ R8, racc+96(FP)
	MOVQ R9, rn+104(FP)
	MOVQ R10, rl+112(FP)
	RET

// func cpuid(leaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	XORL CX, CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET
