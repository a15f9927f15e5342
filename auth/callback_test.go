package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

func (t *Ticket) clone() *Ticket {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &Ticket{User: t.User, Session: t.Session, Expires: t.Expires, id: t.id, psk: t.psk, used: t.used, active: t.active, cipher: t.cipher}
}

func (t *CallerTicket) clone() *CallerTicket {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &CallerTicket{id: t.id, psk: t.psk, userID: t.userID, session: t.session, expires: t.expires,
		cipher: t.cipher, used: t.used, rand: newRecRand("caller ticket clone"), now: t.now}
}

// callbackFixture returns pristine tickets of the callback scenario (clone
// them before use) and the CALLBACK and ACCEPT tokens exchanged with them.
func callbackFixture(t testing.TB) (gw *Ticket, caller *CallerTicket, callback, accept []byte) {
	t.Helper()
	r := runPair(t, scenarioCallback.callerConfig(nil), answererConfig(scenarioCallback.gwSeed, nil), testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil {
		t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
	}
	gw, caller = r.ans.Callback.clone(), r.call.Ticket.clone()
	_, _, log, gerr, cerr := runCallbackPair(t, r.ans.Callback, newRecRand("gateway callback phase"), r.call.Ticket)
	if gerr != nil || cerr != nil || len(log) != 2 {
		t.Fatalf("place: %v; accept: %v", gerr, cerr)
	}
	return gw, caller, log[0].tok, log[1].tok
}

func acceptWith(tok []byte, tickets ...*CallerTicket) (*scriptConn, error) {
	conn := &scriptConn{transcript: testCallbackTranscript}
	_, err := AcceptCallback(context.Background(), conn, tok, tickets...)
	return conn, err
}

// sentClearDenied reports whether the caller answered with a clear REJECT denied.
func sentClearDenied(conn *scriptConn) bool {
	if len(conn.sentResps) != 1 {
		return false
	}
	r, err := parseReject(conn.sentResps[0])
	return err == nil && !r.sealed && r.reason == ReasonDenied
}

func TestCallbackReplayed(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, ct, cb, _ := callbackFixture(t)
	ticket := ct.clone()
	if _, err := acceptWith(cb, ticket); err != nil {
		t.Fatalf("first CALLBACK: %v", err)
	}
	conn, err := acceptWith(cb, ticket)
	if !errors.Is(err, ErrTicketUsed) || !sentClearDenied(conn) {
		t.Fatalf("replayed CALLBACK: %v", err)
	}
}

func TestCallbackTicketUsedTwiceByGateway(t *testing.T) {
	testutil.CheckGoroutines(t)
	gt, _, _, acc := callbackFixture(t)
	ticket := gt.clone()
	// An attempt whose line dropped after CALLBACK went out spends the
	// ticket: no CALLBACK is sent twice (§3; security review: the
	// ticket was kept for a retry, which only callbackd refused).
	dropped := gt.clone()
	conn := &scriptConn{transcript: testCallbackTranscript}
	if _, err := PlaceCallback(context.Background(), conn, dropped, CallbackConfig{Now: fixedNow}); !errors.Is(err, errScriptEnd) {
		t.Fatalf("dropped attempt: %v", err)
	}
	conn = &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{acc}}
	if _, err := PlaceCallback(context.Background(), conn, dropped, CallbackConfig{Now: fixedNow}); !errors.Is(err, ErrTicketUsed) || len(conn.sentCmds) != 0 || !dropped.Spent() {
		t.Fatalf("a retry after CALLBACK went out: %v, %d sent", err, len(conn.sentCmds))
	}
	conn = &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{acc}}
	if _, err := PlaceCallback(context.Background(), conn, ticket, CallbackConfig{Rand: newRecRand("gateway callback phase"), Now: fixedNow}); err != nil {
		t.Fatalf("first callback: %v", err)
	}
	conn = &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{acc}}
	if _, err := PlaceCallback(context.Background(), conn, ticket, CallbackConfig{Now: fixedNow}); !errors.Is(err, ErrTicketUsed) || len(conn.sentCmds) != 0 {
		t.Fatalf("second callback: %v", err)
	}
	// Wipe ends a ticket that was never used.
	other := gt.clone()
	other.Wipe()
	if _, err := PlaceCallback(context.Background(), conn, other, CallbackConfig{Now: fixedNow}); !errors.Is(err, ErrTicketUsed) {
		t.Fatalf("wiped ticket: %v", err)
	}
}

func TestCallbackTicketOneAttemptAtATime(t *testing.T) {
	testutil.CheckGoroutines(t)
	gt, _, _, _ := callbackFixture(t)
	ticket := gt.clone()
	// An attempt blocked in ExchangeXID holds the ticket.
	inside := make(chan struct{})
	release := make(chan struct{})
	conn := &blockingConn{inside: inside, release: release}
	done := make(chan error, 1)
	go func() {
		_, err := PlaceCallback(context.Background(), conn, ticket, CallbackConfig{Now: fixedNow})
		done <- err
	}()
	<-inside
	if _, err := PlaceCallback(context.Background(), &scriptConn{}, ticket, CallbackConfig{Now: fixedNow}); !errors.Is(err, ErrTicketInUse) {
		t.Fatalf("concurrent attempt: %v", err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Fatal("blocked attempt succeeded")
	}
}

// blockingConn blocks ExchangeXID until released, then fails it.
type blockingConn struct {
	scriptConn
	inside, release chan struct{}
}

func (b *blockingConn) ExchangeXID(ctx context.Context, payload []byte) ([]byte, error) {
	close(b.inside)
	<-b.release
	return nil, errScriptEnd
}

func TestCallbackExpired(t *testing.T) {
	testutil.CheckGoroutines(t)
	gt, ct, cb, _ := callbackFixture(t)
	// Caller side: its clock is past the ticket's expiry.
	late := ct.clone()
	late.now = func() time.Time { return testNow.Add(2*time.Minute + time.Second) }
	if conn, err := acceptWith(cb, late); !errors.Is(err, ErrTicketExpired) || !sentClearDenied(conn) {
		t.Fatalf("caller, expired: %v", err)
	}
	if late.psk != ([pskLen]byte{}) {
		t.Error("caller: the psk of an expired ticket was not wiped")
	}
	if _, err := acceptWith(cb, late); !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("caller, expired, second CALLBACK: %v", err)
	}
	wiped := ct.clone()
	wiped.Wipe()
	if _, err := acceptWith(cb, wiped); !errors.Is(err, ErrTicketUsed) {
		t.Fatalf("caller, wiped ticket: %v", err)
	}
	// Gateway side.
	conn := &scriptConn{transcript: testCallbackTranscript}
	_, err := PlaceCallback(context.Background(), conn, gt.clone(), CallbackConfig{Now: func() time.Time { return testNow.Add(3 * time.Minute) }})
	if !errors.Is(err, ErrTicketExpired) || len(conn.sentCmds) != 0 {
		t.Fatalf("gateway, expired: %v", err)
	}
}

func TestCallbackForAnotherUser(t *testing.T) {
	testutil.CheckGoroutines(t)
	gt, ct, _, _ := callbackFixture(t)
	// The gateway's ticket (same secrets) names another user: the caller
	// refuses after decrypting.
	wrong := gt.clone()
	wrong.User.ID = "mallory"
	callerTicket := ct.clone()
	conn := &scriptConn{transcript: testCallbackTranscript}
	gwConn := &scriptConn{transcript: testCallbackTranscript}
	_, _ = PlaceCallback(context.Background(), gwConn, wrong, CallbackConfig{Rand: newRecRand("x"), Now: fixedNow})
	if len(gwConn.sentCmds) != 1 {
		t.Fatal("gateway sent no CALLBACK")
	}
	_, err := AcceptCallback(context.Background(), conn, gwConn.sentCmds[0], callerTicket)
	if !errors.Is(err, ErrTicketMismatch) || !sentClearDenied(conn) {
		t.Fatalf("CALLBACK for another user: %v", err)
	}
	// The ticket survives a CALLBACK that does not match it.
	if callerTicket.used {
		t.Fatal("mismatched CALLBACK used up the ticket")
	}
}

func TestCallbackUnknownTicket(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, _, cb, _ := callbackFixture(t)
	// Another call's ticket (other seeds, so other keys and ticket ID).
	s := scenarioCallback
	s.callerSeed, s.gwSeed = "caller other", "gateway other"
	r := runPair(t, s.callerConfig(nil), answererConfig(s.gwSeed, nil), testTranscript, testTranscript, nil)
	if r.callErr != nil {
		t.Fatal(r.callErr)
	}
	conn, err := acceptWith(cb, r.call.Ticket)
	if !errors.Is(err, ErrTicketUnknown) || !sentClearDenied(conn) {
		t.Fatalf("CALLBACK for an unknown ticket: %v", err)
	}
	if _, err := acceptWith(cb); !errors.Is(err, ErrTicketUnknown) {
		t.Fatalf("CALLBACK with no tickets: %v", err)
	}
}

func TestAcceptBeforeCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, ct, _, acc := callbackFixture(t)
	ticket := ct.clone()
	if _, err := acceptWith(acc, ticket); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("ACCEPT as first token: %v", err)
	}
	g := golden(t, scenarioDirect)
	if _, err := acceptWith(g.init, ticket); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("INITIATE where CALLBACK is due: %v", err)
	}
	// The gateway's own CALLBACK comes back in place of ACCEPT.
	gt, _, cb, _ := callbackFixture(t)
	conn := &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{cb}}
	if _, err := PlaceCallback(context.Background(), conn, gt.clone(), CallbackConfig{Rand: newRecRand("gateway callback phase"), Now: fixedNow}); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("reflected CALLBACK: %v", err)
	}
	if ticket.used {
		t.Fatal("ticket used up by a wrong token")
	}
}

func TestCallbackGarbageDoesNotBurnTicket(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, ct, cb, _ := callbackFixture(t)
	ticket := ct.clone()
	forged := append([]byte(nil), cb...)
	forged[len(forged)-1] ^= 1
	if _, err := acceptWith(forged, ticket); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("forged CALLBACK: %v", err)
	}
	if _, err := acceptWith(cb, ticket); err != nil {
		t.Fatalf("genuine CALLBACK after a forged one: %v", err)
	}
}

func TestCallbackOverPipe(t *testing.T) {
	testutil.CheckGoroutines(t)
	gt, ct, _, _ := callbackFixture(t)
	gwTr, callerTr, _, gerr, cerr := runCallbackPair(t, gt.clone(), newRecRand("pipe"), ct.clone())
	if gerr != nil || cerr != nil {
		t.Fatalf("place: %v; accept: %v", gerr, cerr)
	}
	checkData(t, gwTr, callerTr)
	// A refused callback: the gateway sees the caller's clear REJECT.
	_, _, _, gerr, cerr = runCallbackPair(t, gt.clone(), newRecRand("pipe"))
	if reason, ok := RejectReason(gerr); !ok || reason != ReasonDenied || !errors.Is(cerr, ErrTicketUnknown) {
		t.Fatalf("refused callback: gateway %v; caller %v", gerr, cerr)
	}
}
