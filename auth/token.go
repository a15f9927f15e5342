package auth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Version is the Access Security protocol version this package speaks
// (docs/access-security.md §6).
const Version = 1

// MaxTokenSize is the largest token, in octets, that the link carries in one
// XID exchange (docs/access-security.md §1, §7).
const MaxTokenSize = 2048

// Field limits (docs/access-security.md §7).
const (
	MaxUserIDLen   = 64
	MaxPasswordLen = 1024
	MaxNameLen     = 64
)

// TokenType is the second octet of every token (docs/access-security.md §2).
type TokenType uint8

// Token types.
const (
	TypeInitiate  TokenType = 0x01
	TypeChallenge TokenType = 0x02
	TypeResponse  TokenType = 0x03
	TypeConfirm   TokenType = 0x04
	TypeReject    TokenType = 0x05
	TypeCallback  TokenType = 0x06
	TypeAccept    TokenType = 0x07
)

var typeNames = map[TokenType]string{
	TypeInitiate: "INITIATE", TypeChallenge: "CHALLENGE", TypeResponse: "RESPONSE",
	TypeConfirm: "CONFIRM", TypeReject: "REJECT", TypeCallback: "CALLBACK", TypeAccept: "ACCEPT",
}

func (t TokenType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Capability bits carried in INITIATE and repeated in RESPONSE.
const (
	CapCallback uint8 = 0x01 // the caller can take a callback
	CapSealed   uint8 = 0x02 // the caller seals data-phase payloads (required in version 1)
	CapAESGCM   uint8 = 0x04 // the caller offers AES-256-GCM for the data phase
)

// Sizes of fixed fields.
const (
	headerLen    = 2
	keyLen       = 32 // X25519 public key
	tagLen       = 16 // ChaCha20-Poly1305 tag
	challengeLen = 32
	ticketIDLen  = 16
	pskLen       = 32
	padQuantum   = 128 // RESPONSE plaintext is padded to a multiple of this

	initiateLen     = headerLen + keyLen + 1
	challengeMinLen = headerLen + keyLen + keyLen + tagLen + challengeLen + 1 + tagLen
	confirmPlainLen = 8 + 1 + 8
	confirmLen      = headerLen + confirmPlainLen + tagLen
	rejectClearLen  = headerLen + 1 + 1
	rejectSealedLen = headerLen + 1 + 1 + tagLen
	callbackMinLen  = headerLen + ticketIDLen + keyLen + 8 + 8 + 1 + 1 + tagLen
	acceptLen       = headerLen + keyLen + 8 + tagLen
)

// REJECT forms (docs/access-security.md §2).
const (
	rejectClear  = 0x00
	rejectSealed = 0x01
)

// header returns the two header octets of a token of type t.
func header(t TokenType) []byte { return []byte{Version, byte(t)} }

// peekHeader checks the size limit and returns a token's version and type.
// It does not check the version: callers decide how to answer another one.
func peekHeader(tok []byte) (version uint8, t TokenType, err error) {
	if len(tok) > MaxTokenSize {
		return 0, 0, fmt.Errorf("auth: token of %d octets exceeds %d: %w", len(tok), MaxTokenSize, ErrMalformed)
	}
	if len(tok) < headerLen {
		return 0, 0, fmt.Errorf("auth: token of %d octets has no header: %w", len(tok), ErrMalformed)
	}
	return tok[0], TokenType(tok[1]), nil
}

// expectHeader checks that tok is a version-1 token of type want.
func expectHeader(tok []byte, want TokenType) error {
	v, t, err := peekHeader(tok)
	if err != nil {
		return err
	}
	if v != Version {
		return fmt.Errorf("auth: %s token has version %d, want %d: %w", t, v, Version, ErrVersion)
	}
	if t != want {
		return fmt.Errorf("auth: got %s token, want %s: %w", t, want, ErrUnexpected)
	}
	return nil
}

// initiateToken is phase i.
//
//	+----+----+------------------------------+------+
//	| 01 | 01 | e: caller ephemeral (32)     | caps |
//	+----+----+------------------------------+------+
type initiateToken struct {
	msg  []byte // Noise NX message 1: e ‖ caps (payload in clear)
	caps uint8
}

func appendInitiate(b []byte, noiseMsg []byte) []byte {
	b = append(b, header(TypeInitiate)...)
	return append(b, noiseMsg...)
}

func parseInitiate(tok []byte) (initiateToken, error) {
	if err := expectHeader(tok, TypeInitiate); err != nil {
		return initiateToken{}, err
	}
	if len(tok) != initiateLen {
		return initiateToken{}, fmt.Errorf("auth: INITIATE is %d octets, want %d: %w", len(tok), initiateLen, ErrMalformed)
	}
	// Bits this version does not know are offers it does not take: they
	// stay in caps (hashed into the handshake, repeated in RESPONSE) and
	// are otherwise ignored, so that a newer caller can call this gateway.
	caps := tok[initiateLen-1]
	if caps&CapSealed == 0 {
		return initiateToken{}, fmt.Errorf("auth: INITIATE capabilities lack SEALED: %w", ErrMalformed)
	}
	return initiateToken{msg: tok[headerLen:], caps: caps}, nil
}

// challengePayload is the plaintext inside CHALLENGE's Noise message 2.
//
//	challenge (32) | name length (1) | name
type challengePayload struct {
	challenge [challengeLen]byte
	name      string
}

func (p challengePayload) append(b []byte) []byte {
	b = append(b, p.challenge[:]...)
	b = append(b, byte(len(p.name)))
	return append(b, p.name...)
}

func parseChallengePayload(b []byte) (challengePayload, error) {
	var p challengePayload
	if len(b) < challengeLen+1 {
		return p, fmt.Errorf("auth: CHALLENGE payload of %d octets is short: %w", len(b), ErrMalformed)
	}
	copy(p.challenge[:], b)
	n := int(b[challengeLen])
	if n > MaxNameLen {
		return p, fmt.Errorf("auth: CHALLENGE gateway name length %d exceeds %d: %w", n, MaxNameLen, ErrMalformed)
	}
	if len(b) != challengeLen+1+n {
		return p, fmt.Errorf("auth: CHALLENGE gateway name length %d does not match %d remaining octets: %w", n, len(b)-challengeLen-1, ErrMalformed)
	}
	p.name = string(b[challengeLen+1:])
	if err := checkGatewayName(p.name); err != nil {
		return challengePayload{}, fmt.Errorf("auth: CHALLENGE gateway name: %w: %w", err, ErrMalformed)
	}
	return p, nil
}

// checkGatewayName accepts UTF-8 without control characters (C0, DEL,
// C1): the caller shows the name to its user, and a hostile gateway must
// not drive the user's terminal through it (docs/access-security.md §2).
func checkGatewayName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("not UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
			return fmt.Errorf("control character U+%04X", r)
		}
	}
	return nil
}

// parseChallenge checks a CHALLENGE token's framing and returns its Noise
// message 2.
//
//	+----+----+--------+---------------------+--------------------------+
//	| 02 | 02 | e (32) | enc(s): 32 + tag 16 | enc(payload): len + 16   |
//	+----+----+--------+---------------------+--------------------------+
func parseChallenge(tok []byte) ([]byte, error) {
	if err := expectHeader(tok, TypeChallenge); err != nil {
		return nil, err
	}
	if len(tok) < challengeMinLen || len(tok) > challengeMinLen+MaxNameLen {
		return nil, fmt.Errorf("auth: CHALLENGE is %d octets, want %d..%d: %w", len(tok), challengeMinLen, challengeMinLen+MaxNameLen, ErrMalformed)
	}
	return tok[headerLen:], nil
}

// responsePlain is the plaintext of RESPONSE.
//
//	caps (1) | uid length (1) | uid | pw length (2) | password | zero padding to a multiple of 128
type responsePlain struct {
	caps     uint8
	userID   string
	password []byte
}

// size is the length of p's encoding: the fields padded to a multiple of
// padQuantum.
func (p responsePlain) size() int {
	n := 2 + len(p.userID) + 2 + len(p.password)
	return (n + padQuantum - 1) / padQuantum * padQuantum
}

func (p responsePlain) append(b []byte) []byte {
	start := len(b)
	b = append(b, p.caps, byte(len(p.userID)))
	b = append(b, p.userID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.password)))
	b = append(b, p.password...)
	for (len(b)-start)%padQuantum != 0 {
		b = append(b, 0)
	}
	return b
}

func checkUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return fmt.Errorf("auth: user ID length %d outside 1..%d: %w", len(id), MaxUserIDLen, ErrMalformed)
	}
	return nil
}

func parseResponsePlain(b []byte) (responsePlain, error) {
	var p responsePlain
	if len(b) == 0 || len(b)%padQuantum != 0 {
		return p, fmt.Errorf("auth: RESPONSE plaintext of %d octets is not a positive multiple of %d: %w", len(b), padQuantum, ErrMalformed)
	}
	p.caps = b[0]
	n := int(b[1])
	if n == 0 || n > MaxUserIDLen {
		return p, fmt.Errorf("auth: RESPONSE user ID length %d outside 1..%d: %w", n, MaxUserIDLen, ErrMalformed)
	}
	rest := b[2:]
	if len(rest) < n+2 {
		return p, fmt.Errorf("auth: RESPONSE user ID overruns the token: %w", ErrMalformed)
	}
	p.userID = string(rest[:n])
	rest = rest[n:]
	pl := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if pl > MaxPasswordLen {
		return p, fmt.Errorf("auth: RESPONSE password length %d exceeds %d: %w", pl, MaxPasswordLen, ErrMalformed)
	}
	if len(rest) < pl {
		return p, fmt.Errorf("auth: RESPONSE password overruns the token: %w", ErrMalformed)
	}
	p.password = rest[:pl:pl]
	pad := rest[pl:]
	if len(pad) >= padQuantum {
		return p, fmt.Errorf("auth: RESPONSE padding of %d octets is too long: %w", len(pad), ErrMalformed)
	}
	for _, c := range pad {
		if c != 0 {
			return p, fmt.Errorf("auth: RESPONSE padding is not zero: %w", ErrMalformed)
		}
	}
	return p, nil
}

// parseSealed checks the framing of a token whose body is one AEAD output
// (RESPONSE, CONFIRM) and returns the body.
//
//	+----+----+-----------------------------+
//	| ver| typ| seal(plaintext) (+ tag 16)  |
//	+----+----+-----------------------------+
func parseSealed(tok []byte, want TokenType) ([]byte, error) {
	if err := expectHeader(tok, want); err != nil {
		return nil, err
	}
	body := tok[headerLen:]
	switch want {
	case TypeResponse:
		if len(body) < padQuantum+tagLen || (len(body)-tagLen)%padQuantum != 0 {
			return nil, fmt.Errorf("auth: RESPONSE body of %d octets is not a padded plaintext plus tag: %w", len(body), ErrMalformed)
		}
	case TypeConfirm:
		if len(tok) != confirmLen {
			return nil, fmt.Errorf("auth: CONFIRM is %d octets, want %d: %w", len(tok), confirmLen, ErrMalformed)
		}
	}
	return body, nil
}

// confirmPlain is the plaintext of CONFIRM.
//
//	session number (8) | flags (1) | callback TTL seconds (8)
//
// flags: confirmCallback, confirmAESGCM.
type confirmPlain struct {
	session     uint64
	callback    bool
	aes         bool   // the data phase uses AES-256-GCM
	callbackTTL uint64 // seconds
}

// CONFIRM flags.
const (
	confirmCallback = 0x01 // hang up and wait for the callback
	confirmAESGCM   = 0x02 // the data phase (of this call or the callback) uses AES-256-GCM
)

func (p confirmPlain) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, p.session)
	flags := byte(0)
	if p.callback {
		flags |= confirmCallback
	}
	if p.aes {
		flags |= confirmAESGCM
	}
	b = append(b, flags)
	return binary.BigEndian.AppendUint64(b, p.callbackTTL)
}

func parseConfirmPlain(b []byte) (confirmPlain, error) {
	var p confirmPlain
	if len(b) != confirmPlainLen {
		return p, fmt.Errorf("auth: CONFIRM plaintext is %d octets, want %d: %w", len(b), confirmPlainLen, ErrMalformed)
	}
	p.session = binary.BigEndian.Uint64(b)
	p.callbackTTL = binary.BigEndian.Uint64(b[9:])
	flags := b[8]
	if flags&^(confirmCallback|confirmAESGCM) != 0 {
		return p, fmt.Errorf("auth: CONFIRM flags 0x%02x has unknown bits: %w", flags, ErrMalformed)
	}
	p.callback = flags&confirmCallback != 0
	p.aes = flags&confirmAESGCM != 0
	switch {
	case !p.callback && p.callbackTTL != 0:
		return p, fmt.Errorf("auth: CONFIRM without callback has TTL %d: %w", p.callbackTTL, ErrMalformed)
	case p.callback && (p.callbackTTL == 0 || p.callbackTTL > maxCallbackTTL):
		return p, fmt.Errorf("auth: CONFIRM callback TTL %d outside 1..%d: %w", p.callbackTTL, maxCallbackTTL, ErrMalformed)
	}
	return p, nil
}

// maxCallbackTTL bounds the callback TTL a caller accepts (one day).
const maxCallbackTTL = 24 * 60 * 60

// rejectToken is a parsed REJECT.
//
//	+----+----+------+--------------------------+
//	| 05 | 05 | form | reason, clear or sealed  |
//	+----+----+------+--------------------------+
type rejectToken struct {
	version uint8
	sealed  bool
	reason  Reason // clear form only
	body    []byte // sealed form: AEAD output
}

func appendRejectClear(b []byte, r Reason) []byte {
	b = append(b, header(TypeReject)...)
	return append(b, rejectClear, byte(r))
}

// parseReject accepts a REJECT of any version: the clear form of a version
// REJECT carries the sender's own version.
func parseReject(tok []byte) (rejectToken, error) {
	v, t, err := peekHeader(tok)
	if err != nil {
		return rejectToken{}, err
	}
	if t != TypeReject {
		return rejectToken{}, fmt.Errorf("auth: got %s token, want REJECT: %w", t, ErrUnexpected)
	}
	if len(tok) < headerLen+1 {
		return rejectToken{}, fmt.Errorf("auth: REJECT has no form octet: %w", ErrMalformed)
	}
	switch tok[headerLen] {
	case rejectClear:
		if len(tok) != rejectClearLen {
			return rejectToken{}, fmt.Errorf("auth: clear REJECT is %d octets, want %d: %w", len(tok), rejectClearLen, ErrMalformed)
		}
		return rejectToken{version: v, reason: Reason(tok[3])}, nil
	case rejectSealed:
		if len(tok) != rejectSealedLen {
			return rejectToken{}, fmt.Errorf("auth: sealed REJECT is %d octets, want %d: %w", len(tok), rejectSealedLen, ErrMalformed)
		}
		return rejectToken{version: v, sealed: true, body: tok[headerLen+1:]}, nil
	default:
		return rejectToken{}, fmt.Errorf("auth: REJECT form %d unknown: %w", tok[headerLen], ErrMalformed)
	}
}

// rejectSealedHeader is the associated-data prefix of a sealed REJECT: its
// header and form octet.
var rejectSealedHeader = []byte{Version, byte(TypeReject), rejectSealed}

// callbackToken is phase v.
//
//	+----+----+----------------+--------+-----------------------------+
//	| 06 | 06 | ticket ID (16) | e (32) | enc(payload): len + tag 16  |
//	+----+----+----------------+--------+-----------------------------+
type callbackToken struct {
	ticketID [ticketIDLen]byte
	msg      []byte // NNpsk0 message 1
}

func appendCallback(b []byte, id [ticketIDLen]byte, noiseMsg []byte) []byte {
	b = append(b, header(TypeCallback)...)
	b = append(b, id[:]...)
	return append(b, noiseMsg...)
}

func parseCallback(tok []byte) (callbackToken, error) {
	var c callbackToken
	if err := expectHeader(tok, TypeCallback); err != nil {
		return c, err
	}
	if len(tok) < callbackMinLen || len(tok) > callbackMinLen+MaxUserIDLen-1 {
		return c, fmt.Errorf("auth: CALLBACK is %d octets, want %d..%d: %w", len(tok), callbackMinLen, callbackMinLen+MaxUserIDLen-1, ErrMalformed)
	}
	copy(c.ticketID[:], tok[headerLen:])
	c.msg = tok[headerLen+ticketIDLen:]
	return c, nil
}

// callbackPayload is the plaintext inside CALLBACK's NNpsk0 message 1.
//
//	session number (8) | expiry (8, Unix seconds) | uid length (1) | uid
type callbackPayload struct {
	session uint64
	expiry  int64
	userID  string
}

func (p callbackPayload) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, p.session)
	b = binary.BigEndian.AppendUint64(b, uint64(p.expiry))
	b = append(b, byte(len(p.userID)))
	return append(b, p.userID...)
}

func parseCallbackPayload(b []byte) (callbackPayload, error) {
	var p callbackPayload
	if len(b) < 17 {
		return p, fmt.Errorf("auth: CALLBACK payload of %d octets is short: %w", len(b), ErrMalformed)
	}
	p.session = binary.BigEndian.Uint64(b)
	p.expiry = int64(binary.BigEndian.Uint64(b[8:]))
	n := int(b[16])
	if n == 0 || n > MaxUserIDLen {
		return p, fmt.Errorf("auth: CALLBACK user ID length %d outside 1..%d: %w", n, MaxUserIDLen, ErrMalformed)
	}
	if len(b) != 17+n {
		return p, fmt.Errorf("auth: CALLBACK user ID length %d does not match %d remaining octets: %w", n, len(b)-17, ErrMalformed)
	}
	p.userID = string(b[17:])
	return p, nil
}

// parseAccept checks an ACCEPT token's framing and returns its NNpsk0
// message 2.
//
//	+----+----+--------+-----------------------+
//	| 07 | 07 | e (32) | enc(payload) (8 + 16) |
//	+----+----+--------+-----------------------+
func parseAccept(tok []byte) ([]byte, error) {
	if err := expectHeader(tok, TypeAccept); err != nil {
		return nil, err
	}
	if len(tok) != acceptLen {
		return nil, fmt.Errorf("auth: ACCEPT is %d octets, want %d: %w", len(tok), acceptLen, ErrMalformed)
	}
	return tok[headerLen:], nil
}

func parseAcceptPayload(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("auth: ACCEPT payload is %d octets, want 8: %w", len(b), ErrMalformed)
	}
	return binary.BigEndian.Uint64(b), nil
}
