package auth

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// DataCipher is the AEAD that seals data-phase payloads
// (docs/access-security.md §3, "Data phase"). The handshake itself always
// runs Noise with ChaCha20-Poly1305; the caller offers AES-256-GCM for the
// data phase in INITIATE and the gateway's CONFIRM says which one the call
// uses. The zero value means no sealed data phase (a call without Access
// Security, or an unknown Transform).
type DataCipher uint8

// Data-phase ciphers.
const (
	// CipherChaChaPoly continues the handshake's Noise CipherStates
	// (ChaCha20-Poly1305). Every caller and gateway speaks it.
	CipherChaChaPoly DataCipher = 1
	// CipherAESGCM is AES-256-GCM under keys derived from the handshake.
	// On a processor with AES and carry-less multiply instructions it
	// seals at about 2.5 times ChaCha20-Poly1305's rate (4.6 against
	// 1.8 GB/s, docs/BENCHMARKS.md); without them it is slower and not
	// constant-time.
	CipherAESGCM DataCipher = 2
)

func (c DataCipher) String() string {
	switch c {
	case CipherChaChaPoly:
		return "chacha20-poly1305"
	case CipherAESGCM:
		return "aes-256-gcm"
	}
	return "none"
}

// CipherPolicy says whether an end uses AES-256-GCM for the data phase: a
// caller whether it offers it, a gateway whether it takes an offer.
type CipherPolicy uint8

// Cipher policies.
const (
	// CipherAuto uses AES-256-GCM when this machine has AES hardware
	// (AESHardware), else ChaCha20-Poly1305.
	CipherAuto CipherPolicy = iota
	// CipherOnlyChaCha never uses AES-256-GCM.
	CipherOnlyChaCha
	// CipherPreferAES uses AES-256-GCM whenever the other end agrees, with
	// or without AES hardware here (for tests and measurements).
	CipherPreferAES
)

// wantsAES reports whether an end with policy p offers or takes AES-256-GCM.
func (p CipherPolicy) wantsAES() bool {
	switch p {
	case CipherOnlyChaCha:
		return false
	case CipherPreferAES:
		return true
	}
	return AESHardware()
}

// AESHardware reports whether this processor runs AES-GCM in hardware
// (AES rounds and carry-less multiplication), the same test crypto/tls
// makes before preferring AES-GCM. Without it Go's AES is a table-driven
// software implementation: slower than ChaCha20-Poly1305 and open to cache
// timing attacks. WebAssembly never has it.
func AESHardware() bool {
	switch runtime.GOARCH {
	case "amd64":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESCTR && cpu.S390X.HasGHASH
	case "ppc64", "ppc64le":
		return true // POWER8 and later, which Go requires
	}
	return false // 386, wasm, riscv64, ...: Go's AES-GCM has no assembly there
}
