package auth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flynn/noise"
)

// The handshake fuzz targets drive one side of the handshake with peer
// tokens and check what it promises (docs/access-security.md §4, §5):
//
//   - the outcome is one of the state diagram's: success, a REJECT sent (the
//     gateway) or received (the caller), or a protocol failure wrapping one
//     of the package's sentinel errors;
//   - the gateway answers each command once, CHALLENGE then CONFIRM or
//     REJECT, and sends nothing after its final token; CONFIRM only after
//     Verify accepted a real user's password, at most one Verify per call;
//   - a REJECT sent carries a documented reason, clear (protocol-error or
//     version) before the handshake completed and sealed after it, and the
//     sealed one decrypts (for the genuine caller) to the reason Answer
//     reports;
//   - the caller sends INITIATE, and RESPONSE only after CHALLENGE
//     authenticated a host key that CheckHostKey accepted; a Credentials
//     callback runs exactly when RESPONSE is sent, the tokens are the
//     same as with UserID and Password, and its password is zeroed;
//   - no password octets appear in a token sent or in an error's text;
//   - every token sent is at most MaxTokenSize octets.
//
// FuzzAnswer and FuzzCall take raw tokens, which (short of forging a
// Noise message) reach only the paths before decryption; FuzzAnswerSealed
// and FuzzCallSealed seal the fuzzer's plaintext with the keys the genuine
// peer holds, and check the plaintext's fate against a model of the state
// diagram.

// handshakeKeys are the transport keys and handshake hash of a golden call,
// recomputed by replaying its caller.
type handshakeKeys struct {
	c2g, g2c noise.CipherState
	h        []byte
	caps     uint8
}

// replayKeys replays the caller of s (the same seeded randomness and
// prologue) against g's CHALLENGE with the reference Noise suite and
// returns what the genuine caller and gateway share.
func replayKeys(t testing.TB, s scenario, g goldenCall) handshakeKeys {
	t.Helper()
	caps := CapSealed
	if s.callback {
		caps |= CapCallback
	}
	if s.aes {
		caps |= CapAESGCM
	}
	prologue, err := nxPrologue(testTranscript)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: cipherSuite, Random: newRecRand(s.callerSeed),
		Pattern: noise.HandshakeNX, Initiator: true, Prologue: prologue,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, _, _, err := hs.WriteMessage(nil, []byte{caps})
	if err != nil || !bytes.Equal(appendInitiate(nil, msg), g.init) {
		t.Fatalf("scenario %s: the replayed INITIATE differs from the golden one (%v)", s.name, err)
	}
	chal, err := parseChallenge(g.chal)
	if err != nil {
		t.Fatal(err)
	}
	_, c2g, g2c, err := hs.ReadMessage(nil, chal)
	if err != nil || c2g == nil || g2c == nil {
		t.Fatalf("scenario %s: replaying CHALLENGE: %v", s.name, err)
	}
	return handshakeKeys{c2g: *c2g, g2c: *g2c, h: hs.ChannelBinding(), caps: caps}
}

// sealAs seals plain after hdr (a RESPONSE's, a CONFIRM's or a sealed
// REJECT's) under a copy of cs: the first transport message of its
// direction.
func (k handshakeKeys) sealAs(cs noise.CipherState, hdr, plain []byte) []byte {
	tok, err := cs.Encrypt(append([]byte(nil), hdr...), sealedAD(hdr, k.h), plain)
	if err != nil {
		panic(err)
	}
	return tok
}

// openFinal decrypts the gateway's final token (CONFIRM or sealed REJECT)
// as the genuine caller would.
func (k handshakeKeys) openFinal(tok []byte) ([]byte, error) {
	g2c := k.g2c
	if r, err := parseReject(tok); err == nil && r.sealed {
		return g2c.Decrypt(nil, sealedAD(rejectSealedHeader, k.h), r.body)
	}
	body, err := parseSealed(tok, TypeConfirm)
	if err != nil {
		return nil, err
	}
	return g2c.Decrypt(nil, sealedAD(tok[:headerLen], k.h), body)
}

// verifyCall is one call of the answerer's Verify.
type verifyCall struct {
	id, pw string
	err    error
}

// answerRun is one Answer with a recording Verify.
type answerRun struct {
	res      *AnswerResult
	err      error
	conn     *scriptConn
	verifies []verifyCall
}

func runAnswer(s scenario, first []byte, commands ...[]byte) answerRun {
	r := answerRun{conn: &scriptConn{transcript: testTranscript, commands: commands}}
	cfg := answererConfig(s.gwSeed, nil)
	verify := cfg.Verify
	cfg.Verify = func(ctx context.Context, id, pw string) (User, error) {
		u, err := verify(ctx, id, pw)
		r.verifies = append(r.verifies, verifyCall{id: id, pw: pw, err: err})
		return u, err
	}
	r.res, r.err = Answer(context.Background(), r.conn, first, cfg)
	return r
}

var documentedReasons = map[Reason]bool{
	ReasonDenied: true, ReasonBusy: true, ReasonCallbackUnavailable: true,
	ReasonProtocolError: true, ReasonTimeout: true, ReasonVersion: true,
	ReasonNotOffered: true,
}

// secretsIn lists the passwords no token or error may carry: the test
// users' and any the caller presented (long enough that a chance match in
// ciphertext is negligible).
func secretsIn(verifies []verifyCall) []string {
	s := []string{}
	for _, u := range testUsers {
		s = append(s, u.password)
	}
	for _, v := range verifies {
		if len(v.pw) >= 6 {
			s = append(s, v.pw)
		}
	}
	return s
}

// checkNoSecrets checks that no token sent and no error text holds one of
// secrets. An error may name the user ID presented (ids): a password the
// caller typed into the user ID field is no password there.
func checkNoSecrets(t *testing.T, secrets, ids []string, err error, sent ...[][]byte) {
	t.Helper()
	for _, pw := range secrets {
		for _, toks := range sent {
			for _, tok := range toks {
				if bytes.Contains(tok, []byte(pw)) {
					t.Fatalf("password %q sent in token %x", pw, tok)
				}
			}
		}
		if err == nil || !strings.Contains(err.Error(), pw) {
			continue
		}
		if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(id, pw) }) {
			t.Fatalf("password %q in the error %q", pw, err)
		}
	}
}

// checkAnswer checks the shape of what Answer sent against its result,
// whatever the caller's tokens were. It returns the final token sent.
func checkAnswer(t *testing.T, r answerRun) []byte {
	t.Helper()
	sent := r.conn.sentResps
	if len(sent) == 0 || len(sent) > 2 {
		t.Fatalf("Answer sent %d tokens (%v), want CHALLENGE and a final token, or one clear REJECT", len(sent), r.err)
	}
	for _, tok := range sent {
		if len(tok) > MaxTokenSize {
			t.Fatalf("Answer sent a token of %d octets", len(tok))
		}
	}
	if len(r.verifies) > 1 {
		t.Fatalf("Verify ran %d times in one call", len(r.verifies))
	}
	var ids []string
	for _, v := range r.verifies {
		ids = append(ids, v.id)
	}
	checkNoSecrets(t, secretsIn(r.verifies), ids, r.err, sent)
	final := sent[len(sent)-1]
	if len(sent) == 2 {
		if _, err := parseChallenge(sent[0]); err != nil {
			t.Fatalf("Answer's first token %x is not a CHALLENGE: %v", sent[0], err)
		}
	}
	if r.err == nil {
		if r.res == nil || len(sent) != 2 {
			t.Fatalf("Answer succeeded with result %v after %d tokens", r.res, len(sent))
		}
		if _, err := parseSealed(final, TypeConfirm); err != nil {
			t.Fatalf("Answer succeeded but its final token %x is not a CONFIRM: %v", final, err)
		}
		if len(r.verifies) != 1 || r.verifies[0].err != nil {
			t.Fatalf("CONFIRM sent without a successful Verify (%+v)", r.verifies)
		}
		v := r.verifies[0]
		if u, ok := testUsers[v.id]; !ok || u.password != v.pw || r.res.User.ID != v.id {
			t.Fatalf("CONFIRM for %q after Verify(%q, %q)", r.res.User.ID, v.id, v.pw)
		}
		if (r.res.Callback != nil) == (r.res.Transform != nil) || r.res.SessionNumber != testSession {
			t.Fatalf("result: callback %v, transform %v, session %d", r.res.Callback, r.res.Transform, r.res.SessionNumber)
		}
		return final
	}
	if r.res != nil {
		t.Fatalf("Answer returned a result with error %v", r.err)
	}
	var re *RejectError
	if !errors.As(r.err, &re) || !re.Sent {
		t.Fatalf("Answer failed without reporting the REJECT it sent: %v", r.err)
	}
	if !documentedReasons[re.Reason] || re.PeerVersion != Version {
		t.Fatalf("Answer sent REJECT %v (version %d)", re.Reason, re.PeerVersion)
	}
	rt, err := parseReject(final)
	if err != nil {
		t.Fatalf("Answer failed (%v) but its final token %x is not a REJECT: %v", r.err, final, err)
	}
	if len(sent) == 1 {
		// Before the handshake: INITIATE refused in clear.
		if rt.sealed || re.Authenticated || rt.reason != re.Reason || rt.version != Version ||
			(re.Reason != ReasonProtocolError && re.Reason != ReasonVersion) {
			t.Fatalf("INITIATE refused with %x, reported as %+v", final, re)
		}
		if len(r.verifies) != 0 {
			t.Fatal("Verify ran for a refused INITIATE")
		}
		return final
	}
	if !rt.sealed || !re.Authenticated || rt.version != Version {
		t.Fatalf("REJECT %x after CHALLENGE is not sealed (reported %+v)", final, re)
	}
	if re.Reason == ReasonVersion {
		t.Fatal("sealed REJECT version after CHALLENGE")
	}
	return final
}

// FuzzAnswer drives the gateway with an arbitrary INITIATE and RESPONSE.
// Only the genuine pair succeeds; every run has the shape checkAnswer
// checks; and when INITIATE is the genuine caller's, the gateway's final
// token decrypts for that caller to what Answer reports.
func FuzzAnswer(f *testing.F) {
	g := golden(f, scenarioDirect)
	keys := replayKeys(f, scenarioDirect, g)
	f.Add(g.init, []byte(nil))
	f.Add(g.init, g.init)
	f.Add(g.init[:len(g.init)-1], g.resp)
	f.Add(append([]byte{2}, g.init[1:]...), g.resp)
	f.Add(append(append([]byte(nil), g.init...), 0), g.resp)
	f.Add(g.init, append(append([]byte(nil), g.resp...), 0))
	f.Fuzz(func(t *testing.T, init, resp []byte) {
		r := runAnswer(scenarioDirect, init, resp)
		final := checkAnswer(t, r)
		if r.err == nil && !(bytes.Equal(init, g.init) && bytes.Equal(resp, g.resp)) {
			t.Fatalf("gateway accepted forged INITIATE %x RESPONSE %x", init, resp)
		}
		if !bytes.Equal(init, g.init) || len(r.conn.sentResps) != 2 {
			return
		}
		if !bytes.Equal(r.conn.sentResps[0], g.chal) {
			t.Fatal("the gateway's CHALLENGE to the golden INITIATE changed: the harness is not deterministic")
		}
		plain, err := keys.openFinal(final)
		if err != nil {
			t.Fatalf("the genuine caller cannot open the gateway's final token %x: %v", final, err)
		}
		if r.err == nil {
			return
		}
		re, _ := RejectReason(r.err)
		if len(plain) != 1 || Reason(plain[0]) != re {
			t.Fatalf("sealed REJECT carries %x, Answer reports %v", plain, re)
		}
		if re != ReasonProtocolError {
			// Only a RESPONSE sealed with the caller's key gets further.
			t.Fatalf("forged RESPONSE %x answered %v, want protocol-error", resp, re)
		}
	})
}

// FuzzAnswerSealed gives the gateway the genuine INITIATE of a scenario
// and a RESPONSE whose plaintext is the fuzzer's, sealed with that
// caller's key. The gateway's answer must be the state diagram's for the
// plaintext: protocol-error for a malformed one or capabilities that
// differ from INITIATE's (without Verify), denied for a wrong login,
// callback-unavailable for a callback user who offered no callback, else
// CONFIRM naming the session, the callback and the cipher.
func FuzzAnswerSealed(f *testing.F) {
	scenarios := []scenario{scenarioDirect, scenarioCallback, scenarioAES}
	type fixture struct {
		g    goldenCall
		keys handshakeKeys
	}
	fx := make([]fixture, len(scenarios))
	for i, s := range scenarios {
		fx[i].g = golden(f, s)
		fx[i].keys = replayKeys(f, s, fx[i].g)
	}
	login := func(caps uint8, id, pw string) []byte {
		return responsePlain{caps: caps, userID: id, password: []byte(pw)}.append(nil)
	}
	f.Add(uint8(0), login(CapSealed, "bob", "battery staple"))
	f.Add(uint8(0), login(CapSealed, "bob", "battery stapl"))
	f.Add(uint8(0), login(CapSealed, "alice", "correct horse"))
	f.Add(uint8(0), login(CapSealed|CapAESGCM, "bob", "battery staple"))
	f.Add(uint8(1), login(CapSealed|CapCallback, "alice", "correct horse"))
	f.Add(uint8(1), login(CapSealed|CapCallback, "bob", "battery staple"))
	f.Add(uint8(2), login(CapSealed|CapAESGCM, "bob", "battery staple"))
	f.Add(uint8(2), login(CapSealed|CapAESGCM, "mallory", ""))
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), login(CapSealed, "bob", "battery staple")[:padQuantum-1])
	f.Fuzz(func(t *testing.T, which uint8, plain []byte) {
		i := int(which) % len(scenarios)
		s, x := scenarios[i], fx[i]
		if len(plain) > MaxTokenSize {
			return
		}
		resp := x.keys.sealAs(x.keys.c2g, header(TypeResponse), plain)
		r := runAnswer(s, x.g.init, resp)
		final := checkAnswer(t, r)
		if len(r.conn.sentResps) != 2 {
			t.Fatalf("the genuine INITIATE was refused: %v", r.err)
		}
		out, err := x.keys.openFinal(final)
		if err != nil {
			t.Fatalf("the caller cannot open the gateway's final token: %v", err)
		}

		// The model: what the state diagram answers to this plaintext.
		want, wantUser := ReasonProtocolError, User{}
		if p, err := parseResponsePlain(plain); err == nil && len(plain) <= MaxTokenSize-headerLen-tagLen && p.caps == x.keys.caps {
			if len(r.verifies) != 1 || r.verifies[0].id != p.userID || r.verifies[0].pw != string(p.password) {
				t.Fatalf("Verify calls %+v for the login %q/%q", r.verifies, p.userID, p.password)
			}
			u, ok := testUsers[p.userID]
			switch {
			case !ok || u.password != string(p.password):
				want = ReasonDenied
			case u.user.Callback != "" && p.caps&CapCallback == 0:
				want = ReasonCallbackUnavailable
			default:
				want, wantUser = 0, u.user
			}
		} else if len(r.verifies) != 0 {
			t.Fatalf("Verify ran for a RESPONSE plaintext the gateway must refuse: %x", plain)
		}

		if want != 0 {
			if got, _ := RejectReason(r.err); got != want || len(out) != 1 || Reason(out[0]) != want {
				t.Fatalf("RESPONSE plaintext %x: Answer reports %v and sent %x, want REJECT %v", plain, r.err, out, want)
			}
			return
		}
		if r.err != nil {
			t.Fatalf("valid login %q refused: %v", wantUser.ID, r.err)
		}
		c, err := parseConfirmPlain(out)
		if err != nil {
			t.Fatalf("CONFIRM plaintext %x: %v", out, err)
		}
		wantAES := x.keys.caps&CapAESGCM != 0
		if r.res.User != wantUser || c.session != testSession || c.callback != (wantUser.Callback != "") || c.aes != wantAES ||
			(r.res.Cipher == CipherAESGCM) != wantAES {
			t.Fatalf("CONFIRM %+v with result %+v for user %+v", c, r.res, wantUser)
		}
	})
}

// callRun is one Call with a recording host-key check.
type callRun struct {
	res     *CallResult
	err     error
	conn    *scriptConn
	checked int
}

func runCall(s scenario, responses ...[]byte) callRun {
	r := callRun{conn: &scriptConn{transcript: testTranscript, responses: responses}}
	cfg := s.callerConfig(nil)
	check := cfg.CheckHostKey
	cfg.CheckHostKey = func(pub []byte) error { r.checked++; return check(pub) }
	r.res, r.err = Call(context.Background(), r.conn, cfg)
	return r
}

// checkCredentials runs the call of r again with the login given by
// Credentials and checks its promises (CallerConfig.Credentials): called
// exactly once when RESPONSE is sent and not at all when the call ends
// before, with the gateway's name; the same tokens sent and the same
// outcome as with UserID and Password; the password's bytes zeroed by the
// time Call returns.
func checkCredentials(t *testing.T, s scenario, r callRun, responses ...[]byte) {
	t.Helper()
	conn := &scriptConn{transcript: testTranscript, responses: responses}
	cfg := s.callerConfig(nil)
	cfg.UserID, cfg.Password = "", ""
	var calls int
	var pw []byte
	cfg.Credentials = func(ctx context.Context, name string) (string, []byte, error) {
		calls++
		if name != testGatewayName {
			t.Fatalf("Credentials asked for gateway %q", name)
		}
		pw = []byte(s.pw)
		return s.user, pw, nil
	}
	res, err := Call(context.Background(), conn, cfg)
	if want := len(r.conn.sentCmds) - 1; calls != want {
		t.Fatalf("Credentials called %d times, %d RESPONSE sent", calls, want)
	}
	if pw != nil && !bytes.Equal(pw, make([]byte, len(pw))) {
		t.Fatalf("the password %q is not zeroed after Call", pw)
	}
	if len(conn.sentCmds) != len(r.conn.sentCmds) || (err == nil) != (r.err == nil) || (res == nil) != (r.res == nil) {
		t.Fatalf("with Credentials: %d commands, %v; with UserID/Password: %d commands, %v", len(conn.sentCmds), err, len(r.conn.sentCmds), r.err)
	}
	for i := range conn.sentCmds {
		if !bytes.Equal(conn.sentCmds[i], r.conn.sentCmds[i]) {
			t.Fatalf("command %d differs with Credentials: %x vs %x", i, conn.sentCmds[i], r.conn.sentCmds[i])
		}
	}
}

// checkCall checks the shape of what Call sent against its result: the
// golden INITIATE, then RESPONSE only after the host key was accepted,
// nothing after; no password in clear; a failure that is a *RejectError or
// wraps a sentinel error.
func checkCall(t *testing.T, g goldenCall, r callRun, chal []byte) {
	t.Helper()
	sent := r.conn.sentCmds
	if len(sent) == 0 || len(sent) > 2 || !bytes.Equal(sent[0], g.init) {
		t.Fatalf("Call sent %d commands, the first %x", len(sent), sent)
	}
	for _, tok := range sent {
		if len(tok) > MaxTokenSize {
			t.Fatalf("Call sent a token of %d octets", len(tok))
		}
	}
	checkNoSecrets(t, secretsIn(nil), nil, r.err, sent)
	if len(sent) == 2 {
		if r.checked != 1 || !bytes.Equal(chal, g.chal) {
			t.Fatalf("RESPONSE sent after CHALLENGE %x (host key checked %d times)", chal, r.checked)
		}
		if _, err := parseSealed(sent[1], TypeResponse); err != nil {
			t.Fatalf("Call's second command %x is not a RESPONSE: %v", sent[1], err)
		}
	}
	if r.err == nil {
		if r.res == nil || len(sent) != 2 || !bytes.Equal(r.res.HostKey, testHostKey("gateway").Public) ||
			(r.res.Transform == nil) != r.res.Callback || (r.res.Ticket != nil) != r.res.Callback {
			t.Fatalf("Call succeeded after %d commands with %+v", len(sent), r.res)
		}
		return
	}
	if r.res != nil {
		t.Fatalf("Call returned a result with error %v", r.err)
	}
	var re *RejectError
	if errors.As(r.err, &re) {
		if re.Sent {
			t.Fatalf("the caller reports sending a REJECT: %v", r.err)
		}
		if re.Authenticated != (len(sent) == 2) {
			t.Fatalf("REJECT authenticated=%v after %d commands", re.Authenticated, len(sent))
		}
		if !re.Authenticated {
			// A clear REJECT answers INITIATE: its reason octet, reported
			// as is (unknown codes too, §5).
			if len(chal) != rejectClearLen || Reason(chal[3]) != re.Reason || chal[0] != re.PeerVersion {
				t.Fatalf("CHALLENGE %x reported as %+v", chal, re)
			}
		}
		return
	}
	for _, e := range []error{ErrMalformed, ErrVersion, ErrUnexpected, ErrAuthFailed, ErrHostKeyRejected} {
		if errors.Is(r.err, e) {
			return
		}
	}
	t.Fatalf("Call failed with an undocumented error: %v", r.err)
}

// FuzzCall drives the caller with an arbitrary CHALLENGE and CONFIRM:
// only the genuine pair succeeds, and every run has the shape checkCall
// checks.
func FuzzCall(f *testing.F) {
	g := golden(f, scenarioDirect)
	f.Add(g.chal, g.resp)
	f.Add(g.chal, appendRejectClear(nil, ReasonDenied))
	f.Add(appendRejectClear(nil, 77), []byte(nil))
	f.Add([]byte{9, byte(TypeReject), rejectClear, byte(ReasonVersion)}, []byte(nil))
	f.Add(g.chal[:len(g.chal)-1], g.fin)
	f.Add(g.chal, g.fin[:len(g.fin)-1])
	f.Fuzz(func(t *testing.T, chal, fin []byte) {
		r := runCall(scenarioDirect, chal, fin)
		checkCall(t, g, r, chal)
		checkCredentials(t, scenarioDirect, r, chal, fin)
		if r.err == nil && (!(bytes.Equal(chal, g.chal) && bytes.Equal(fin, g.fin)) || r.res.SessionNumber != testSession) {
			t.Fatalf("caller accepted forged CHALLENGE %x CONFIRM %x", chal, fin)
		}
	})
}

// FuzzCallSealed gives the caller the genuine CHALLENGE of a scenario and
// a final token sealed with the gateway's key: a CONFIRM (kind even) or a
// sealed REJECT (kind odd) whose plaintext is the fuzzer's. The caller must
// take a well-formed CONFIRM as it says (session, callback, cipher) unless
// it names a callback or AES-256-GCM the caller did not offer
// (ErrUnexpected), refuse a malformed one (ErrMalformed), and report a
// sealed REJECT's reason octet, documented or not, as authenticated.
func FuzzCallSealed(f *testing.F) {
	scenarios := []scenario{scenarioDirect, scenarioCallback, scenarioAES}
	gs := make([]goldenCall, len(scenarios))
	keys := make([]handshakeKeys, len(scenarios))
	for i, s := range scenarios {
		gs[i] = golden(f, s)
		keys[i] = replayKeys(f, s, gs[i])
	}
	for i := range scenarios {
		for _, c := range []confirmPlain{{session: 1}, {session: 7, callback: true, callbackTTL: 120}, {session: 9, aes: true}} {
			f.Add(uint8(i), uint8(0), c.append(nil))
		}
		f.Add(uint8(i), uint8(1), []byte{byte(ReasonDenied)})
		f.Add(uint8(i), uint8(1), []byte{200})
		f.Add(uint8(i), uint8(1), []byte{})
	}
	f.Fuzz(func(t *testing.T, which, kind uint8, plain []byte) {
		i := int(which) % len(scenarios)
		s, g, k := scenarios[i], gs[i], keys[i]
		if len(plain) > MaxTokenSize {
			return
		}
		var fin []byte
		if kind%2 == 0 {
			fin = k.sealAs(k.g2c, header(TypeConfirm), plain)
		} else {
			fin = k.sealAs(k.g2c, rejectSealedHeader, plain)
		}
		r := runCall(s, g.chal, fin)
		checkCall(t, g, r, g.chal)
		checkCredentials(t, s, r, g.chal, fin)
		if len(r.conn.sentCmds) != 2 {
			t.Fatalf("the genuine CHALLENGE did not get a RESPONSE: %v", r.err)
		}
		if kind%2 == 1 {
			var re *RejectError
			switch {
			case len(plain) != 1:
				if !errors.Is(r.err, ErrMalformed) {
					t.Fatalf("sealed REJECT with %d octets of plaintext: %v", len(plain), r.err)
				}
			case !errors.As(r.err, &re) || !re.Authenticated || re.Reason != Reason(plain[0]):
				t.Fatalf("sealed REJECT %x reported as %v", plain, r.err)
			}
			return
		}
		c, perr := parseConfirmPlain(plain)
		switch {
		case perr != nil:
			if !errors.Is(r.err, ErrMalformed) {
				t.Fatalf("malformed CONFIRM plaintext %x: %v", plain, r.err)
			}
		case c.aes && k.caps&CapAESGCM == 0, c.callback && k.caps&CapCallback == 0:
			if !errors.Is(r.err, ErrUnexpected) {
				t.Fatalf("CONFIRM %+v not offered for caps 0x%02x: %v", c, k.caps, r.err)
			}
		default:
			if r.err != nil {
				t.Fatalf("CONFIRM %+v refused: %v", c, r.err)
			}
			if r.res.SessionNumber != c.session || r.res.Callback != c.callback || (r.res.Cipher == CipherAESGCM) != c.aes {
				t.Fatalf("CONFIRM %+v taken as %+v", c, r.res)
			}
		}
	})
}
