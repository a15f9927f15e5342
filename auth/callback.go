package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flynn/noise"
)

// Callback ticket errors.
var (
	// ErrTicketUnknown: a CALLBACK names no ticket the caller holds.
	ErrTicketUnknown = errors.New("auth: unknown callback ticket")
	// ErrTicketExpired: the ticket's lifetime is over.
	ErrTicketExpired = errors.New("auth: callback ticket expired")
	// ErrTicketUsed: the ticket was already used (tickets are single use).
	ErrTicketUsed = errors.New("auth: callback ticket already used")
	// ErrTicketMismatch: the CALLBACK is for another user or session than
	// the ticket.
	ErrTicketMismatch = errors.New("auth: callback ticket does not match")
)

// Ticket is the gateway's half of a pending callback, created by Answer when
// the user has a callback address. Hand it to PlaceCallback on the new call.
// It is used up by the first callback the caller accepts; an attempt that
// fails (line dropped, no ACCEPT) leaves it for a retry until it expires.
// One attempt at a time: a concurrent PlaceCallback gets ErrTicketInUse.
// Safe for concurrent use.
type Ticket struct {
	// User is the verified user; User.Callback is the line URL to dial.
	User User
	// Session is the session number CONFIRM announced.
	Session uint64
	// Expires is the end of the ticket's life (gateway clock).
	Expires time.Time

	mu     sync.Mutex
	id     [ticketIDLen]byte
	psk    [pskLen]byte
	used   bool
	active bool       // an attempt is running
	cipher DataCipher // the data phase's AEAD, agreed in CONFIRM
}

// Cipher is the data-phase AEAD the callback will use (CONFIRM named it).
func (t *Ticket) Cipher() DataCipher {
	if t == nil {
		return 0
	}
	return t.cipher
}

// ErrTicketInUse: another PlaceCallback with the same ticket is running.
var ErrTicketInUse = errors.New("auth: callback ticket in use")

// begin starts an attempt and returns copies of the ticket's secrets.
func (t *Ticket) begin(now time.Time) (id [ticketIDLen]byte, psk [pskLen]byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.used:
		return id, psk, fmt.Errorf("auth: session %d: %w", t.Session, ErrTicketUsed)
	case t.active:
		return id, psk, fmt.Errorf("auth: session %d: %w", t.Session, ErrTicketInUse)
	case !now.Before(t.Expires):
		t.wipeLocked()
		return id, psk, fmt.Errorf("auth: session %d: %w", t.Session, ErrTicketExpired)
	}
	t.active = true
	return t.id, t.psk, nil
}

// end finishes an attempt; a successful one uses the ticket up.
func (t *Ticket) end(ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = false
	if ok {
		t.wipeLocked()
	}
}

func (t *Ticket) wipeLocked() {
	t.used = true
	clear(t.psk[:])
}

// Spent reports whether the ticket can no longer be placed: a callback
// was accepted with it, or it was wiped (or found expired by an attempt).
func (t *Ticket) Spent() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// Wipe destroys the ticket (expired, or the user's call was cleared by the
// operator): later PlaceCallback calls fail with ErrTicketUsed.
func (t *Ticket) Wipe() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wipeLocked()
}

// CallbackConfig configures PlaceCallback.
type CallbackConfig struct {
	// Rand is the source of ephemeral keys; nil means crypto/rand.
	Rand io.Reader
	// Now is the gateway's clock; nil means time.Now.
	Now func() time.Time
}

// PlaceCallback runs phases v–vi as the gateway on the new call it placed to
// the ticket's user: it sends CALLBACK with conn.ExchangeXID and checks the
// caller's ACCEPT. The ticket is used up once CALLBACK has been handed to
// conn, whatever follows (an ACCEPT, a REJECT, a wrong answer, the line
// dropping): no CALLBACK token is sent twice, even under a fresh
// ephemeral key, to a line that may not be the caller's
// (docs/access-security.md §3). An attempt that fails before that may be
// retried on another call until the ticket expires.
func PlaceCallback(ctx context.Context, conn XIDConn, t *Ticket, cfg CallbackConfig) (Transform, error) {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if t == nil {
		return nil, fmt.Errorf("auth: PlaceCallback without a ticket: %w", ErrConfig)
	}
	id, psk, err := t.begin(cfg.Now())
	if err != nil {
		return nil, err
	}
	defer clear(psk[:])
	var sent bool
	tr, err := placeCallback(ctx, conn, t, id, &psk, cfg, &sent)
	t.end(err == nil || sent)
	return tr, err
}

// placeCallback runs the attempt with PlaceCallback's copy of the psk (by
// pointer, so that no further copy outlives the attempt unwiped).
// *sent is set once CALLBACK is handed to conn.
func placeCallback(ctx context.Context, conn XIDConn, t *Ticket, id [ticketIDLen]byte, psk *[pskLen]byte, cfg CallbackConfig, sent *bool) (Transform, error) {
	prologue, err := callbackPrologue(id, conn.NegotiationTranscript())
	if err != nil {
		return nil, err
	}
	cs, dh := suite()
	defer dh.forget()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:           cs,
		Random:                cfg.Rand,
		Pattern:               noise.HandshakeNN,
		Initiator:             true,
		Prologue:              prologue,
		PresharedKey:          psk[:],
		PresharedKeyPlacement: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: starting NNpsk0 handshake: %w", err)
	}
	payload := callbackPayload{session: t.Session, expiry: t.Expires.Unix(), userID: t.User.ID}
	msg, _, _, err := hs.WriteMessage(nil, payload.append(nil))
	if err != nil {
		return nil, fmt.Errorf("auth: writing CALLBACK: %w", err)
	}
	*sent = true
	resp, err := conn.ExchangeXID(ctx, appendCallback(nil, id, msg))
	if err != nil {
		return nil, fmt.Errorf("auth: sending CALLBACK: %w", err)
	}
	if _, typ, err := peekHeader(resp); err == nil && typ == TypeReject {
		r, err := parseReject(resp)
		if err != nil {
			return nil, err
		}
		if r.sealed {
			return nil, fmt.Errorf("auth: sealed REJECT in answer to CALLBACK: %w", ErrUnexpected)
		}
		return nil, &RejectError{Reason: r.reason, PeerVersion: r.version}
	}
	m2, err := parseAccept(resp)
	if err != nil {
		return nil, err
	}
	plain, send, recv, err := hs.ReadMessage(nil, m2)
	if err != nil {
		return nil, noiseErr("reading ACCEPT", err)
	}
	session, err := parseAcceptPayload(plain)
	if err != nil {
		return nil, err
	}
	if session != t.Session {
		return nil, fmt.Errorf("auth: ACCEPT for session %d, want %d: %w", session, t.Session, ErrTicketMismatch)
	}
	if send == nil || recv == nil {
		return nil, fmt.Errorf("auth: NNpsk0 handshake did not complete after ACCEPT: %w", ErrUnexpected)
	}
	// The gateway initiated: it sends with the first CipherState.
	return newTransform(t.cipher, send, recv, false, hs.ChannelBinding())
}

// CallerTicket is the caller's half of a pending callback, returned by Call
// when CONFIRM announced a callback. It recognises the real callback among
// incoming calls; it is single use and expires (caller clock). Safe for
// concurrent use.
type CallerTicket struct {
	mu      sync.Mutex
	id      [ticketIDLen]byte
	psk     [pskLen]byte
	userID  string
	session uint64
	expires time.Time
	cipher  DataCipher // the data phase's AEAD, agreed in CONFIRM
	used    bool
	rand    io.Reader
	now     func() time.Time
}

// Session is the session number of the call that created the ticket.
func (t *CallerTicket) Session() uint64 { return t.session }

// Wipe destroys the ticket (the caller stopped waiting for the callback).
func (t *CallerTicket) Wipe() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.used = true
	clear(t.psk[:])
}

// Cipher is the data-phase AEAD the callback will use (CONFIRM named it).
func (t *CallerTicket) Cipher() DataCipher {
	if t == nil {
		return 0
	}
	return t.cipher
}

// Expires is when the ticket stops being accepted (caller clock).
func (t *CallerTicket) Expires() time.Time { return t.expires }

// AcceptCallback runs phases v–vi as the original caller on an incoming
// call: first is the XID command payload the link's AcceptXID returned. It
// picks the ticket by the CALLBACK's ticket ID, refuses unknown, expired or
// used tickets and CALLBACKs for another user or session (answering a clear
// REJECT denied), and otherwise answers ACCEPT with conn.RespondXID. A
// ticket is used up only by a CALLBACK that authenticates.
func AcceptCallback(ctx context.Context, conn XIDConn, first []byte, tickets ...*CallerTicket) (Transform, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("auth: accepting callback: %w", err)
	}
	accept, err := acceptCallback(conn, first, tickets)
	if err != nil {
		re := &RejectError{Reason: ReasonDenied, PeerVersion: Version, Sent: true}
		if rerr := RejectInitiate(conn, ReasonDenied); rerr != nil {
			return nil, fmt.Errorf("%w: %w (%w)", re, err, rerr)
		}
		return nil, fmt.Errorf("%w: %w", re, err)
	}
	if err := conn.RespondXID(accept.tok); err != nil {
		return nil, fmt.Errorf("auth: sending ACCEPT: %w", err)
	}
	return accept.tr, nil
}

type acceptResult struct {
	tok []byte
	tr  Transform
}

// acceptCallback checks a CALLBACK against the tickets and builds ACCEPT.
func acceptCallback(conn XIDConn, first []byte, tickets []*CallerTicket) (acceptResult, error) {
	var none acceptResult
	cb, err := parseCallback(first)
	if err != nil {
		return none, err
	}
	var t *CallerTicket
	for _, c := range tickets {
		if c != nil && subtle.ConstantTimeCompare(c.id[:], cb.ticketID[:]) == 1 {
			t = c
		}
	}
	if t == nil {
		return none, ErrTicketUnknown
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.used {
		return none, fmt.Errorf("auth: session %d: %w", t.session, ErrTicketUsed)
	}
	if !t.now().Before(t.expires) {
		clear(t.psk[:]) // never needed again
		return none, fmt.Errorf("auth: session %d: %w", t.session, ErrTicketExpired)
	}
	prologue, err := callbackPrologue(t.id, conn.NegotiationTranscript())
	if err != nil {
		return none, err
	}
	cs, dh := suite()
	defer dh.forget()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:           cs,
		Random:                t.rand,
		Pattern:               noise.HandshakeNN,
		Initiator:             false,
		Prologue:              prologue,
		PresharedKey:          t.psk[:],
		PresharedKeyPlacement: 0,
	})
	if err != nil {
		return none, fmt.Errorf("auth: starting NNpsk0 handshake: %w", err)
	}
	plain, _, _, err := hs.ReadMessage(nil, cb.msg)
	if err != nil {
		return none, noiseErr("reading CALLBACK", err)
	}
	p, err := parseCallbackPayload(plain)
	if err != nil {
		return none, err
	}
	if subtle.ConstantTimeCompare([]byte(p.userID), []byte(t.userID)) != 1 || p.session != t.session {
		return none, fmt.Errorf("auth: CALLBACK for user %q session %d, ticket is for session %d: %w", p.userID, p.session, t.session, ErrTicketMismatch)
	}
	t.used = true
	clear(t.psk[:])
	msg, g2c, c2g, err := hs.WriteMessage(nil, binary.BigEndian.AppendUint64(nil, t.session))
	if err != nil {
		return none, fmt.Errorf("auth: writing ACCEPT: %w", err)
	}
	if c2g == nil || g2c == nil {
		return none, fmt.Errorf("auth: NNpsk0 handshake did not complete after ACCEPT: %w", ErrUnexpected)
	}
	// The gateway initiated: it sends with the first CipherState, the
	// caller with the second.
	tr, err := newTransform(t.cipher, c2g, g2c, true, hs.ChannelBinding())
	if err != nil {
		return none, err
	}
	return acceptResult{tok: append(header(TypeAccept), msg...), tr: tr}, nil
}
