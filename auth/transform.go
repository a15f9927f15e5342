package auth

import (
	"errors"
	"fmt"

	"github.com/flynn/noise"
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
	// counter unchanged.
	Open(dst, sealed []byte) ([]byte, error)
}

// ErrTransformClosed is returned by Open after Wipe.
var ErrTransformClosed = errors.New("auth: transform wiped")

// noiseTransform is the Transform over a pair of Noise CipherStates.
type noiseTransform struct {
	send, recv *noise.CipherState
}

var _ Transform = (*noiseTransform)(nil)

func newTransform(send, recv *noise.CipherState) *noiseTransform {
	return &noiseTransform{send: send, recv: recv}
}

func (t *noiseTransform) Overhead() int { return tagLen }

func (t *noiseTransform) Seal(dst, plain []byte) []byte {
	if t.send == nil {
		return nil
	}
	out, err := t.send.Encrypt(dst, nil, plain)
	if err != nil {
		return nil
	}
	return out
}

func (t *noiseTransform) Open(dst, sealed []byte) ([]byte, error) {
	if t.recv == nil {
		return nil, ErrTransformClosed
	}
	if len(sealed) < tagLen {
		return nil, fmt.Errorf("auth: sealed payload of %d octets is shorter than the tag: %w", len(sealed), ErrAuthFailed)
	}
	out, err := t.recv.Decrypt(dst, nil, sealed)
	if err != nil {
		return nil, noiseErr("opening data payload", err)
	}
	return out, nil
}

// Wipe drops the keys of a Transform returned by this package; later Seal
// calls return nil and Open returns ErrTransformClosed. The key octets live
// inside github.com/flynn/noise's cipher states, which offer no way to zero
// them: Wipe drops the only references, so they become garbage, but it
// cannot overwrite them. It is for the call's owner to use when the call
// ends; it must not run concurrently with Seal or Open. Other Transform
// implementations are left alone.
func Wipe(t Transform) {
	if nt, ok := t.(*noiseTransform); ok {
		nt.send, nt.recv = nil, nil
	}
}
