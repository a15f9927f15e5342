package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestCipherNegotiation: the data cipher is AES-256-GCM exactly when the
// caller offers it and the gateway takes it, on a direct call and on a
// callback (whose cipher the first call's CONFIRM names); both ends agree
// and their transforms carry data both ways.
func TestCipherNegotiation(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tc := range []struct {
		name            string
		caller, gateway CipherPolicy
		want            DataCipher
	}{
		{"both prefer AES", CipherPreferAES, CipherPreferAES, CipherAESGCM},
		{"caller only ChaCha", CipherOnlyChaCha, CipherPreferAES, CipherChaChaPoly},
		{"gateway only ChaCha", CipherPreferAES, CipherOnlyChaCha, CipherChaChaPoly},
		{"neither", CipherOnlyChaCha, CipherOnlyChaCha, CipherChaChaPoly},
	} {
		for _, s := range []scenario{scenarioDirect, scenarioCallback} {
			t.Run(tc.name+"/"+s.name, func(t *testing.T) {
				cc := s.callerConfig(nil)
				cc.Cipher = tc.caller
				ac := answererConfig("g", nil)
				ac.Cipher = tc.gateway
				r := runPair(t, cc, ac, testTranscript, testTranscript, nil)
				if r.callErr != nil || r.ansErr != nil {
					t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
				}
				if r.call.Cipher != tc.want || r.ans.Cipher != tc.want {
					t.Fatalf("caller says %v, gateway says %v, want %v", r.call.Cipher, r.ans.Cipher, tc.want)
				}
				offered := r.log[0].tok[initiateLen-1]&CapAESGCM != 0
				if offered != (tc.caller == CipherPreferAES) {
					t.Fatalf("INITIATE caps 0x%02x with caller policy %d", r.log[0].tok[initiateLen-1], tc.caller)
				}
				callerTr, gwTr := r.call.Transform, r.ans.Transform
				if s.callback {
					var gerr, cerr error
					gwTr, callerTr, _, gerr, cerr = runCallbackPair(t, r.ans.Callback, newRecRand("cb"), r.call.Ticket)
					if gerr != nil || cerr != nil {
						t.Fatalf("place: %v; accept: %v", gerr, cerr)
					}
				}
				if Cipher(callerTr) != tc.want || Cipher(gwTr) != tc.want {
					t.Fatalf("transforms use %v / %v, want %v", Cipher(callerTr), Cipher(gwTr), tc.want)
				}
				checkData(t, callerTr, gwTr)
			})
		}
	}
}

// TestCipherNotOfferedRefused: a CONFIRM that picks AES-256-GCM for a
// caller that did not offer it is refused (a gateway cannot impose a
// cipher), and a CONFIRM with unknown flags is malformed. The gateway side
// is the package's answerer driven by hand, so that its CONFIRM can carry
// any flags under the real keys.
func TestCipherNotOfferedRefused(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tc := range []struct {
		name  string
		flags byte
		want  error
	}{
		{"AES not offered", confirmAESGCM, ErrUnexpected},
		{"unknown flag", 0x40, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c, g := newXIDPipe("C", testTranscript, "G", testTranscript)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			gwErr := make(chan error, 1)
			go func() {
				first, err := g.AcceptXID(ctx)
				if err != nil {
					gwErr <- err
					return
				}
				a := &answerer{cfg: answererConfig("g", nil), conn: g, first: first}
				defer a.dh.forget()
				if err := a.sendChallenge(); err != nil {
					gwErr <- err
					return
				}
				if _, err := a.readResponse(ctx); err != nil {
					gwErr <- err
					return
				}
				plain := confirmPlain{session: testSession}.append(nil)
				plain[8] = tc.flags
				hdr := header(TypeConfirm)
				tok, err := a.send.Encrypt(hdr, sealedAD(hdr, a.h), plain)
				if err == nil {
					err = g.RespondXID(tok)
				}
				gwErr <- err
			}()
			cc := scenarioDirect.callerConfig(nil) // CipherOnlyChaCha
			res, err := Call(ctx, c, cc)
			if !errors.Is(err, tc.want) || res != nil {
				t.Fatalf("caller: %v, want %v", err, tc.want)
			}
			if err := <-gwErr; err != nil {
				t.Fatalf("gateway: %v", err)
			}
		})
	}
}

// TestCipherOfferStripped: an attacker on the line who clears AESGCM in
// INITIATE (a downgrade to ChaCha20-Poly1305) or sets it (an upgrade the
// caller never offered) breaks the handshake instead: caps is hashed into
// it, so the caller cannot open CHALLENGE.
func TestCipherOfferStripped(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, caller := range []CipherPolicy{CipherPreferAES, CipherOnlyChaCha} {
		cc := scenarioDirect.callerConfig(nil)
		cc.Cipher = caller
		var calls int
		r := runPair(t, cc, answererConfig("g", &calls), testTranscript, testTranscript, func(from string, i int, tok []byte) []byte {
			if from == "C" && i == 0 {
				tok = append([]byte(nil), tok...)
				tok[initiateLen-1] ^= CapAESGCM
			}
			return tok
		})
		if !errors.Is(r.callErr, ErrAuthFailed) || r.call != nil || calls != 0 {
			t.Errorf("caller policy %d, INITIATE's AESGCM flipped: call %v, verify calls %d", caller, r.callErr, calls)
		}
	}
}

// TestUnknownCapsIgnored: a gateway takes an INITIATE with capability bits
// it does not know (a newer caller's offers) and ignores them: the call
// goes through with the ciphers the known bits say, and RESPONSE must still
// repeat the whole octet.
func TestUnknownCapsIgnored(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tc := range []struct {
		caps uint8
		want DataCipher
	}{
		{CapSealed | 0x80, CipherChaChaPoly},
		{CapSealed | CapAESGCM | 0x40 | 0x08, CipherAESGCM},
	} {
		p, c, g := newXIDPipe("C", testTranscript, "G", testTranscript)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var ans *AnswerResult
		gwErr := make(chan error, 1)
		go func() {
			first, err := g.AcceptXID(ctx)
			if err == nil {
				ans, err = Answer(ctx, g, first, answererConfig("g", nil))
			}
			gwErr <- err
		}()
		cr := &caller{cfg: scenarioDirect.callerConfig(nil), conn: c, caps: tc.caps}
		res, err := cr.handshake(ctx)
		cr.dh.forget()
		if gerr := <-gwErr; err != nil || gerr != nil {
			t.Fatalf("caps 0x%02x: call %v; answer %v", tc.caps, err, gerr)
		}
		if res.Cipher != tc.want || ans.Cipher != tc.want {
			t.Errorf("caps 0x%02x: ciphers %v / %v, want %v", tc.caps, res.Cipher, ans.Cipher, tc.want)
		}
		checkData(t, res.Transform, ans.Transform)
		cancel()
		p.Close()
	}
}
