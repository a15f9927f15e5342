package auth

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden transcripts, spec vectors and fuzz seed corpora")

// Fixed inputs of the test vectors (docs/access-security.md §9).
var (
	testNow        = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testTranscript = mustHex("82800012" + "03040080ac8882" + "050200080602000807010f08010f" +
		"82800012" + "03040080ac8882" + "050200080602000807010f08010f")
	testCallbackTranscript = mustHex("8280000b" + "03040080ac8882" + "0701" + "0f" + "8280000b" + "03040080ac8882" + "0701" + "0f")
)

const (
	testGatewayName = "dialgate-test"
	testSession     = 42
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var hostKeyCache sync.Map // label -> HostKey

// testHostKey derives a fixed X25519 key pair from a label.
func testHostKey(label string) HostKey {
	if k, ok := hostKeyCache.Load(label); ok {
		return k.(HostKey)
	}
	priv := sha256.Sum256([]byte(label))
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		panic(err)
	}
	hk := HostKey{Private: priv[:], Public: k.PublicKey().Bytes()}
	hostKeyCache.Store(label, hk)
	return hk
}

// recRand is a seeded deterministic randomness source that records what it
// hands out, for the vectors.
type recRand struct {
	mu    sync.Mutex
	r     *rand.ChaCha8
	drawn []byte
}

func newRecRand(seed string) *recRand {
	return &recRand{r: rand.NewChaCha8(sha256.Sum256([]byte(seed)))}
}

func (r *recRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, _ := r.r.Read(p)
	r.drawn = append(r.drawn, p[:n]...)
	return n, nil
}

// testUsers: alice has a callback address, bob has none.
var testUsers = map[string]struct {
	password string
	user     User
}{
	"alice": {"correct horse", User{ID: "alice", Callback: "telnet://alice.example:2323", Backend: "bbs"}},
	"bob":   {"battery staple", User{ID: "bob", Backend: "bbs"}},
}

// fakeVerify stands in for the Verifier: ErrDenied for an unknown user or a
// wrong password. calls counts invocations.
func fakeVerify(calls *int) func(ctx context.Context, id, pw string) (User, error) {
	var mu sync.Mutex
	return func(ctx context.Context, id, pw string) (User, error) {
		mu.Lock()
		if calls != nil {
			*calls++
		}
		mu.Unlock()
		u, ok := testUsers[id]
		if !ok || u.password != pw {
			return User{}, fmt.Errorf("verify %q: %w", id, ErrDenied)
		}
		return u.user, nil
	}
}

func fixedSession() (uint64, error) { return testSession, nil }

func fixedNow() time.Time { return testNow }

// scenario is one deterministic call.
type scenario struct {
	name       string
	user, pw   string
	callback   bool // caller offers callback
	aes        bool // caller offers AES-256-GCM
	callerSeed string
	gwSeed     string
}

func (s scenario) callerConfig(check func([]byte) error) CallerConfig {
	if check == nil {
		pub := testHostKey("gateway").Public
		check = func(k []byte) error {
			if !bytes.Equal(k, pub) {
				return errors.New("host key mismatch")
			}
			return nil
		}
	}
	// The scenarios must not depend on this machine's AES hardware.
	policy := CipherOnlyChaCha
	if s.aes {
		policy = CipherPreferAES
	}
	return CallerConfig{
		UserID: s.user, Password: s.pw, HostName: "gw.example",
		CheckHostKey: check, WantCallback: s.callback, Cipher: policy,
		Rand: newRecRand(s.callerSeed), Now: fixedNow,
	}
}

func answererConfig(seed string, verifyCalls *int) AnswererConfig {
	return AnswererConfig{
		HostKey: testHostKey("gateway"), Name: testGatewayName,
		Verify: fakeVerify(verifyCalls), AllocateSession: fixedSession,
		Rand: newRecRand(seed), Now: fixedNow, CallbackTTL: 2 * time.Minute,
		// Takes the caller's offer whatever this machine's hardware.
		Cipher: CipherPreferAES,
	}
}

var (
	scenarioDirect      = scenario{name: "direct", user: "bob", pw: "battery staple", callerSeed: "caller direct", gwSeed: "gateway direct"}
	scenarioCallback    = scenario{name: "callback", user: "alice", pw: "correct horse", callback: true, callerSeed: "caller callback", gwSeed: "gateway callback"}
	scenarioDenied      = scenario{name: "denied", user: "mallory", pw: "guess", callerSeed: "caller denied", gwSeed: "gateway denied"}
	scenarioAES         = scenario{name: "aes", user: "bob", pw: "battery staple", aes: true, callerSeed: "caller aes", gwSeed: "gateway aes"}
	scenarioCallbackAES = scenario{name: "callback-aes", user: "alice", pw: "correct horse", callback: true, aes: true, callerSeed: "caller callback aes", gwSeed: "gateway callback aes"}
)

// pairResult is the outcome of both ends of one handshake over a pipe.
type pairResult struct {
	call    *CallResult
	callErr error
	ans     *AnswerResult
	ansErr  error
	log     []sentToken
}

// runPair runs Call and Answer against each other over an in-memory pipe.
func runPair(t testing.TB, cc CallerConfig, ac AnswererConfig, callerTranscript, gwTranscript []byte, tamper func(from string, i int, tok []byte) []byte) pairResult {
	t.Helper()
	p, c, g := newXIDPipe("C", callerTranscript, "G", gwTranscript)
	if tamper != nil {
		c.tamper = func(i int, tok []byte) []byte { return tamper("C", i, tok) }
		g.tamper = func(i int, tok []byte) []byte { return tamper("G", i, tok) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r pairResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, err := g.AcceptXID(ctx)
		if err != nil {
			r.ansErr = err
			return
		}
		r.ans, r.ansErr = Answer(ctx, g, first, ac)
	}()
	r.call, r.callErr = Call(ctx, c, cc)
	if r.callErr != nil {
		p.Close() // the caller hangs up
	}
	<-done
	p.Close()
	r.log = p.sent()
	return r
}

// runCallbackPair runs PlaceCallback and AcceptCallback over a pipe.
func runCallbackPair(t testing.TB, gt *Ticket, gwRand io.Reader, tickets ...*CallerTicket) (gwTr, callerTr Transform, log []sentToken, gwErr, callerErr error) {
	t.Helper()
	p, c, g := newXIDPipe("C", testCallbackTranscript, "G", testCallbackTranscript)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, err := c.AcceptXID(ctx)
		if err != nil {
			callerErr = err
			return
		}
		callerTr, callerErr = AcceptCallback(ctx, c, first, tickets...)
	}()
	gwTr, gwErr = PlaceCallback(ctx, g, gt, CallbackConfig{Rand: gwRand, Now: fixedNow})
	if gwErr != nil {
		p.Close()
	}
	<-done
	p.Close()
	return gwTr, callerTr, p.sent(), gwErr, callerErr
}

// checkData proves two Transforms are a matching pair, both directions.
func checkData(t testing.TB, a, b Transform) {
	t.Helper()
	for i, msg := range []string{"", "hello", strings.Repeat("x", 4096)} {
		s := a.Seal(nil, []byte(msg))
		if len(s) != len(msg)+a.Overhead() {
			t.Fatalf("sealed %d octets to %d, overhead %d", len(msg), len(s), a.Overhead())
		}
		got, err := b.Open(nil, s)
		if err != nil || string(got) != msg {
			t.Fatalf("a->b payload %d: %q, %v", i, got, err)
		}
		s = b.Seal(nil, []byte(msg))
		got, err = a.Open(nil, s)
		if err != nil || string(got) != msg {
			t.Fatalf("b->a payload %d: %q, %v", i, got, err)
		}
	}
}

func TestHandshakeDirect(t *testing.T) {
	testutil.CheckGoroutines(t)
	var calls int
	r := runPair(t, scenarioDirect.callerConfig(nil), answererConfig("g", &calls), testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil {
		t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
	}
	if r.call.SessionNumber != testSession || r.ans.SessionNumber != testSession {
		t.Fatalf("session numbers %d / %d", r.call.SessionNumber, r.ans.SessionNumber)
	}
	if r.call.Callback || r.call.Ticket != nil || r.ans.Callback != nil {
		t.Fatal("callback announced for a user without callback address")
	}
	if r.call.GatewayName != testGatewayName || !bytes.Equal(r.call.HostKey, testHostKey("gateway").Public) {
		t.Fatalf("gateway name %q key %x", r.call.GatewayName, r.call.HostKey)
	}
	if r.ans.User.ID != "bob" || calls != 1 {
		t.Fatalf("user %q, verify calls %d", r.ans.User.ID, calls)
	}
	checkData(t, r.call.Transform, r.ans.Transform)
	if len(r.log) != 4 {
		t.Fatalf("%d tokens exchanged, want 4", len(r.log))
	}
}

func TestHandshakeWithCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	r := runPair(t, scenarioCallback.callerConfig(nil), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil {
		t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
	}
	if !r.call.Callback || r.call.Ticket == nil || r.ans.Callback == nil || r.call.Transform != nil || r.ans.Transform != nil {
		t.Fatalf("callback result: %+v / %+v", r.call, r.ans)
	}
	if got := r.call.Ticket.Expires(); !got.Equal(testNow.Add(2 * time.Minute)) {
		t.Fatalf("caller ticket expires %v", got)
	}
	gwTr, callerTr, log, gerr, cerr := runCallbackPair(t, r.ans.Callback, newRecRand("cb"), r.call.Ticket)
	if gerr != nil || cerr != nil {
		t.Fatalf("place: %v; accept: %v", gerr, cerr)
	}
	if len(log) != 2 || log[0].tok[1] != byte(TypeCallback) || log[1].tok[1] != byte(TypeAccept) {
		t.Fatalf("callback exchange: %v", log)
	}
	checkData(t, gwTr, callerTr)
}

func TestCallbackRequiredButNotOffered(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := scenarioCallback
	s.callback = false
	r := runPair(t, s.callerConfig(nil), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if reason, ok := RejectReason(r.callErr); !ok || reason != ReasonCallbackUnavailable {
		t.Fatalf("caller: %v", r.callErr)
	}
	if reason, ok := RejectReason(r.ansErr); !ok || reason != ReasonCallbackUnavailable {
		t.Fatalf("answerer: %v", r.ansErr)
	}
}

func TestRejectReasons(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verify   func(context.Context, string, string) (User, error)
		allocate func() (uint64, error)
		want     Reason
	}{
		{"denied", fakeVerify(nil), fixedSession, ReasonDenied},
		{"busy", func(context.Context, string, string) (User, error) {
			return User{}, fmt.Errorf("queue full: %w", ErrBusy)
		}, fixedSession, ReasonBusy},
		{"no session", fakeVerify(nil), func() (uint64, error) { return 0, errors.New("disk full") }, ReasonBusy},
		{"timeout", func(ctx context.Context, _, _ string) (User, error) { <-ctx.Done(); return User{}, ctx.Err() }, fixedSession, ReasonTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := scenarioDirect
			if tc.name == "denied" {
				s.pw = "wrong"
			}
			ac := answererConfig("g", nil)
			ac.Verify, ac.AllocateSession = tc.verify, tc.allocate
			if tc.name == "timeout" {
				ac.Deadline = 50 * time.Millisecond
			}
			r := runPair(t, s.callerConfig(nil), ac, testTranscript, testTranscript, nil)
			var re *RejectError
			if !errors.As(r.callErr, &re) || re.Reason != tc.want || !re.Authenticated {
				t.Fatalf("caller: %v", r.callErr)
			}
			var sent *RejectError
			if !errors.As(r.ansErr, &sent) || sent.Reason != tc.want || !sent.Sent {
				t.Fatalf("answerer: %v", r.ansErr)
			}
			if !strings.HasPrefix(r.ansErr.Error(), "auth: rejected the call: "+tc.want.String()) {
				t.Fatalf("answerer error text: %v", r.ansErr)
			}
		})
	}
}

func TestAnswerTimeoutWaitingForResponse(t *testing.T) {
	testutil.CheckGoroutines(t)
	// The caller sends INITIATE and never answers CHALLENGE.
	p, c, g := newXIDPipe("C", testTranscript, "G", testTranscript)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cr := &caller{cfg: scenarioDirect.callerConfig(nil), conn: c, caps: CapSealed}
	errc := make(chan error, 1)
	go func() {
		first, err := g.AcceptXID(ctx)
		if err != nil {
			errc <- err
			return
		}
		ac := answererConfig("g", nil)
		ac.Deadline = 20 * time.Millisecond
		_, err = Answer(ctx, g, first, ac)
		errc <- err
	}()
	chal, err := cr.sendInitiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.readChallenge(chal); err != nil {
		t.Fatal(err)
	}
	err = <-errc
	if reason, ok := RejectReason(err); !ok || reason != ReasonTimeout {
		t.Fatalf("answerer: %v", err)
	}
	// The sealed REJECT went out on the line and the caller can read it.
	rej, err := c.recv(ctx, c.respIn)
	if err != nil {
		t.Fatal(err)
	}
	var re *RejectError
	if err := cr.readReject(rej, true); !errors.As(err, &re) || re.Reason != ReasonTimeout || !re.Authenticated {
		t.Fatalf("caller reading REJECT: %v", err)
	}
}
