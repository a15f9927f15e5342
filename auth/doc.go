// Package auth implements dialgate Access Security version 1: the
// four-phase handshake of security modems (INITIATE, CHALLENGE, RESPONSE,
// CONFIRM/REJECT) and the callback phases (CALLBACK, ACCEPT), carried in V.42
// LAPM XID frames (ITU-T V.42 §8.10, ISO/IEC 8885 private parameter set
// group 0xF0, set ID "DGAS1"), plus the answerer's policy: users, argon2id
// verification, throttling, host keys and known hosts.
//
// The wire protocol is specified in docs/access-security.md, which is the
// source of truth for token layouts, reason codes, key-derivation labels and
// test vectors. Its cryptography is the Noise Protocol Framework (revision
// 34): pattern NX (§7.4) with X25519, ChaCha20-Poly1305 and SHA-256 for
// phases i–iv, and NNpsk0 (§9) for the callback, with the pre-shared key
// derived by HKDF-SHA256 (RFC 5869) from the first session. The Noise
// implementation is github.com/flynn/noise, given an X25519 function over
// crypto/ecdh that spares it redundant scalar multiplications (x25519.go);
// nothing here is a home-made primitive.
//
// The caller runs Call; the gateway runs Answer on the INITIATE its link
// received. With callback, the gateway later runs PlaceCallback on the new
// call and the caller AcceptCallback. All four return a Transform that seals
// and opens data-phase I-frame payloads: with the handshake's
// ChaCha20-Poly1305 CipherStates, or with AES-256-GCM under keys derived
// from them when the caller offers it and the gateway takes it, both only
// with AES hardware (CipherPolicy, AESHardware). Both ends speak to the link through
// the small XIDConn interface, so the package is tested without LAPM.
//
// Failures are reported as sentinel errors (ErrMalformed, ErrVersion,
// ErrUnexpected, ErrAuthFailed, ErrHostKeyRejected, ticket errors) wrapped
// with context, and as *RejectError when the peer sent REJECT; use
// RejectReason to get the reason code.
package auth
