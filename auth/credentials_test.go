package auth

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// credentialsProbe is a CallerConfig.Credentials that records its calls
// and the order of the host-key check and itself, and keeps the password
// slices it handed out to see that Call zeroed them.
type credentialsProbe struct {
	events  []string // "host key", "credentials"
	names   []string // gatewayName of each call
	handed  [][]byte // the password slices given to Call
	user    string
	pw      string
	err     error
	onCall  func() // run inside Credentials (cancels a context)
	refuse  bool   // CheckHostKey refuses the key
	hostKey []byte // the key CheckHostKey accepts
}

// config is s's CallerConfig with the login taken from p.
func (p *credentialsProbe) config(s scenario) CallerConfig {
	if p.hostKey == nil {
		p.hostKey = testHostKey("gateway").Public
	}
	cc := s.callerConfig(func(pub []byte) error {
		p.events = append(p.events, "host key")
		if p.refuse || !bytes.Equal(pub, p.hostKey) {
			return errors.New("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!")
		}
		return nil
	})
	cc.UserID, cc.Password = "", ""
	cc.Credentials = func(ctx context.Context, gatewayName string) (string, []byte, error) {
		p.events = append(p.events, "credentials")
		p.names = append(p.names, gatewayName)
		if p.onCall != nil {
			p.onCall()
		}
		pw := []byte(p.pw)
		p.handed = append(p.handed, pw)
		return p.user, pw, p.err
	}
	return cc
}

// checkWiped fails unless every password slice handed to Call is zeroed.
func (p *credentialsProbe) checkWiped(t *testing.T) {
	t.Helper()
	for _, pw := range p.handed {
		if len(pw) > 0 && !bytes.Equal(pw, make([]byte, len(pw))) {
			t.Errorf("password %q not zeroed by Call", pw)
		}
	}
}

// TestCredentialsAfterHostKey: with Credentials the login is taken once,
// after the host key was accepted, with the gateway's name; the login
// works, the password is zeroed, and the tokens are those of the same
// call with UserID and Password (the wire does not change).
func TestCredentialsAfterHostKey(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, s := range []scenario{scenarioDirect, scenarioCallback} {
		t.Run(s.name, func(t *testing.T) {
			p := &credentialsProbe{user: s.user, pw: s.pw}
			var calls int
			r := runPair(t, p.config(s), answererConfig(s.gwSeed, &calls), testTranscript, testTranscript, nil)
			if r.callErr != nil || r.ansErr != nil {
				t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
			}
			if strings.Join(p.events, ", ") != "host key, credentials" || len(p.names) != 1 || p.names[0] != testGatewayName {
				t.Fatalf("events %q, gateway names %q; want the host key, then the credentials once, for %q", p.events, p.names, testGatewayName)
			}
			if r.ans.User.ID != s.user || calls != 1 || r.call.SessionNumber != testSession {
				t.Fatalf("gateway logged in %q (verify calls %d), session %d", r.ans.User.ID, calls, r.call.SessionNumber)
			}
			p.checkWiped(t)
			want := golden(t, s)
			if len(r.log) != 4 {
				t.Fatalf("%d tokens, want 4", len(r.log))
			}
			for i, tok := range [][]byte{want.init, want.chal, want.resp, want.fin} {
				if !bytes.Equal(r.log[i].tok, tok) {
					t.Errorf("token %d differs from the call with UserID and Password:\n got %x\nwant %x", i, r.log[i].tok, tok)
				}
			}
			if s.callback {
				if r.call.Ticket == nil || r.call.Ticket.userID != s.user {
					t.Fatalf("callback ticket %+v, want one for %q", r.call.Ticket, s.user)
				}
				_, _, _, gerr, cerr := runCallbackPair(t, r.ans.Callback, newRecRand("cb"), r.call.Ticket)
				if gerr != nil || cerr != nil {
					t.Fatalf("callback: place %v; accept %v", gerr, cerr)
				}
			} else {
				checkData(t, r.call.Transform, r.ans.Transform)
			}
		})
	}
}

// TestCredentialsNotTakenBeforeProof: a refused host key, an impostor's
// key and a REJECT at CHALLENGE end the call without Credentials being
// called.
func TestCredentialsNotTakenBeforeProof(t *testing.T) {
	testutil.CheckGoroutines(t)
	p := &credentialsProbe{user: "bob", pw: "battery staple", refuse: true}
	r := runPair(t, p.config(scenarioDirect), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) || strings.Join(p.events, ", ") != "host key" {
		t.Fatalf("refused key: %v, events %q; want ErrHostKeyRejected and no credentials", r.callErr, p.events)
	}
	checkPasswordNeverSent(t, r.log, p.pw)

	p = &credentialsProbe{user: "bob", pw: "battery staple"}
	ac := answererConfig("g", nil)
	ac.HostKey = testHostKey("impostor")
	r = runPair(t, p.config(scenarioDirect), ac, testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) || strings.Join(p.events, ", ") != "host key" {
		t.Fatalf("impostor: %v, events %q; want ErrHostKeyRejected and no credentials", r.callErr, p.events)
	}
	checkPasswordNeverSent(t, r.log, p.pw)

	gw := &scriptConn{transcript: testTranscript}
	if err := RejectInitiate(gw, ReasonBusy); err != nil {
		t.Fatal(err)
	}
	p = &credentialsProbe{user: "bob", pw: "battery staple"}
	conn := &scriptConn{transcript: testTranscript, responses: gw.sentResps}
	_, err := Call(context.Background(), conn, p.config(scenarioDirect))
	if reason, ok := RejectReason(err); !ok || reason != ReasonBusy || len(p.events) != 0 || len(conn.sentCmds) != 1 {
		t.Fatalf("REJECT busy: %v, events %q, %d tokens sent", err, p.events, len(conn.sentCmds))
	}
}

// TestCredentialsAbort: an error from Credentials, a login it gives that
// Call refuses, or a context done while it ran end the call with no
// RESPONSE sent, and the password it gave zeroed.
func TestCredentialsAbort(t *testing.T) {
	testutil.CheckGoroutines(t)
	errAbandoned := errors.New("abandoned at the prompt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		p    *credentialsProbe
		ctx  context.Context
		want error
	}{
		{"error", &credentialsProbe{user: "bob", pw: "battery staple", err: errAbandoned}, context.Background(), errAbandoned},
		{"user ID too long", &credentialsProbe{user: strings.Repeat("u", MaxUserIDLen+1), pw: "battery staple"}, context.Background(), ErrConfig},
		{"empty user ID", &credentialsProbe{pw: "battery staple"}, context.Background(), ErrConfig},
		{"password too long", &credentialsProbe{user: "bob", pw: strings.Repeat("p", MaxPasswordLen+1)}, context.Background(), ErrConfig},
		{"context done", &credentialsProbe{user: "bob", pw: "battery staple", onCall: cancel}, ctx, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := golden(t, scenarioDirect)
			conn := &scriptConn{transcript: testTranscript, responses: [][]byte{g.chal, g.fin}}
			_, err := Call(c.ctx, conn, c.p.config(scenarioDirect))
			if !errors.Is(err, c.want) || len(c.p.names) != 1 {
				t.Fatalf("Call: %v after %d Credentials calls; want %v after 1", err, len(c.p.names), c.want)
			}
			if len(conn.sentCmds) != 1 || !bytes.Equal(conn.sentCmds[0], g.init) {
				t.Fatalf("sent %d tokens; want only INITIATE", len(conn.sentCmds))
			}
			c.p.checkWiped(t)
		})
	}

	// Over a pipe: the gateway gets no RESPONSE, only the hang-up.
	p := &credentialsProbe{user: "bob", pw: "battery staple", err: errAbandoned}
	var calls int
	r := runPair(t, p.config(scenarioDirect), answererConfig("g", &calls), testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, errAbandoned) || r.ansErr == nil || calls != 0 {
		t.Fatalf("call: %v; answer: %v (verify calls %d)", r.callErr, r.ansErr, calls)
	}
	checkPasswordNeverSent(t, r.log, p.pw)
}

// TestCredentialsExcludesLogin: Credentials with UserID or Password set
// is a configuration error, before anything is sent.
func TestCredentialsExcludesLogin(t *testing.T) {
	for _, set := range []func(*CallerConfig){
		func(cc *CallerConfig) { cc.UserID = "bob" },
		func(cc *CallerConfig) { cc.Password = "battery staple" },
	} {
		p := &credentialsProbe{user: "bob", pw: "battery staple"}
		cc := p.config(scenarioDirect)
		set(&cc)
		conn := &scriptConn{transcript: testTranscript}
		if _, err := Call(context.Background(), conn, cc); !errors.Is(err, ErrConfig) || len(conn.sentCmds) != 0 || len(p.events) != 0 {
			t.Errorf("UserID %q, Password %q with Credentials: %v, %d tokens sent, events %q", cc.UserID, cc.Password, err, len(conn.sentCmds), p.events)
		}
	}
}
