package auth

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
)

// Transform seals and opens data-phase payloads: one Noise transport message
// per LAPM I-frame payload, with the implicit 64-bit counter of the Noise
// CipherState (docs/access-security.md §3, "Data phase"). Its method set
// matches lapm.Transform, so the bridge hands it to the link unchanged.
//
// Seal and Open each keep their own counter: payloads must be opened exactly
// once and in the order they were sealed, which LAPM guarantees. Seal and
// Open may run concurrently with each other, but neither with itself.
type Transform interface {
	// Overhead is the number of octets Seal adds to a payload.
	Overhead() int
	// Seal appends the sealed form of plain to dst and returns it. It
	// returns nil once the counter is exhausted (after 2^64-2 payloads) or
	// after Wipe; the link must then clear the call.
	Seal(dst, plain []byte) []byte
	// Open appends the plaintext of sealed to dst. A payload that does not
	// authenticate returns an error wrapping ErrAuthFailed and leaves the
	// counter unchanged. dst may be sealed[:0] (open in place); any other
	// overlap between dst's spare capacity and sealed is not allowed.
	Open(dst, sealed []byte) ([]byte, error)
}

// ErrTransformClosed is returned by Open after Wipe.
var ErrTransformClosed = errors.New("auth: transform wiped")

// noiseTransform is the Transform of a call: the two CipherStates the
// handshake ended with, taken over as a ChaCha20-Poly1305 AEAD and a
// counter each.
type noiseTransform struct {
	send, recv transportCipher
}

var _ Transform = (*noiseTransform)(nil)

// transportCipher is one direction of the data phase: the Noise transport
// encryption of the Noise specification §5.1 (EncryptWithAd and
// DecryptWithAd with empty associated data) for the ChaChaPoly cipher of
// §12.3, whose 96-bit nonce is 32 zero bits followed by the counter n,
// little-endian. It is what noise.CipherState.Encrypt and Decrypt do
// (TestTransformMatchesNoise holds it to that); it exists because going
// through CipherState costs an allocation per payload, and it keeps the
// nonce in the struct so that a payload costs none.
type transportCipher struct {
	aead  cipher.AEAD // nil after Wipe
	n     uint64      // the next payload's counter
	nonce [chacha20poly1305.NonceSize]byte
}

// takeOver returns the transport cipher continuing cs (its key and its
// next counter). cs must use ChaChaPoly (cipherSuite) and must not be
// used afterwards.
func takeOver(cs *noise.CipherState) transportCipher {
	k := cs.UnsafeKey()
	aead, err := chacha20poly1305.New(k[:])
	clear(k[:])
	if err != nil {
		// New fails only for a key that is not 32 octets long.
		panic("auth: " + err.Error())
	}
	return transportCipher{aead: aead, n: cs.Nonce()}
}

// setNonce fills c.nonce with the counter n (Noise §12.3, ChaChaPoly).
func (c *transportCipher) setNonce() []byte {
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	return c.nonce[:]
}

func newTransform(send, recv *noise.CipherState) *noiseTransform {
	return &noiseTransform{send: takeOver(send), recv: takeOver(recv)}
}

func (t *noiseTransform) Overhead() int { return tagLen }

func (t *noiseTransform) Seal(dst, plain []byte) []byte {
	c := &t.send
	// The counter 2^64-1 is reserved (Noise §5.1); noise.MaxNonce is
	// the last one a payload may use.
	if c.aead == nil || c.n > noise.MaxNonce {
		return nil
	}
	out := c.aead.Seal(dst, c.setNonce(), plain, nil)
	c.n++
	return out
}

func (t *noiseTransform) Open(dst, sealed []byte) ([]byte, error) {
	c := &t.recv
	if c.aead == nil {
		return nil, ErrTransformClosed
	}
	if len(sealed) < tagLen {
		return nil, fmt.Errorf("auth: sealed payload of %d octets is shorter than the tag: %w", len(sealed), ErrAuthFailed)
	}
	if c.n > noise.MaxNonce {
		return nil, noiseErr("opening data payload", noise.ErrMaxNonce)
	}
	out, err := c.aead.Open(dst, c.setNonce(), sealed, nil)
	if err != nil {
		return nil, noiseErr("opening data payload", err)
	}
	c.n++
	return out, nil
}

// Wipe drops the keys of a Transform returned by this package; later Seal
// calls return nil and Open returns ErrTransformClosed. The key octets live
// inside golang.org/x/crypto's AEAD (and the handshake's noise CipherStates),
// which offer no way to zero them: Wipe drops the transform's references, so
// they become garbage, but it cannot overwrite them. It is for the call's
// owner to use when the call ends; it must not run concurrently with Seal or
// Open. Other Transform implementations are left alone.
func Wipe(t Transform) {
	if nt, ok := t.(*noiseTransform); ok {
		nt.send, nt.recv = transportCipher{}, transportCipher{}
	}
}
