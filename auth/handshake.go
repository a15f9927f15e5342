package auth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// Protocol errors. They are wrapped with %w and a message saying which
// token or field was wrong.
var (
	// ErrMalformed: a token or its plaintext does not follow its layout.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrVersion: a token carries a version this package does not speak.
	ErrVersion = errors.New("auth: unsupported version")
	// ErrUnexpected: a well-formed token arrived where another was due
	// (out of order, reflected, or a REJECT form that cannot occur here).
	ErrUnexpected = errors.New("auth: unexpected token")
	// ErrAuthFailed: a Noise message or sealed token did not authenticate
	// (altered, replayed, reflected, wrong key, or a stripped XID offer).
	ErrAuthFailed = errors.New("auth: authentication failed")
	// ErrHostKeyRejected: the caller's host-key check refused the gateway's
	// static key; no RESPONSE (and so no password) was sent.
	ErrHostKeyRejected = errors.New("auth: host key rejected")
	// ErrConfig: a required configuration field is missing or invalid.
	ErrConfig = errors.New("auth: invalid configuration")
)

// Reason is a REJECT reason code (docs/access-security.md §5).
type Reason uint8

// Reason codes.
const (
	ReasonDenied              Reason = 1
	ReasonBusy                Reason = 2
	ReasonCallbackUnavailable Reason = 3
	ReasonProtocolError       Reason = 4
	ReasonTimeout             Reason = 5
	ReasonVersion             Reason = 6
	ReasonNotOffered          Reason = 7 // Access Security is not run on this line
)

var reasonNames = map[Reason]string{
	ReasonDenied:              "denied",
	ReasonBusy:                "busy",
	ReasonCallbackUnavailable: "callback-unavailable",
	ReasonProtocolError:       "protocol-error",
	ReasonTimeout:             "timeout",
	ReasonVersion:             "version",
	ReasonNotOffered:          "not-offered",
}

func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// RejectError reports a REJECT from the peer.
type RejectError struct {
	Reason Reason
	// Authenticated is true for a sealed REJECT (sent after the Noise
	// handshake completed, so it really came from the gateway). A clear
	// REJECT may have been forged by anyone on the line.
	Authenticated bool
	// PeerVersion is the version octet of the REJECT: for ReasonVersion,
	// the highest version the sender speaks.
	PeerVersion uint8
	// Sent is true when this end sent the REJECT (errors from Answer and
	// AcceptCallback) rather than received it.
	Sent bool
}

func (e *RejectError) Error() string {
	if e.Sent {
		return fmt.Sprintf("auth: rejected the call: %s", e.Reason)
	}
	how := "unauthenticated"
	if e.Authenticated {
		how = "authenticated"
	}
	return fmt.Sprintf("auth: peer rejected the call: %s (%s)", e.Reason, how)
}

// RejectReason reports the reason of a *RejectError anywhere in err's chain.
func RejectReason(err error) (Reason, bool) {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason, true
	}
	return 0, false
}

const (
	prologueNX       = "dialgate-access-security"
	prologueCallback = "dialgate-access-security-callback"

	labelCallbackPSK = "dialgate-as1 callback psk"
	labelTicketID    = "dialgate-as1 callback ticket id"
	labelDataC2G     = "dialgate-as1 data aes-256-gcm c->g"
	labelDataG2C     = "dialgate-as1 data aes-256-gcm g->c"
)

// cipherSuite is the Noise suite of docs/access-security.md §3 (25519,
// ChaChaPoly, SHA256) with flynn/noise's own DH function: the reference
// that suite (x25519.go), which the handshakes use, is tested against.
var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

// nxPrologue is "dialgate-access-security" ‖ 0x00 ‖ version ‖ len(transcript) ‖ transcript.
func nxPrologue(transcript []byte) ([]byte, error) {
	if len(transcript) > 0xFFFF {
		return nil, fmt.Errorf("auth: negotiation transcript of %d octets is too long: %w", len(transcript), ErrConfig)
	}
	b := append([]byte(prologueNX), 0, Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(transcript)))
	return append(b, transcript...), nil
}

// callbackPrologue is "dialgate-access-security-callback" ‖ 0x00 ‖ version ‖
// ticket ID ‖ len(transcript) ‖ transcript.
func callbackPrologue(id [ticketIDLen]byte, transcript []byte) ([]byte, error) {
	if len(transcript) > 0xFFFF {
		return nil, fmt.Errorf("auth: negotiation transcript of %d octets is too long: %w", len(transcript), ErrConfig)
	}
	b := append([]byte(prologueCallback), 0, Version)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(transcript)))
	return append(b, transcript...), nil
}

// sealedAD is the associated data of RESPONSE, CONFIRM and a sealed REJECT:
// the token's header (with the form octet for REJECT) followed by the NX
// handshake hash h.
func sealedAD(hdr, h []byte) []byte {
	ad := make([]byte, 0, len(hdr)+len(h))
	ad = append(ad, hdr...)
	return append(ad, h...)
}

// callbackSecrets derives the callback pre-shared key and ticket ID from a
// completed NX session: HKDF-SHA256 with IKM = k_c→g ‖ k_g→c and salt = h.
func callbackSecrets(c2g, g2c *noise.CipherState, h []byte) (psk [pskLen]byte, id [ticketIDLen]byte, err error) {
	k1, k2 := c2g.UnsafeKey(), g2c.UnsafeKey()
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, k1[:]...)
	ikm = append(ikm, k2[:]...)
	clear(k1[:])
	clear(k2[:])
	defer wipe(ikm)
	p, err := hkdf.Key(sha256.New, ikm, h, labelCallbackPSK, pskLen)
	if err != nil {
		return psk, id, fmt.Errorf("auth: deriving callback psk: %w", err)
	}
	copy(psk[:], p)
	wipe(p)
	t, err := hkdf.Key(sha256.New, ikm, h, labelTicketID, ticketIDLen)
	if err != nil {
		return psk, id, fmt.Errorf("auth: deriving ticket ID: %w", err)
	}
	copy(id[:], t)
	return psk, id, nil
}

// wipe zeroes key material or a password once it is no longer needed.
func wipe(b []byte) {
	clear(b)
}

// readRandom fills b from r, reporting a short read as an error.
func readRandom(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("auth: reading randomness: %w", err)
	}
	return nil
}

// noiseErr wraps an error from a Noise read as an authentication failure.
func noiseErr(what string, err error) error {
	return fmt.Errorf("auth: %s: %w: %w", what, ErrAuthFailed, err)
}
