package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flynn/noise"
)

// Defaults for AnswererConfig.
const (
	DefaultHandshakeDeadline = 30 * time.Second
	DefaultCallbackTTL       = 2 * time.Minute
)

// AnswererConfig configures the gateway's side of the handshake.
type AnswererConfig struct {
	// HostKey is the gateway's X25519 static key (LoadOrCreateHostKey).
	HostKey HostKey
	// Name is sent to the caller in CHALLENGE: at most MaxNameLen octets
	// of UTF-8 without control characters.
	Name string
	// Verify checks a user ID and password: the Verifier's Verify bound to
	// the call's source address. It runs only after RESPONSE decrypted.
	// Errors: ErrDenied and ErrBusy map to those reasons; a context error
	// to timeout; anything else to denied.
	Verify func(ctx context.Context, userID, password string) (User, error)
	// AllocateSession returns the next never-repeating session number. An
	// error rejects the call as busy.
	AllocateSession func() (uint64, error)
	// ScheduleCallback, if set, is called with the ticket when the user
	// has a callback address (and the caller can take a callback), after
	// AllocateSession and before CONFIRM is sent: the gateway schedules
	// the callback there, so that CONFIRM promises only a callback that
	// will be placed. An error is answered with the sealed REJECT
	// callback-unavailable instead of CONFIRM, and Answer returns it
	// wrapped; the ticket is wiped then, and when CONFIRM cannot be sent
	// after all (a callback scheduled for it fails its proof). Answer
	// failing after ScheduleCallback returned nil means CONFIRM was not
	// sent: the gateway should withdraw the callback, which no one was
	// promised, rather than ring the user's line for a spent ticket.
	ScheduleCallback func(t *Ticket) error
	// Rand is the source of ephemeral keys and challenges; nil means
	// crypto/rand.
	Rand io.Reader
	// Now is the gateway's clock; nil means time.Now.
	Now func() time.Time
	// Deadline bounds the handshake from INITIATE to CONFIRM; zero means
	// DefaultHandshakeDeadline.
	Deadline time.Duration
	// CallbackTTL is how long a callback ticket lives (whole seconds, at
	// most 24 h); zero means DefaultCallbackTTL.
	CallbackTTL time.Duration
	// Cipher says whether the gateway takes a caller's offer of
	// AES-256-GCM for the data phase; the zero value, CipherAuto, takes it
	// when this machine has AES hardware.
	Cipher CipherPolicy
}

// AnswerResult is a successful handshake on the gateway's side.
type AnswerResult struct {
	User          User
	SessionNumber uint64
	// Cipher is the data phase's AEAD (of the callback, with Callback).
	Cipher DataCipher
	// Transform seals and opens data-phase payloads. It is nil when
	// Callback is set: the caller hangs up and the data phase runs on the
	// callback.
	Transform Transform
	// Callback is the ticket for PlaceCallback when the user has a callback
	// address (User.Callback).
	Callback *Ticket
}

// answerer is the gateway's handshake state (docs/access-security.md §4).
type answerer struct {
	cfg        AnswererConfig
	conn       XIDConn
	first      []byte // the INITIATE token
	caps       uint8
	hs         *noise.HandshakeState
	dh         *x25519 // the handshake's DH function (forgotten at the end)
	send, recv *noise.CipherState
	h          []byte
}

// Answer runs phases i–iv as the gateway. first is the INITIATE payload the
// link's AcceptXID already returned; Answer sends CHALLENGE with
// conn.RespondXID, reads RESPONSE with AcceptXID and answers CONFIRM or
// REJECT. On every failure after INITIATE it sends REJECT with the matching
// reason before returning the error (a *RejectError describing what was sent
// when the cause was the policy: denied, busy, callback-unavailable).
//
// Answer does not throttle: the bridge calls Throttle.BeginHandshake for the
// source before Answer (answering RejectInitiate(conn, ReasonBusy) when it
// refuses) and binds Verifier.Verify to the source in cfg.Verify.
func Answer(ctx context.Context, conn XIDConn, first []byte, cfg AnswererConfig) (*AnswerResult, error) {
	if len(cfg.HostKey.Private) != keyLen || len(cfg.HostKey.Public) != keyLen {
		return nil, fmt.Errorf("auth: AnswererConfig.HostKey is not an X25519 key pair: %w", ErrConfig)
	}
	if len(cfg.Name) > MaxNameLen {
		return nil, fmt.Errorf("auth: AnswererConfig.Name longer than %d octets: %w", MaxNameLen, ErrConfig)
	}
	if err := checkGatewayName(cfg.Name); err != nil {
		return nil, fmt.Errorf("auth: AnswererConfig.Name: %v: %w", err, ErrConfig)
	}
	if cfg.Verify == nil || cfg.AllocateSession == nil {
		return nil, fmt.Errorf("auth: AnswererConfig.Verify and AllocateSession are required: %w", ErrConfig)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultHandshakeDeadline
	}
	if cfg.CallbackTTL <= 0 {
		cfg.CallbackTTL = DefaultCallbackTTL
	}
	if cfg.CallbackTTL > maxCallbackTTL*time.Second {
		return nil, fmt.Errorf("auth: AnswererConfig.CallbackTTL %v exceeds %v: %w", cfg.CallbackTTL, maxCallbackTTL*time.Second, ErrConfig)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	a := &answerer{cfg: cfg, conn: conn, first: first}
	defer func() { a.dh.forget() }()
	return a.handshake(ctx)
}

// RejectInitiate answers an INITIATE the gateway will not process (lines
// full, too many pending handshakes from the source) with a clear REJECT.
func RejectInitiate(conn XIDConn, r Reason) error {
	if err := conn.RespondXID(appendRejectClear(nil, r)); err != nil {
		return fmt.Errorf("auth: sending REJECT: %w", err)
	}
	return nil
}

func (a *answerer) handshake(ctx context.Context) (*AnswerResult, error) {
	if err := a.sendChallenge(); err != nil {
		return nil, err
	}
	resp, err := a.readResponse(ctx)
	if err != nil {
		return nil, err
	}
	defer wipe(resp.password)
	user, err := a.cfg.Verify(ctx, resp.userID, string(resp.password))
	if err != nil {
		return nil, a.rejectVerify(ctx, err)
	}
	if user.Callback != "" && a.caps&CapCallback == 0 {
		return nil, a.reject(ReasonCallbackUnavailable, fmt.Errorf("auth: user %q requires callback the caller cannot take", user.ID))
	}
	session, err := a.cfg.AllocateSession()
	if err != nil {
		return nil, a.reject(ReasonBusy, fmt.Errorf("auth: allocating session number: %w", err))
	}
	return a.sendConfirm(user, session)
}

// sendChallenge processes INITIATE (phase i) and answers CHALLENGE (ii).
func (a *answerer) sendChallenge() error {
	init, err := parseInitiate(a.first)
	if err != nil {
		return a.rejectInitiate(err)
	}
	a.caps = init.caps
	prologue, err := nxPrologue(a.conn.NegotiationTranscript())
	if err != nil {
		return err
	}
	var cs noise.CipherSuite
	cs, a.dh = suite(a.cfg.HostKey.ecdhKey())
	a.hs, err = noise.NewHandshakeState(noise.Config{
		CipherSuite:   cs,
		Random:        a.cfg.Rand,
		Pattern:       noise.HandshakeNX,
		Initiator:     false,
		Prologue:      prologue,
		StaticKeypair: noise.DHKey{Private: a.cfg.HostKey.Private, Public: a.cfg.HostKey.Public},
	})
	if err != nil {
		return fmt.Errorf("auth: starting NX handshake: %w", err)
	}
	if _, _, _, err := a.hs.ReadMessage(nil, init.msg); err != nil {
		return noiseErr("reading INITIATE", err)
	}
	var p challengePayload
	if err := readRandom(a.cfg.Rand, p.challenge[:]); err != nil {
		return err
	}
	p.name = a.cfg.Name
	msg, c2g, g2c, err := a.hs.WriteMessage(nil, p.append(nil))
	if err != nil {
		err = fmt.Errorf("auth: writing CHALLENGE: %w", err)
		if errors.Is(err, ErrMalformed) {
			// The caller's e is of low order (x25519.DH): a malformed
			// INITIATE, which the caller must hear about.
			return a.rejectInitiate(err)
		}
		return err
	}
	a.recv, a.send = c2g, g2c
	a.h = a.hs.ChannelBinding()
	tok := append(header(TypeChallenge), msg...)
	if err := a.conn.RespondXID(tok); err != nil {
		return fmt.Errorf("auth: sending CHALLENGE: %w", err)
	}
	return nil
}

// rejectInitiate answers a malformed INITIATE (err, wrapping ErrMalformed
// or ErrVersion) with a clear REJECT and returns err wrapped in a
// *RejectError describing what was sent.
func (a *answerer) rejectInitiate(err error) error {
	reason := ReasonProtocolError
	if errors.Is(err, ErrVersion) {
		reason = ReasonVersion
	}
	re := &RejectError{Reason: reason, PeerVersion: Version, Sent: true}
	if rerr := RejectInitiate(a.conn, reason); rerr != nil {
		return fmt.Errorf("%w: %w (%w)", re, err, rerr)
	}
	return fmt.Errorf("%w: %w", re, err)
}

// readResponse waits for and opens RESPONSE (phase iii). Failures after the
// handshake completed are answered with a sealed REJECT.
func (a *answerer) readResponse(ctx context.Context) (responsePlain, error) {
	tok, err := a.conn.AcceptXID(ctx)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			// The line may still be up: tell the caller why.
			return responsePlain{}, a.reject(ReasonTimeout, fmt.Errorf("auth: waiting for RESPONSE: %w", err))
		case errors.Is(err, ErrMalformed):
			// A token the link did not take (too long): answered.
			return responsePlain{}, a.protocolError(fmt.Errorf("auth: RESPONSE: %w", err))
		}
		return responsePlain{}, fmt.Errorf("auth: waiting for RESPONSE: %w", err)
	}
	body, err := parseSealed(tok, TypeResponse)
	if err != nil {
		return responsePlain{}, a.protocolError(err)
	}
	plain, err := a.recv.Decrypt(nil, sealedAD(tok[:headerLen], a.h), body)
	if err != nil {
		return responsePlain{}, a.protocolError(noiseErr("opening RESPONSE", err))
	}
	p, err := parseResponsePlain(plain)
	if err != nil {
		wipe(plain)
		return responsePlain{}, a.protocolError(err)
	}
	if p.caps != a.caps {
		wipe(plain)
		return responsePlain{}, a.protocolError(fmt.Errorf("auth: RESPONSE capabilities 0x%02x differ from INITIATE's 0x%02x: %w", p.caps, a.caps, ErrMalformed))
	}
	return p, nil
}

// rejectVerify maps a Verify error onto a REJECT reason and sends it.
func (a *answerer) rejectVerify(ctx context.Context, err error) error {
	reason := ReasonDenied
	switch {
	case errors.Is(err, ErrBusy):
		reason = ReasonBusy
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		reason = ReasonTimeout
	}
	return a.reject(reason, fmt.Errorf("auth: verification: %w", err))
}

func (a *answerer) protocolError(cause error) error {
	return a.reject(ReasonProtocolError, cause)
}

// reject sends a sealed REJECT and returns the cause wrapped in a
// *RejectError describing what was sent.
func (a *answerer) reject(r Reason, cause error) error {
	re := &RejectError{Reason: r, Authenticated: true, PeerVersion: Version, Sent: true}
	tok := append([]byte(nil), rejectSealedHeader...)
	tok, err := a.send.Encrypt(tok, sealedAD(rejectSealedHeader, a.h), []byte{byte(r)})
	if err != nil {
		return fmt.Errorf("%w: %w (sealing REJECT: %w)", re, cause, err)
	}
	if err := a.conn.RespondXID(tok); err != nil {
		return fmt.Errorf("%w: %w (sending REJECT: %w)", re, cause, err)
	}
	return fmt.Errorf("%w: %w", re, cause)
}

// sendConfirm answers CONFIRM (phase iv) and builds the result.
func (a *answerer) sendConfirm(user User, session uint64) (*AnswerResult, error) {
	res := &AnswerResult{User: user, SessionNumber: session, Cipher: CipherChaChaPoly}
	p := confirmPlain{session: session}
	if a.caps&CapAESGCM != 0 && a.cfg.Cipher.wantsAES() {
		p.aes = true
		res.Cipher = CipherAESGCM
	}
	if user.Callback != "" {
		psk, id, err := callbackSecrets(a.recv, a.send, a.h)
		if err != nil {
			return nil, err
		}
		ttl := a.cfg.CallbackTTL.Round(time.Second)
		if ttl < time.Second {
			ttl = time.Second
		}
		p.callback = true
		p.callbackTTL = uint64(ttl / time.Second)
		res.Callback = &Ticket{
			id:      id,
			psk:     psk,
			User:    user,
			Session: session,
			Expires: a.cfg.Now().Add(ttl),
			cipher:  res.Cipher,
		}
		if a.cfg.ScheduleCallback != nil {
			if err := a.cfg.ScheduleCallback(res.Callback); err != nil {
				res.Callback.Wipe()
				return nil, a.reject(ReasonCallbackUnavailable, fmt.Errorf("auth: user %q: callback not scheduled: %w", user.ID, err))
			}
		}
	}
	if err := a.confirm(p); err != nil {
		if res.Callback != nil {
			res.Callback.Wipe()
		}
		return nil, err
	}
	if res.Callback == nil {
		tr, err := newTransform(res.Cipher, a.send, a.recv, false, a.h)
		if err != nil {
			return nil, err
		}
		res.Transform = tr
	}
	return res, nil
}

// confirm seals and sends CONFIRM.
func (a *answerer) confirm(p confirmPlain) error {
	hdr := header(TypeConfirm)
	tok, err := a.send.Encrypt(hdr, sealedAD(hdr, a.h), p.append(nil))
	if err != nil {
		return fmt.Errorf("auth: sealing CONFIRM: %w", err)
	}
	if err := a.conn.RespondXID(tok); err != nil {
		return fmt.Errorf("auth: sending CONFIRM: %w", err)
	}
	return nil
}
