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

// bperm takes the eight words of a block apart: octets 7i..7i+6 of the
// input to octets 0..6 of lane i (VPERMB; K1 zeroes octet 7).
DATA bperm<>+0(SB)/8, $0x0006050403020100
DATA bperm<>+8(SB)/8, $0x000d0c0b0a090807
DATA bperm<>+16(SB)/8, $0x0014131211100f0e
DATA bperm<>+24(SB)/8, $0x001b1a1918171615
DATA bperm<>+32(SB)/8, $0x002221201f1e1d1c
DATA bperm<>+40(SB)/8, $0x0029282726252423
DATA bperm<>+48(SB)/8, $0x00302f2e2d2c2b2a
DATA bperm<>+56(SB)/8, $0x0037363534333231
GLOBL bperm<>(SB), RODATA|NOPTR, $64

// OUTWORD appends word i of the block in slot R13 of the scratch area at
// R12 (the input bits at 8i, the mask of the bits to keep or of where
// they go at 128+8i, the number of output bits at 256+8i) to the
// accumulator, its bits taken or placed by op (PEXTQ or PDEPQ), as
// soutput and dloop do.
#define OUTWORD(i, op) \
	MOVQ (8*i)(R12)(R13*1), AX; \
	op (128+8*i)(R12)(R13*1), AX, AX; \
	SHLXQ R9, R14, DX; \
	MULXQ AX, AX, DX; \
	ORQ AX, R8; \
	MOVQ R8, (DI)(R15*8); \
	ADDQ (256+8*i)(R12)(R13*1), R9; \
	BTRQ $6, R9; \
	CMOVQCS DX, R8; \
	ADCQ $0, R15

#define OUTBLOCK(op) \
	OUTWORD(0, op); OUTWORD(1, op); OUTWORD(2, op); OUTWORD(3, op); \
	OUTWORD(4, op); OUTWORD(5, op); OUTWORD(6, op); OUTWORD(7, op)

// func stuffBlocksAVX512(out, p []byte, blocks int, acc uint64, n uint, l uint64) (left, np int, racc uint64, rn uint, rl uint64)
//
// Up to blocks blocks of eight words of 56 input bits, as stuffWordsBMI2
// (the caller makes sure that every load, 64 octets per block, and every
// store stays in p and out). The vector part finds the zeros of all eight
// words of a block at once, as sloop does for one; what a word needs from
// the word before, l, comes from that word's input alone (runs), so no
// lane waits for another:
//	x = the eight words; l after each = runs[LZCNT(^x within 56 bits)];
//	l before each = the lane below's (lane 0: the last block's lane 7)
//	v = x<<4 | l; m = v & v>>1 & v>>2 & v>>3 & v>>4 (v>>4 is x)
//	s = m &^ m<<1; while (s<<5) & m has new bits: s |= them (runs of ten)
//	k = POPCNT(s); s2 = s<<1; zeros = s2 + u1 + 2*u2 + 4*u3 + ... with
//	u_i = BLSR^i(s2): the i-th zero moves up by i (the sum is exact)
// The vector part saves a block's x, deposit masks ^zeros and lengths
// 56 + k in one of two slots of the scratch area; the scalar part then
// deposits and appends the words of the block before (OUTBLOCK), so that
// the two run side by side and a word's load never waits for the store
// that wrote it. A block with a word of more than seven zeros (y would
// overflow) stops the loop before it: the caller gives it to
// stuffWordsBMI2. Blocks whose words have at most three zeros and no run
// of ten, most of them, take the short sum.
//
// Registers: SI = &p[i], BX = blocks left to find, CX = 1 once a block
// waits for its output, R13 = the slot of the block found next (0 or 64)
// in the scratch area at R12 (64-aligned), DI = &out[0], R15 = W, R8 =
// acc, R9 = n, R14 = 1; AX, DX scratch. Z16 x, Z17 l after, Z18 l
// before, Z19-Z21 v, m; Z22 s, zeros; Z23 k; Z24 the last block's l;
// constants Z25 7, Z26 3, Z27 all 1s, Z28 56, Z29 runs, Z30 mask56, Z31
// bperm; K1 octets 0..6 of each lane.
TEXT ·stuffBlocksAVX512(SB), NOSPLIT, $448-120
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ blocks+48(FP), BX
	MOVQ acc+56(FP), R8
	MOVQ n+64(FP), R9
	XORL R15, R15
	XORL R13, R13
	XORL CX, CX
	MOVL $1, R14
	LEAQ 63(SP), R12
	ANDQ $~63, R12
	VMOVDQU64 bperm<>(SB), Z31
	VPBROADCASTQ mask56<>(SB), Z30
	VMOVDQU64 runs<>(SB), Z29
	MOVL $56, AX
	VPBROADCASTQ AX, Z28
	VPTERNLOGQ $0xff, Z27, Z27, Z27
	MOVL $3, AX
	VPBROADCASTQ AX, Z26
	MOVL $7, AX
	VPBROADCASTQ AX, Z25
	VPBROADCASTQ l+72(FP), Z24
	MOVQ $0x7f7f7f7f7f7f7f7f, AX
	KMOVQ AX, K1

vloop:
	TESTQ BX, BX
	JZ   vlast
	VPERMB.Z (SI), Z31, K1, Z16        // x
	VPANDNQ Z30, Z16, Z17
	VPLZCNTQ Z17, Z17                  // 8 + the 1s at the end of each word
	VPERMB Z29, Z17, Z17               // l after each word
	VALIGNQ $7, Z24, Z17, Z18          // l before each word
	VPSLLQ $4, Z16, Z19
	VPORQ Z18, Z19, Z19                // v
	VPSRLQ $1, Z19, Z20
	VPANDQ Z19, Z20, Z20
	VPSRLQ $2, Z20, Z21
	VPANDQ Z20, Z21, Z21
	VPANDQ Z16, Z21, Z21               // m
	VPADDQ Z21, Z21, Z22
	VPANDNQ Z21, Z22, Z22              // s = m &^ m<<1
	VPSLLQ $5, Z22, Z23
	VPTESTMQ Z23, Z21, K2              // words with a run of ten 1s
	KORTESTW K2, K2
	JNZ  vlong
	VPOPCNTQ Z22, Z23                  // k
	VPCMPUQ $6, Z26, Z23, K3           // k > 3
	KORTESTW K3, K3
	JNZ  vbig
	VPADDQ Z22, Z22, Z22               // s2: at j+1
	VPADDQ Z27, Z22, Z20
	VPANDQ Z22, Z20, Z20               // u1
	VPADDQ Z27, Z20, Z21
	VPANDQ Z20, Z21, Z21               // u2
	VPADDQ Z20, Z22, Z22
	VPADDQ Z21, Z22, Z22
	VPADDQ Z21, Z22, Z22               // the zeros

vsave:
	VPXORQ Z27, Z22, Z22               // the deposit mask
	VPADDQ Z28, Z23, Z23               // 56 + k
	VMOVDQA64 Z16, 0(R12)(R13*1)
	VMOVDQA64 Z22, 128(R12)(R13*1)
	VMOVDQA64 Z23, 256(R12)(R13*1)
	VMOVDQA64 Z17, Z24
	ADDQ $56, SI
	DECQ BX
	XORQ $64, R13                      // the slot of the block before
	TESTQ CX, CX
	MOVL $1, CX
	JZ   vloop                         // the first block: none before

	// The block before this one, while the vector units work on this.
	OUTBLOCK(PDEPQ)
	JMP  vloop

vlast:
	// The last block computed.
	TESTQ CX, CX
	JZ   vdone
	XORQ $64, R13
	OUTBLOCK(PDEPQ)
	JMP  vdone

vlong:
	// A run of ten or more 1s: after the first zero of a run, every
	// fifth 1 of the same run takes one.
	VPSLLQ $5, Z22, Z23
	VPANDQ Z21, Z23, Z23
	VPANDNQ Z23, Z22, Z20              // the next fifth 1s not yet in s
	VPTESTMQ Z20, Z20, K2
	KORTESTW K2, K2
	JZ   vlong1
	VPORQ Z20, Z22, Z22
	JMP  vlong

vlong1:
	VPOPCNTQ Z22, Z23                  // k

vbig:
	VPCMPUQ $6, Z25, Z23, K3           // k > 7
	KORTESTW K3, K3
	JZ   vmany
	XORL BX, BX                        // y would overflow: the caller does it
	JMP  vlast

vmany:
	// Up to seven zeros: the sum with all six BLSRs.
	VPADDQ Z22, Z22, Z22               // s2
	VMOVDQA64 Z22, Z19                 // u
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u1
	VPADDQ Z19, Z22, Z22
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u2
	VPSLLQ $1, Z19, Z20
	VPADDQ Z20, Z22, Z22
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u3
	VPSLLQ $2, Z19, Z20
	VPADDQ Z20, Z22, Z22
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u4
	VPSLLQ $3, Z19, Z20
	VPADDQ Z20, Z22, Z22
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u5
	VPSLLQ $4, Z19, Z20
	VPADDQ Z20, Z22, Z22
	VPADDQ Z27, Z19, Z20
	VPANDQ Z20, Z19, Z19               // u6
	VPSLLQ $5, Z19, Z20
	VPADDQ Z20, Z22, Z22               // the zeros
	JMP  vsave

vdone:
	VMOVDQA64 Z24, 0(R12)
	MOVQ 56(R12), R10                  // l: lane 7
	VZEROUPPER
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

// tperm takes the eight windows of a block apart: octets 7i..7i+7 of the
// line to lane i (VPERMB).
DATA tperm<>+0(SB)/8, $0x0706050403020100
DATA tperm<>+8(SB)/8, $0x0e0d0c0b0a090807
DATA tperm<>+16(SB)/8, $0x1514131211100f0e
DATA tperm<>+24(SB)/8, $0x1c1b1a1918171615
DATA tperm<>+32(SB)/8, $0x232221201f1e1d1c
DATA tperm<>+40(SB)/8, $0x2a29282726252423
DATA tperm<>+48(SB)/8, $0x31302f2e2d2c2b2a
DATA tperm<>+56(SB)/8, $0x3837363534333231
GLOBL tperm<>(SB), RODATA|NOPTR, $64

// func unstuffBlocksAVX512(out []byte, o int, p []byte, i, blocks int, sh uint, last5, acc uint64, nacc uint) (ro, ri int, rlast5, racc uint64, rnacc uint)
//
// Up to blocks blocks of eight windows of 56 line bits, as
// unstuffLoopBMI2 (the caller makes sure that every load, 64 octets per
// block, and every store stays in p and out). The vector part does dloop's
// work up to the PEXT for all eight windows of a block at once; the five
// bits before a window are the last five of the window below (lane 0: of
// the last block's lane 7), line bits, so no lane waits for another:
//	t = the eight windows, each shifted right by sh
//	last5 after each = t>>51 & 31; before each = the lane below's
//	v = t<<5 | last5; z = v & v>>1 & v>>2 & v>>3 & v>>4 & mask57
//	if z & t != 0 in any lane: a flag or an abort; stop before the block
//	keep = mask56 &^ z, k = POPCNT(keep)
// and saves them in one of two slots of the scratch area, while the scalar
// part takes the bits of the block before (PEXT) and appends them
// (OUTBLOCK), as in stuffBlocksAVX512.
//
// Registers: SI = &p[i], BX = blocks left to look at, CX = 1 once a
// block waits for its output, R13 = the slot of the block found next,
// R12 = the scratch area, DI = &out[o], R15 = W, R8 = acc, R9 = nacc,
// R14 = 1; AX, DX scratch. Z16 t, Z17 last5 after, Z18 last5 before,
// Z19-Z22 v, z, keep, k; Z24 the last block's last5; constants Z27 sh,
// Z28 31, Z29 mask57, Z30 mask56, Z31 tperm.
TEXT ·unstuffBlocksAVX512(SB), NOSPLIT, $448-144
	MOVQ out_base+0(FP), DI
	ADDQ o+24(FP), DI
	MOVQ p_base+32(FP), SI
	ADDQ i+56(FP), SI
	MOVQ blocks+64(FP), BX
	MOVQ acc+88(FP), R8
	MOVQ nacc+96(FP), R9
	XORL R15, R15
	XORL R13, R13
	XORL CX, CX
	MOVL $1, R14
	LEAQ 63(SP), R12
	ANDQ $~63, R12
	VMOVDQU64 tperm<>(SB), Z31
	VPBROADCASTQ mask56<>(SB), Z30
	VPBROADCASTQ mask57<>(SB), Z29
	MOVL $31, AX
	VPBROADCASTQ AX, Z28
	VPBROADCASTQ sh+72(FP), Z27
	VPBROADCASTQ last5+80(FP), Z24

uloop:
	TESTQ BX, BX
	JZ   ulast
	VPERMB (SI), Z31, Z16
	VPSRLVQ Z27, Z16, Z16              // t
	VPSRLQ $51, Z16, Z17
	VPANDQ Z28, Z17, Z17               // last5 after each window
	VALIGNQ $7, Z24, Z17, Z18          // last5 before each window
	VPSLLQ $5, Z16, Z19
	VPORQ Z18, Z19, Z19                // v
	VPSRLQ $1, Z19, Z20
	VPANDQ Z19, Z20, Z20
	VPSRLQ $2, Z20, Z21
	VPANDQ Z20, Z21, Z21
	VPSRLQ $4, Z19, Z22
	VPTERNLOGQ $0x80, Z29, Z22, Z21    // z
	VPTESTMQ Z16, Z21, K2              // a 1 after five: flag or abort
	KORTESTW K2, K2
	JNZ  ustop
	VPANDNQ Z30, Z21, Z21              // keep
	VPOPCNTQ Z21, Z22                  // k
	VMOVDQA64 Z16, 0(R12)(R13*1)
	VMOVDQA64 Z21, 128(R12)(R13*1)
	VMOVDQA64 Z22, 256(R12)(R13*1)
	VMOVDQA64 Z17, Z24
	ADDQ $56, SI
	DECQ BX
	XORQ $64, R13                      // the slot of the block before
	TESTQ CX, CX
	MOVL $1, CX
	JZ   uloop                         // the first block: none before

	// The block before this one, while the vector units work on this.
	OUTBLOCK(PEXTQ)
	JMP  uloop

ustop:
	XORL BX, BX

ulast:
	// The last block found.
	TESTQ CX, CX
	JZ   udone
	XORQ $64, R13
	OUTBLOCK(PEXTQ)

udone:
	VMOVDQA64 Z24, 0(R12)
	MOVQ 56(R12), R10                  // last5: lane 7
	VZEROUPPER
	LEAQ (DI)(R15*8), DI
	SUBQ out_base+0(FP), DI
	MOVQ DI, ro+104(FP)
	SUBQ p_base+32(FP), SI
	MOVQ SI, ri+112(FP)
	MOVQ R10, rlast5+120(FP)
	MOVQ R8, racc+128(FP)
	MOVQ R9, rnacc+136(FP)
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
