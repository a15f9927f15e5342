package auth

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// goldenCall is the token sequence of one deterministic scenario. Replaying
// a scenario's configs (same seeds) reproduces the same tokens, so one side
// can be driven with the other side's recorded tokens.
type goldenCall struct {
	init, chal, resp, fin []byte // fin is CONFIRM or REJECT
	r                     pairResult
}

func golden(t testing.TB, s scenario) goldenCall {
	t.Helper()
	r := runPair(t, s.callerConfig(nil), answererConfig(s.gwSeed, nil), testTranscript, testTranscript, nil)
	if len(r.log) != 4 {
		t.Fatalf("scenario %s: %d tokens (call: %v; answer: %v)", s.name, len(r.log), r.callErr, r.ansErr)
	}
	return goldenCall{init: r.log[0].tok, chal: r.log[1].tok, resp: r.log[2].tok, fin: r.log[3].tok, r: r}
}

// callWith runs the caller of s against scripted gateway responses.
func callWith(s scenario, responses ...[]byte) (*CallResult, *scriptConn, error) {
	conn := &scriptConn{transcript: testTranscript, responses: responses}
	res, err := Call(context.Background(), conn, s.callerConfig(nil))
	return res, conn, err
}

// answerWith runs the gateway of s on first and scripted caller commands.
func answerWith(s scenario, verifyCalls *int, first []byte, commands ...[]byte) (*AnswerResult, *scriptConn, error) {
	conn := &scriptConn{transcript: testTranscript, commands: commands}
	res, err := Answer(context.Background(), conn, first, answererConfig(s.gwSeed, verifyCalls))
	return res, conn, err
}

// sentSealedReject reports whether the last response sent was a sealed REJECT.
func sentSealedReject(conn *scriptConn) bool {
	if len(conn.sentResps) == 0 {
		return false
	}
	r, err := parseReject(conn.sentResps[len(conn.sentResps)-1])
	return err == nil && r.sealed
}

func TestReplayDeterministic(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	res, conn, err := callWith(scenarioDirect, g.chal, g.fin)
	if err != nil || res.SessionNumber != testSession {
		t.Fatalf("replayed caller: %v", err)
	}
	if !bytes.Equal(conn.sentCmds[0], g.init) || !bytes.Equal(conn.sentCmds[1], g.resp) {
		t.Fatal("replayed caller sent different tokens: the harness is not deterministic")
	}
	ares, aconn, err := answerWith(scenarioDirect, nil, g.init, g.resp)
	if err != nil || ares.User.ID != "bob" {
		t.Fatalf("replayed answerer: %v", err)
	}
	if !bytes.Equal(aconn.sentResps[0], g.chal) || !bytes.Equal(aconn.sentResps[1], g.fin) {
		t.Fatal("replayed answerer sent different tokens")
	}
}

func TestResponseReplayedIntoAnotherHandshake(t *testing.T) {
	testutil.CheckGoroutines(t)
	a := golden(t, scenarioDirect)
	other := scenarioDirect
	other.callerSeed, other.gwSeed = "caller B", "gateway B"
	b := golden(t, other)

	// Handshake B's gateway receives A's RESPONSE.
	var calls int
	_, conn, err := answerWith(other, &calls, b.init, a.resp)
	if !errors.Is(err, ErrAuthFailed) || calls != 0 || !sentSealedReject(conn) {
		t.Fatalf("A's RESPONSE in B: err %v, verify calls %d", err, calls)
	}
	// An eavesdropper replays A's INITIATE and RESPONSE; the gateway draws a
	// fresh ephemeral key and challenge (another seed).
	_, conn, err = answerWith(other, &calls, a.init, a.resp)
	if !errors.Is(err, ErrAuthFailed) || calls != 0 || !sentSealedReject(conn) {
		t.Fatalf("replayed INITIATE+RESPONSE: err %v, verify calls %d", err, calls)
	}
}

func TestReflectedTokens(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	// The caller's INITIATE comes back as the answer to itself.
	if _, _, err := callWith(scenarioDirect, g.init); !errors.Is(err, ErrUnexpected) {
		t.Errorf("reflected INITIATE: %v", err)
	}
	// The caller's RESPONSE comes back in place of CONFIRM.
	if _, _, err := callWith(scenarioDirect, g.chal, g.resp); !errors.Is(err, ErrUnexpected) {
		t.Errorf("reflected RESPONSE: %v", err)
	}
	// The gateway's CHALLENGE comes back in place of RESPONSE.
	var calls int
	if _, conn, err := answerWith(scenarioDirect, &calls, g.init, g.chal); !errors.Is(err, ErrUnexpected) || calls != 0 || !sentSealedReject(conn) {
		t.Errorf("reflected CHALLENGE: %v", err)
	}
	// The gateway's CHALLENGE comes back as a first token.
	if _, _, err := answerWith(scenarioDirect, &calls, g.chal); !errors.Is(err, ErrUnexpected) {
		t.Errorf("CHALLENGE as first token: %v", err)
	}
}

// checkPasswordNeverSent fails if any recorded token carries the password
// or if the caller sent anything after INITIATE.
func checkPasswordNeverSent(t *testing.T, log []sentToken, password string) {
	t.Helper()
	n := 0
	for _, s := range log {
		if bytes.Contains(s.tok, []byte(password)) {
			t.Fatalf("password bytes left the caller in %x", s.tok)
		}
		if s.from == "C" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("caller sent %d tokens, want only INITIATE", n)
	}
}

func TestChangedHostKeyNeverSendsPassword(t *testing.T) {
	testutil.CheckGoroutines(t)
	checked := 0
	refuse := func(pub []byte) error {
		checked++
		return errors.New("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!")
	}
	r := runPair(t, scenarioDirect.callerConfig(refuse), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) || checked != 1 {
		t.Fatalf("caller: %v (checked %d)", r.callErr, checked)
	}
	if r.ansErr == nil {
		t.Fatal("answerer succeeded")
	}
	checkPasswordNeverSent(t, r.log, scenarioDirect.pw)
}

func TestWrongHostKeyNeverSendsPassword(t *testing.T) {
	testutil.CheckGoroutines(t)
	ac := answererConfig("g", nil)
	ac.HostKey = testHostKey("impostor")
	// The caller pins the real gateway's key (callerConfig's default check).
	r := runPair(t, scenarioDirect.callerConfig(nil), ac, testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) {
		t.Fatalf("caller: %v", r.callErr)
	}
	checkPasswordNeverSent(t, r.log, scenarioDirect.pw)
}

func TestSwappedEphemeralOrStaticKey(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	other := scenarioDirect
	other.callerSeed, other.gwSeed = "caller B", "gateway B"
	b := golden(t, other)
	splice := func(dst, src []byte, from, to int) []byte {
		out := append([]byte(nil), dst...)
		copy(out[from:to], src[from:to])
		return out
	}
	eOff := headerLen
	sOff := headerLen + keyLen
	// CHALLENGE with another handshake's gateway ephemeral.
	if _, conn, err := callWith(scenarioDirect, splice(g.chal, b.chal, eOff, eOff+keyLen)); !errors.Is(err, ErrAuthFailed) || len(conn.sentCmds) != 1 {
		t.Errorf("swapped gateway ephemeral: %v", err)
	}
	// CHALLENGE with another handshake's encrypted static key (the "es"
	// proof no longer matches).
	if _, conn, err := callWith(scenarioDirect, splice(g.chal, b.chal, sOff, sOff+keyLen+tagLen)); !errors.Is(err, ErrAuthFailed) || len(conn.sentCmds) != 1 {
		t.Errorf("swapped static key: %v", err)
	}
	// INITIATE with another caller's ephemeral: the gateway cannot tell yet,
	// but the genuine caller's RESPONSE then fails.
	var calls int
	if _, _, err := answerWith(scenarioDirect, &calls, splice(g.init, b.init, eOff, eOff+keyLen), g.resp); !errors.Is(err, ErrAuthFailed) || calls != 0 {
		t.Errorf("swapped caller ephemeral: %v", err)
	}
}

func TestAlteredOrStrippedXIDOffer(t *testing.T) {
	testutil.CheckGoroutines(t)
	altered := append([]byte(nil), testTranscript...)
	altered[5] ^= 0x08 // e.g. a different HDLC optional-functions bit
	for name, gw := range map[string][]byte{"altered": altered, "stripped": nil, "truncated": testTranscript[:len(testTranscript)/2]} {
		t.Run(name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			r := runPair(t, scenarioDirect.callerConfig(nil), answererConfig("g", nil), testTranscript, gw, nil)
			if !errors.Is(r.callErr, ErrAuthFailed) {
				t.Fatalf("caller: %v", r.callErr)
			}
			if r.ansErr == nil {
				t.Fatal("answerer succeeded")
			}
			checkPasswordNeverSent(t, r.log, scenarioDirect.pw)
		})
	}
}

func TestUnknownVersion(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	v2 := func(tok []byte) []byte { out := append([]byte(nil), tok...); out[0] = 2; return out }

	// Gateway: INITIATE of version 2 gets a clear REJECT version.
	_, conn, err := answerWith(scenarioDirect, nil, v2(g.init))
	if !errors.Is(err, ErrVersion) || len(conn.sentResps) != 1 {
		t.Fatalf("answerer: %v", err)
	}
	rej := conn.sentResps[0]
	if want := appendRejectClear(nil, ReasonVersion); !bytes.Equal(rej, want) {
		t.Fatalf("REJECT %x, want %x", rej, want)
	}
	// Caller: that REJECT is reported with the gateway's version.
	var re *RejectError
	if _, _, err := callWith(scenarioDirect, rej); !errors.As(err, &re) || re.Reason != ReasonVersion || re.Authenticated || re.PeerVersion != Version {
		t.Fatalf("caller on version REJECT: %v", err)
	}
	// Caller: a version-2 CHALLENGE or CONFIRM is refused.
	if _, _, err := callWith(scenarioDirect, v2(g.chal)); !errors.Is(err, ErrVersion) {
		t.Errorf("version-2 CHALLENGE: %v", err)
	}
	if _, _, err := callWith(scenarioDirect, g.chal, v2(g.fin)); !errors.Is(err, ErrVersion) {
		t.Errorf("version-2 CONFIRM: %v", err)
	}
	// Gateway: a version-2 RESPONSE is refused.
	if _, _, err := answerWith(scenarioDirect, nil, g.init, v2(g.resp)); !errors.Is(err, ErrVersion) {
		t.Errorf("version-2 RESPONSE: %v", err)
	}
}

func TestOutOfOrderTokens(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	d := golden(t, scenarioDenied)
	clearReject := appendRejectClear(nil, ReasonDenied)
	for name, tc := range map[string]func() error{
		"RESPONSE first": func() error { _, _, err := answerWith(scenarioDirect, nil, g.resp); return err },
		"CONFIRM first":  func() error { _, _, err := answerWith(scenarioDirect, nil, g.fin); return err },
		"INITIATE twice": func() error { _, _, err := answerWith(scenarioDirect, nil, g.init, g.init); return err },
		"CONFIRM for CHALLENGE": func() error {
			_, _, err := callWith(scenarioDirect, g.fin)
			return err
		},
		"CHALLENGE twice": func() error { _, _, err := callWith(scenarioDirect, g.chal, g.chal); return err },
		"sealed REJECT for CHALLENGE": func() error {
			_, _, err := callWith(scenarioDirect, d.fin)
			return err
		},
		"clear REJECT for CONFIRM": func() error {
			_, _, err := callWith(scenarioDirect, g.chal, clearReject)
			return err
		},
	} {
		err := tc()
		if !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A clear REJECT where CONFIRM is due must not pass as the gateway's
	// authenticated decision.
	if _, _, err := callWith(scenarioDirect, g.chal, clearReject); err != nil {
		if _, ok := RejectReason(err); ok {
			t.Error("forged clear REJECT accepted after the handshake")
		}
	}
}

// tokenTarget is one token of the golden scenarios and a function that
// feeds a variant of it to the side that receives it.
type tokenTarget struct {
	name string
	tok  []byte
	run  func(tok []byte) error
}

// tokenTargets returns every token type with its receiver. Where the
// receiver's state before the token is reusable (an AEAD open that fails
// changes nothing), variants go to a prepared state; otherwise each runs a
// whole fresh side. The unaltered token must be fed last.
func tokenTargets(t *testing.T) []tokenTarget {
	t.Helper()
	g := golden(t, scenarioDirect)
	cb := golden(t, scenarioCallback)
	d := golden(t, scenarioDenied)

	gwTicket, callerTicket, cbTok, accTok := callbackFixture(t)
	confirmCaller := preparedCaller(t, scenarioDirect, g.chal)
	callbackCaller := preparedCaller(t, scenarioCallback, cb.chal)
	deniedCaller := preparedCaller(t, scenarioDenied, d.chal)
	gateway := preparedAnswerer(t, scenarioDirect, g.init)
	return []tokenTarget{
		{"INITIATE", g.init, func(tok []byte) error { _, _, err := answerWith(scenarioDirect, nil, tok, g.resp); return err }},
		{"CHALLENGE", g.chal, func(tok []byte) error { _, _, err := callWith(scenarioDirect, tok, g.fin); return err }},
		{"RESPONSE", g.resp, func(tok []byte) error {
			gateway.conn = &scriptConn{transcript: testTranscript, commands: [][]byte{tok}}
			_, err := gateway.readResponse(context.Background())
			return err
		}},
		{"CONFIRM", g.fin, confirmCaller.readConfirm},
		{"CONFIRM+callback", cb.fin, callbackCaller.readConfirm},
		{"REJECT", d.fin, func(tok []byte) error {
			err := deniedCaller.readConfirm(tok)
			if bytes.Equal(tok, d.fin) {
				return nil
			}
			var re *RejectError
			if errors.As(err, &re) && re.Authenticated {
				return nil // an altered sealed REJECT must not authenticate
			}
			return err
		}},
		{"CALLBACK", cbTok, func(tok []byte) error {
			conn := &scriptConn{transcript: testCallbackTranscript}
			_, err := AcceptCallback(context.Background(), conn, tok, callerTicket.clone())
			return err
		}},
		{"ACCEPT", accTok, func(tok []byte) error {
			conn := &scriptConn{transcript: testCallbackTranscript, responses: [][]byte{tok}}
			_, err := PlaceCallback(context.Background(), conn, gwTicket.clone(), CallbackConfig{Rand: newRecRand("gateway callback phase"), Now: fixedNow})
			return err
		}},
	}
}

// TestEveryPrefixAndBitFlip feeds every strict prefix and every single-bit
// flip of every token to the side that receives it: each must end in an
// error, never in success or a panic, and never in an authenticated REJECT
// that the gateway did not send.
func TestEveryPrefixAndBitFlip(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tg := range tokenTargets(t) {
		var mutants [][]byte
		for n := 0; n < len(tg.tok); n++ {
			mutants = append(mutants, tg.tok[:n:n])
		}
		for i := 0; i < len(tg.tok)*8; i++ {
			m := append([]byte(nil), tg.tok...)
			m[i/8] ^= 1 << (i % 8)
			mutants = append(mutants, m)
		}
		for _, m := range mutants {
			if err := tg.run(m); err == nil {
				t.Errorf("%s: altered token %x accepted", tg.name, m)
			}
		}
		// The harness is sound: the unaltered token passes, last, since
		// it moves a prepared state on.
		if err := tg.run(tg.tok); err != nil {
			t.Errorf("%s: unaltered token fails: %v", tg.name, err)
		}
	}
}

// TestTrailingBytes appends one, then 16 octets to every token.
func TestTrailingBytes(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tg := range tokenTargets(t) {
		for _, extra := range [][]byte{{0}, make([]byte, 16)} {
			if err := tg.run(append(append([]byte(nil), tg.tok...), extra...)); err == nil {
				t.Errorf("%s with %d trailing octets accepted", tg.name, len(extra))
			}
		}
		if err := tg.run(tg.tok); err != nil {
			t.Errorf("%s: unaltered token fails: %v", tg.name, err)
		}
	}
}

// preparedCaller returns a caller of s that has read CHALLENGE and waits
// for CONFIRM or REJECT.
func preparedCaller(t testing.TB, s scenario, chal []byte) *caller {
	t.Helper()
	c := &caller{cfg: s.callerConfig(nil), conn: &scriptConn{transcript: testTranscript, responses: [][]byte{chal}}, caps: CapSealed}
	if s.callback {
		c.caps |= CapCallback
	}
	tok, err := c.sendInitiate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.readChallenge(tok); err != nil {
		t.Fatal(err)
	}
	return c
}

// preparedAnswerer returns a gateway of s that has sent CHALLENGE and waits
// for RESPONSE.
func preparedAnswerer(t testing.TB, s scenario, init []byte) *answerer {
	t.Helper()
	a := &answerer{cfg: answererConfig(s.gwSeed, nil), conn: &scriptConn{transcript: testTranscript}, first: init}
	a.cfg.Deadline = DefaultHandshakeDeadline
	if err := a.sendChallenge(); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRejectSameForUnknownAndKnownUser(t *testing.T) {
	testutil.CheckGoroutines(t)
	// The REJECT on the wire is sealed under a fresh key each call, so the
	// comparison is on decrypted plaintexts and token lengths.
	plaintext := func(user, pw string) ([]byte, int) {
		p, c, gw := newXIDPipe("C", testTranscript, "G", testTranscript)
		defer p.Close()
		ctx := context.Background()
		errc := make(chan error, 1)
		go func() {
			first, err := gw.AcceptXID(ctx)
			if err == nil {
				_, err = Answer(ctx, gw, first, answererConfig("g", nil))
			}
			errc <- err
		}()
		s := scenarioDirect
		s.user, s.pw = user, pw
		cr := &caller{cfg: s.callerConfig(nil), conn: c, caps: CapSealed}
		chal, err := cr.sendInitiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := cr.readChallenge(chal); err != nil {
			t.Fatal(err)
		}
		rej, err := cr.sendResponse(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if reason, ok := RejectReason(<-errc); !ok || reason != ReasonDenied {
			t.Fatalf("%s: answerer did not reject as denied", user)
		}
		r, err := parseReject(rej)
		if err != nil || !r.sealed {
			t.Fatalf("%s: %x is not a sealed REJECT: %v", user, rej, err)
		}
		plain, err := cr.recv.Decrypt(nil, sealedAD(rejectSealedHeader, cr.h), r.body)
		if err != nil {
			t.Fatal(err)
		}
		return plain, len(rej)
	}
	unknownPlain, unknownLen := plaintext("nobody", "whatever")
	knownPlain, knownLen := plaintext("bob", "wrong password")
	if !bytes.Equal(unknownPlain, knownPlain) || unknownLen != knownLen {
		t.Fatalf("unknown user REJECT %x (%d octets) differs from known user %x (%d octets)", unknownPlain, unknownLen, knownPlain, knownLen)
	}
}

// TestGatewayNameControlCharacters: a gateway name with terminal control
// sequences is refused by the caller as malformed before anything secret
// is sent, and cannot be configured on the gateway.
func TestGatewayNameControlCharacters(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	for _, name := range []string{"evil\x1b]0;owned\x07", "bell\x07", "c1\u009b2J", "del\x7f", "bad utf-8 \xff"} {
		gw := &scriptConn{transcript: testTranscript}
		a := &answerer{cfg: answererConfig(scenarioDirect.gwSeed, nil), conn: gw, first: g.init}
		a.cfg.Name = name // bypasses Answer's configuration check
		if err := a.sendChallenge(); err != nil {
			t.Fatal(err)
		}
		_, conn, err := callWith(scenarioDirect, gw.sentResps[0], g.fin)
		if !errors.Is(err, ErrMalformed) || len(conn.sentCmds) != 1 {
			t.Errorf("name %q: caller: %v after sending %d tokens; want ErrMalformed and no RESPONSE", name, err, len(conn.sentCmds))
		}
		cfg := answererConfig(scenarioDirect.gwSeed, nil)
		cfg.Name = name
		if _, err := Answer(context.Background(), &scriptConn{transcript: testTranscript}, g.init, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("name %q: Answer accepted it: %v", name, err)
		}
	}
	if _, err := parseChallengePayload(challengePayload{name: "Gateway \u00e9\u20ac"}.append(nil)); err != nil {
		t.Errorf("printable UTF-8 name refused: %v", err)
	}
}
