package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/flynn/noise"
)

// CallerConfig configures the caller's side of the handshake.
type CallerConfig struct {
	// UserID and Password are the login sent in RESPONSE. Leave both
	// empty when Credentials is set.
	UserID   string
	Password string
	// Credentials, when set, gives the login only once the gateway has
	// proved its host key, so that a user asked for the password is
	// never asked by an impostor (as ssh asks after its host key
	// check). Call calls it exactly once, after CHALLENGE authenticated
	// and CheckHostKey accepted the key, and before RESPONSE is built;
	// not at all when the call ends before (REJECT, a refused key). It
	// gets Call's ctx (it may wait at a prompt; it should return when
	// ctx is done) and the name the gateway sent in CHALLENGE (free of
	// control characters, but chosen by the gateway). UserID and
	// Password must then be empty (ErrConfig). A non-nil error aborts
	// the call with nothing more sent (the gateway gets no RESPONSE:
	// hang up the link); Call's error wraps it. Call owns the returned
	// password: it zeroes its bytes once RESPONSE is sealed, or when the
	// call ends before (an error from Credentials; a user ID outside
	// 1..MaxUserIDLen octets or a password longer than MaxPasswordLen,
	// both ErrConfig; ctx done while Credentials ran).
	Credentials func(ctx context.Context, gatewayName string) (userID string, password []byte, err error)
	// HostName names the gateway for the known-hosts check (informational
	// here; CheckHostKey is what decides).
	HostName string
	// CheckHostKey is called with the gateway's static public key after
	// CHALLENGE authenticated and before RESPONSE is built. A non-nil error
	// aborts the call; the password never leaves the caller. Required: use
	// KnownHosts.Check (pinned or trust on first use).
	CheckHostKey func(pub []byte) error
	// WantCallback announces that the caller can take a callback.
	WantCallback bool
	// Cipher says whether the caller offers AES-256-GCM for the data
	// phase; the zero value, CipherAuto, offers it when this machine has
	// AES hardware. The gateway decides.
	Cipher CipherPolicy
	// Rand is the source of ephemeral keys; nil means crypto/rand.
	Rand io.Reader
	// Now is the caller's clock for callback ticket expiry; nil means
	// time.Now.
	Now func() time.Time
}

// CallResult is a successful handshake on the caller's side.
type CallResult struct {
	// SessionNumber is the gateway's session number for this call.
	SessionNumber uint64
	// Cipher is the data phase's AEAD (of the callback, with Callback).
	Cipher DataCipher
	// GatewayName is the name the gateway sent in CHALLENGE.
	GatewayName string
	// HostKey is the gateway's static public key (already checked).
	HostKey []byte
	// Callback is true when the gateway will call back: hang up now and
	// pass Ticket to AcceptCallback on the incoming call. Transform is then
	// nil.
	Callback bool
	// Transform seals and opens data-phase payloads (nil with Callback).
	Transform Transform
	// Ticket recognises and accepts the callback (nil without Callback).
	Ticket *CallerTicket
}

// caller is the caller's handshake state (docs/access-security.md §4).
type caller struct {
	cfg        CallerConfig
	conn       XIDConn
	caps       uint8
	hs         *noise.HandshakeState
	dh         *x25519 // the handshake's DH function (forgotten at the end)
	send, recv *noise.CipherState
	h          []byte
	userID     string // sent in RESPONSE: cfg.UserID or Credentials'
	result     CallResult
}

// Call runs phases i–iv as the caller over conn: INITIATE, CHALLENGE,
// the host-key check, the login (Credentials, when set), RESPONSE,
// CONFIRM. On REJECT it returns a *RejectError; on a host-key refusal an
// error wrapping ErrHostKeyRejected.
func Call(ctx context.Context, conn XIDConn, cfg CallerConfig) (*CallResult, error) {
	switch {
	case cfg.Credentials != nil:
		if cfg.UserID != "" || cfg.Password != "" {
			return nil, fmt.Errorf("auth: CallerConfig.Credentials excludes UserID and Password: %w", ErrConfig)
		}
	case checkUserID(cfg.UserID) != nil:
		return nil, fmt.Errorf("auth: CallerConfig.UserID: %w", ErrConfig)
	case len(cfg.Password) > MaxPasswordLen:
		return nil, fmt.Errorf("auth: CallerConfig.Password longer than %d octets: %w", MaxPasswordLen, ErrConfig)
	}
	if cfg.CheckHostKey == nil {
		return nil, fmt.Errorf("auth: CallerConfig.CheckHostKey is required: %w", ErrConfig)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &caller{cfg: cfg, conn: conn, caps: CapSealed}
	if cfg.WantCallback {
		c.caps |= CapCallback
	}
	if cfg.Cipher.wantsAES() {
		c.caps |= CapAESGCM
	}
	defer func() { c.dh.forget() }()
	return c.handshake(ctx)
}

func (c *caller) handshake(ctx context.Context) (*CallResult, error) {
	tok, err := c.sendInitiate(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.readChallenge(tok); err != nil {
		return nil, err
	}
	if err := c.cfg.CheckHostKey(c.result.HostKey); err != nil {
		return nil, fmt.Errorf("auth: gateway %q: %w: %w", c.cfg.HostName, ErrHostKeyRejected, err)
	}
	tok, err = c.sendResponse(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.readConfirm(tok); err != nil {
		return nil, err
	}
	return &c.result, nil
}

// sendInitiate sends phase i and returns the gateway's answer.
func (c *caller) sendInitiate(ctx context.Context) ([]byte, error) {
	prologue, err := nxPrologue(c.conn.NegotiationTranscript())
	if err != nil {
		return nil, err
	}
	var cs noise.CipherSuite
	cs, c.dh = suite()
	c.hs, err = noise.NewHandshakeState(noise.Config{
		CipherSuite: cs,
		Random:      c.cfg.Rand,
		Pattern:     noise.HandshakeNX,
		Initiator:   true,
		Prologue:    prologue,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: starting NX handshake: %w", err)
	}
	msg, _, _, err := c.hs.WriteMessage(nil, []byte{c.caps})
	if err != nil {
		return nil, fmt.Errorf("auth: writing INITIATE: %w", err)
	}
	resp, err := c.conn.ExchangeXID(ctx, appendInitiate(nil, msg))
	if err != nil {
		return nil, fmt.Errorf("auth: sending INITIATE: %w", err)
	}
	return resp, nil
}

// readChallenge processes phase ii (or a clear REJECT).
func (c *caller) readChallenge(tok []byte) error {
	if _, t, err := peekHeader(tok); err == nil && t == TypeReject {
		return c.readReject(tok, false)
	}
	msg, err := parseChallenge(tok)
	if err != nil {
		return err
	}
	payload, send, recv, err := c.hs.ReadMessage(nil, msg)
	if err != nil {
		return noiseErr("reading CHALLENGE", err)
	}
	if send == nil || recv == nil {
		return fmt.Errorf("auth: NX handshake did not complete after CHALLENGE: %w", ErrUnexpected)
	}
	p, err := parseChallengePayload(payload)
	if err != nil {
		return err
	}
	c.send, c.recv = send, recv
	c.h = c.hs.ChannelBinding()
	c.result.GatewayName = p.name
	c.result.HostKey = append([]byte(nil), c.hs.PeerStatic()...)
	return nil
}

// credentials returns the login for RESPONSE, the password in a slice
// the caller zeroes: from the configuration, or from Credentials, called
// now that the gateway has proved its host key.
func (c *caller) credentials(ctx context.Context) (string, []byte, error) {
	if c.cfg.Credentials == nil {
		return c.cfg.UserID, []byte(c.cfg.Password), nil
	}
	id, pw, err := c.cfg.Credentials(ctx, c.result.GatewayName)
	switch {
	case err != nil:
		err = fmt.Errorf("auth: credentials for gateway %q: %w", c.cfg.HostName, err)
	case checkUserID(id) != nil:
		err = fmt.Errorf("auth: CallerConfig.Credentials gave an invalid user ID: %w", ErrConfig)
	case len(pw) > MaxPasswordLen:
		err = fmt.Errorf("auth: CallerConfig.Credentials gave a password longer than %d octets: %w", MaxPasswordLen, ErrConfig)
	case ctx.Err() != nil:
		// The call was given up while Credentials ran: no RESPONSE.
		err = fmt.Errorf("auth: credentials for gateway %q: %w", c.cfg.HostName, context.Cause(ctx))
	}
	if err != nil {
		wipe(pw)
		return "", nil, err
	}
	return id, pw, nil
}

// sendResponse takes the login (credentials), sends phase iii and
// returns the gateway's answer.
func (c *caller) sendResponse(ctx context.Context) ([]byte, error) {
	id, pw, err := c.credentials(ctx)
	if err != nil {
		return nil, err
	}
	c.userID = id
	// Made at its final size: a buffer that grew while the password was
	// appended would leave copies of it behind, which no wipe reaches.
	p := responsePlain{caps: c.caps, userID: c.userID, password: pw}
	plain := p.append(make([]byte, 0, p.size()))
	wipe(pw)
	hdr := header(TypeResponse)
	tok, err := c.send.Encrypt(hdr, sealedAD(hdr, c.h), plain)
	wipe(plain)
	if err != nil {
		return nil, fmt.Errorf("auth: sealing RESPONSE: %w", err)
	}
	resp, err := c.conn.ExchangeXID(ctx, tok)
	if err != nil {
		return nil, fmt.Errorf("auth: sending RESPONSE: %w", err)
	}
	return resp, nil
}

// readConfirm processes phase iv.
func (c *caller) readConfirm(tok []byte) error {
	if _, t, err := peekHeader(tok); err == nil && t == TypeReject {
		return c.readReject(tok, true)
	}
	body, err := parseSealed(tok, TypeConfirm)
	if err != nil {
		return err
	}
	plain, err := c.recv.Decrypt(nil, sealedAD(tok[:headerLen], c.h), body)
	if err != nil {
		return noiseErr("opening CONFIRM", err)
	}
	p, err := parseConfirmPlain(plain)
	if err != nil {
		return err
	}
	c.result.SessionNumber = p.session
	c.result.Cipher = CipherChaChaPoly
	if p.aes {
		if c.caps&CapAESGCM == 0 {
			return fmt.Errorf("auth: CONFIRM picks AES-256-GCM, which the caller did not offer: %w", ErrUnexpected)
		}
		c.result.Cipher = CipherAESGCM
	}
	if !p.callback {
		tr, err := newTransform(c.result.Cipher, c.send, c.recv, true, c.h)
		if err != nil {
			return err
		}
		c.result.Transform = tr
		return nil
	}
	if c.caps&CapCallback == 0 {
		return fmt.Errorf("auth: CONFIRM asks for a callback the caller did not offer: %w", ErrUnexpected)
	}
	psk, id, err := callbackSecrets(c.send, c.recv, c.h)
	if err != nil {
		return err
	}
	c.result.Callback = true
	c.result.Ticket = &CallerTicket{
		id:      id,
		psk:     psk,
		userID:  c.userID,
		session: p.session,
		expires: c.cfg.Now().Add(time.Duration(p.callbackTTL) * time.Second),
		cipher:  c.result.Cipher,
		rand:    c.cfg.Rand,
		now:     c.cfg.Now,
	}
	return nil
}

// readReject turns a REJECT into a *RejectError. After the handshake
// (sealed=true) only the sealed form is acceptable; before, only the clear.
func (c *caller) readReject(tok []byte, sealed bool) error {
	r, err := parseReject(tok)
	if err != nil {
		return err
	}
	if r.sealed != sealed {
		return fmt.Errorf("auth: REJECT form (sealed=%v) not valid here: %w", r.sealed, ErrUnexpected)
	}
	if !sealed {
		if r.version != Version && r.reason != ReasonVersion {
			return fmt.Errorf("auth: clear REJECT has version %d: %w", r.version, ErrVersion)
		}
		return &RejectError{Reason: r.reason, PeerVersion: r.version}
	}
	if r.version != Version {
		return fmt.Errorf("auth: sealed REJECT has version %d: %w", r.version, ErrVersion)
	}
	plain, err := c.recv.Decrypt(nil, sealedAD(rejectSealedHeader, c.h), r.body)
	if err != nil {
		return noiseErr("opening REJECT", err)
	}
	return &RejectError{Reason: Reason(plain[0]), Authenticated: true, PeerVersion: r.version}
}
