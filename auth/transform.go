package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

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

// noiseTransform is the Transform of a call: one AEAD and counter per
// direction, either the two CipherStates the handshake ended with (taken
// over as ChaCha20-Poly1305) or AES-256-GCM under keys derived from them
// (docs/access-security.md §3, "Data phase").
type noiseTransform struct {
	cipher     DataCipher
	send, recv transportCipher
}

var _ Transform = (*noiseTransform)(nil)

// transportCipher is one direction of the data phase: the Noise transport
// encryption of the Noise specification §5.1 (EncryptWithAd and
// DecryptWithAd with empty associated data) for the ChaChaPoly cipher of
// §12.3, whose 96-bit nonce is 32 zero bits followed by the counter n,
// little-endian, or the AESGCM cipher of §12.4, whose counter is
// big-endian. It is what noise.CipherState.Encrypt and Decrypt do
// (TestTransformMatchesNoise holds it to that); it exists because going
// through CipherState costs an allocation per payload, and it keeps the
// nonce in the struct so that a payload costs none.
type transportCipher struct {
	aead  cipher.AEAD // nil after Wipe, and for AES-256-GCM until first used
	n     uint64      // the next payload's counter
	aes   bool        // AES-256-GCM: big-endian nonces, rekeyed, AEAD made on first use
	key   [32]byte    // AES-256-GCM: the current key, for the AEAD and the rekey
	nonce [chacha20poly1305.NonceSize]byte
	// rekeyMask is aesRekeyEvery-1: an AES-256-GCM direction rekeys
	// when the next counter has none of these bits (a test sets a
	// shorter period).
	rekeyMask uint64
}

// aesRekeyEvery is how many payloads an AES-256-GCM key seals before both
// ends replace it with REKEY(k) (Noise §11.3, docs/access-security.md §3).
// AES-GCM's safety margin shrinks with the blocks sealed under one key;
// 2^20 payloads of at most 4 KiB are 2^28 blocks, far inside it. The
// counter runs on unchanged. ChaCha20-Poly1305 needs no rekey.
const aesRekeyEvery = 1 << 20

// chachaCipher returns the ChaCha20-Poly1305 transport cipher with key k,
// starting at counter n.
func chachaCipher(k []byte, n uint64) transportCipher {
	aead, err := chacha20poly1305.New(k)
	if err != nil {
		// New fails only for a key that is not 32 octets long.
		panic("auth: " + err.Error())
	}
	return transportCipher{aead: aead, n: n}
}

// aesCipher returns the AES-256-GCM transport cipher with key k, starting
// at counter 0. Its AEAD is made on first use (ready): the key schedule
// and GHASH tables take about 0.75 KiB per direction, which an idle call
// whose caller never typed would otherwise carry all along.
func aesCipher(k []byte) transportCipher {
	c := transportCipher{aes: true, rekeyMask: aesRekeyEvery - 1}
	copy(c.key[:], k)
	return c
}

// ready makes an AES-256-GCM direction's AEAD on first use and reports
// whether the direction can seal or open (false after Wipe).
func (c *transportCipher) ready() bool {
	if c.aead == nil && c.aes {
		c.aead = aesGCM(c.key[:])
	}
	return c.aead != nil
}

// aesGCM returns AES-256-GCM with key k.
func aesGCM(k []byte) cipher.AEAD {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic("auth: " + err.Error()) // only for a key of the wrong length
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("auth: " + err.Error()) // only for a block size other than 16
	}
	return aead
}

// advance moves on to the next counter after a payload sealed or opened,
// rekeying an AES-256-GCM direction every aesRekeyEvery payloads.
func (c *transportCipher) advance() {
	c.n++
	if c.aes && c.n&c.rekeyMask == 0 {
		c.rekey()
	}
}

// rekey replaces the key with REKEY(k) of Noise §11.3: the first 32 octets
// of ENCRYPT(k, 2^64−1, empty associated data, 32 zero octets). Counter
// 2^64−1 is reserved for it, so no payload shares its nonce.
func (c *transportCipher) rekey() {
	var zeros [32]byte
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], math.MaxUint64)
	out := c.aead.Seal(nil, nonce[:], zeros[:], nil)
	copy(c.key[:], out)
	clear(out)
	c.aead = aesGCM(c.key[:])
}

// setNonce fills c.nonce with the counter n (Noise §12.3 and §12.4).
func (c *transportCipher) setNonce() []byte {
	if c.aes {
		binary.BigEndian.PutUint64(c.nonce[4:], c.n)
	} else {
		binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	}
	return c.nonce[:]
}

// newTransform returns the data-phase transform of a completed handshake:
// send and recv are this end's CipherStates and h is the handshake hash.
// With ChaChaPoly the CipherStates continue (their keys and counters);
// with AESGCM each direction gets a fresh key derived from both (HKDF,
// §3) and counts from 0. send and recv must not be used afterwards.
func newTransform(dc DataCipher, send, recv *noise.CipherState, c2g bool, h []byte) (*noiseTransform, error) {
	ks, kr := send.UnsafeKey(), recv.UnsafeKey()
	defer clear(ks[:])
	defer clear(kr[:])
	if dc != CipherAESGCM {
		return &noiseTransform{
			cipher: CipherChaChaPoly,
			send:   chachaCipher(ks[:], send.Nonce()),
			recv:   chachaCipher(kr[:], recv.Nonce()),
		}, nil
	}
	// The derivation names the directions, not the ends: both ends must
	// feed k_c→g first. (Slices, so that no further copy of the keys
	// outlives the clears above.)
	kc2g, kg2c := ks[:], kr[:]
	if !c2g {
		kc2g, kg2c = kr[:], ks[:]
	}
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, kc2g...)
	ikm = append(ikm, kg2c...)
	defer wipe(ikm)
	keys := make([][]byte, 2)
	for i, label := range []string{labelDataC2G, labelDataG2C} {
		k, err := hkdf.Key(sha256.New, ikm, h, label, 32)
		if err != nil {
			return nil, fmt.Errorf("auth: deriving data-phase key: %w", err)
		}
		defer wipe(k)
		keys[i] = k
	}
	t := &noiseTransform{cipher: CipherAESGCM, send: aesCipher(keys[0]), recv: aesCipher(keys[1])}
	if !c2g {
		t.send, t.recv = t.recv, t.send
	}
	return t, nil
}

// Cipher returns the data-phase AEAD of a Transform returned by this
// package (0 for any other Transform).
func Cipher(t Transform) DataCipher {
	if nt, ok := t.(*noiseTransform); ok {
		return nt.cipher
	}
	return 0
}

func (t *noiseTransform) Overhead() int { return tagLen }

func (t *noiseTransform) Seal(dst, plain []byte) []byte {
	c := &t.send
	// The counter 2^64-1 is reserved (Noise §5.1); noise.MaxNonce is
	// the last one a payload may use.
	if !c.ready() || c.n > noise.MaxNonce {
		return nil
	}
	out := c.aead.Seal(dst, c.setNonce(), plain, nil)
	c.advance()
	return out
}

func (t *noiseTransform) Open(dst, sealed []byte) ([]byte, error) {
	c := &t.recv
	if !c.ready() {
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
	c.advance()
	return out, nil
}

// Wipe drops the keys of a Transform returned by this package; later Seal
// calls return nil and Open returns ErrTransformClosed. An AES-256-GCM
// direction's own copy of its key is overwritten. The expanded keys live
// inside the AEADs (x/crypto's ChaCha20-Poly1305, crypto/aes's schedule)
// and the handshake's noise CipherStates, which offer no way to zero them:
// Wipe drops the transform's references, so they become garbage, but it
// cannot overwrite them. It is for the call's
// owner to use when the call ends; it must not run concurrently with Seal or
// Open. Other Transform implementations are left alone.
func Wipe(t Transform) {
	if nt, ok := t.(*noiseTransform); ok {
		nt.Wipe()
	}
}

// Wipe is Wipe(t): lapm's Link.Close calls it once the link can no
// longer Seal or Open.
func (t *noiseTransform) Wipe() { t.send, t.recv = transportCipher{}, transportCipher{} }

// lapm.Link.Close finds the method by this interface.
var _ interface{ Wipe() } = (*noiseTransform)(nil)
