package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// waitCalls polls s.Calls until ok accepts the list.
func waitCalls(t *testing.T, s *Server, ok func([]CallInfo) bool) []CallInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs := s.Calls()
		if ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls: %+v", cs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCallsAndOperatorHangUpSession(t *testing.T) {
	testutil.CheckGoroutines(t)
	backendGone := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) {
		defer close(backendGone)
		_, _ = io.Copy(c, c) // ends when the gateway closes its side
	})
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	if cs := s.Calls(); len(cs) != 0 {
		t.Fatalf("calls before any: %+v", cs)
	}
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 })
	if got := cs[0]; got.Phase != PhaseLogin || got.User != "" || got.Backend != "" || got.Session == 0 || got.Listener != "test" || got.Start.IsZero() {
		t.Errorf("during login: %+v", got)
	}
	io.WriteString(line, "alice\r\n")
	expect(t, line, "password: ")
	io.WriteString(line, "secret\r\n")
	io.WriteString(line, "hello")
	expect(t, line, "hello")
	// The echo can come back before the pump counts what it wrote to
	// the backend: wait for both.
	cs = waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 && cs[0].BytesOut == 5 && cs[0].BytesIn == 5 })
	got := cs[0]
	if got.Phase != PhaseSession || got.User != "alice" || got.Backend != "echo" || got.Mode != "text" || got.Answer.IsZero() || got.BytesIn != 5 {
		t.Errorf("in session: %+v", got)
	}
	if err := s.HangUp(got.Session + 1); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("HangUp of another session: %v", err)
	}
	if err := s.HangUp(got.Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "NO CARRIER (the operator ended the call)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	<-backendGone
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultCompleted || r[0].Reason != reasonOperator || r[0].User != "alice" {
		t.Fatalf("records: %+v", r)
	}
	if cs := s.Calls(); len(cs) != 0 {
		t.Errorf("calls after the end: %+v", cs)
	}
	if err := s.HangUp(got.Session); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("HangUp of an ended call: %v", err)
	}
}

func TestOperatorHangUpDuringLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	io.WriteString(line, "alice\r\n")
	expect(t, line, "password: ")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 })
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "NO CARRIER (the operator ended the call)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != reasonOperator+" during login" {
		t.Fatalf("records: %+v", r)
	}
}

// A call whose backend is being dialled when the operator hangs it up is
// recorded as hung up by the operator, not as the backend's failure.
func TestOperatorHangUpWhileDialling(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t, config.Backend{Name: "slow", Type: config.BackendTCP, Address: "127.0.0.1:1"})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	dialling := make(chan struct{})
	s.st.Load().backends["slow"] = dialWaits{dialling}
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 && cs[0].Backend == "slow" })
	if cs[0].Phase != PhaseConnecting {
		t.Errorf("phase while dialling: %q", cs[0].Phase)
	}
	<-dialling
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "the operator ended the call") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != reasonOperator+" before the backend answered" || r[0].Backend != "slow" {
		t.Fatalf("records: %+v", r)
	}
}

// dialWaits is a backend whose Connect waits for its context.
type dialWaits struct{ dialling chan struct{} }

func (d dialWaits) Connect(ctx context.Context, _ Session) (BackendConn, error) {
	close(d.dialling)
	<-ctx.Done()
	return nil, ctx.Err()
}

// confirmThenWait is a V42Answerer whose Access Security schedules the
// user's callback (as before CONFIRM) and then waits for release before
// it returns the session.
type confirmThenWait struct {
	confirmed, release chan struct{}
}

func (a *confirmThenWait) Detect(context.Context, transport.Line) (bool, []byte, error) {
	return true, nil, nil
}

func (a *confirmThenWait) Answer(_ context.Context, line transport.Line, _ []byte, call V42Call) (*V42Session, error) {
	acct := Account{Name: "bob", Callback: "telnet://192.0.2.1:23"}
	if err := call.ScheduleCallback(acct, "ticket"); err != nil {
		return nil, err
	}
	close(a.confirmed)
	<-a.release
	return &V42Session{Link: line, Account: &acct, Ticket: "ticket"}, nil
}

// TestOperatorHangUpAfterV42Confirm: an operator who hangs up a V.42
// call after Access Security scheduled its callback, before the call's
// goroutine saw the login succeed, withdraws the callback: no one is
// called back against the operator's word.
func TestOperatorHangUpAfterV42Confirm(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Listeners[0].V42 = config.V42Detect
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	scheduled, withdrawn := 0, 0
	ans := &confirmThenWait{confirmed: make(chan struct{}), release: make(chan struct{})}
	s, err := New(Options{Config: c, Store: st, Verifier: &fakeVerifier{}, V42: ans,
		Callback: func(context.Context, CallbackRequest) (func(), error) {
			mu.Lock()
			defer mu.Unlock()
			scheduled++
			return func() { mu.Lock(); withdrawn++; mu.Unlock() }, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	<-ans.confirmed
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 })
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	expect(t, line, "NO CARRIER (the operator ended the call)") // the watcher has ended the call
	close(ans.release)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if scheduled != 1 || withdrawn != 1 {
		t.Errorf("callbacks scheduled %d, withdrawn %d", scheduled, withdrawn)
	}
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != reasonOperator+" during login" || r[0].User != "bob" {
		t.Fatalf("records: %+v", r)
	}
}

// TestHoldoffInForceAtLastWords: a caller that redials the moment it
// reads the gateway's NO CARRIER finds the hold-off in force (C-Kermit
// scripts did this and got a login: the slot, and with it the hold-off,
// was released only after the words were written).
func TestHoldoffInForceAtLastWords(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, func(c net.Conn) { c.Close() }) // ends every session at once
	c := testConfig(t, config.Backend{Name: "gone", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.Holdoff.Duration = time.Minute
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	// Both calls come from one address (the in-memory lines' name).
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	expect(t, line, "NO CARRIER (the service ended the session)")
	again, done2 := simCall(t, s)
	if out := readAll(again); !strings.Contains(out, "BUSY") {
		t.Errorf("redial at the last words heard %q", out)
	}
	line.Close()
	<-done
	<-done2
	recs := records(t, st)
	if len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
}

// alterSecond is a caller's XID connection whose second exchange (the
// RESPONSE) has its last octet flipped on the way: a forged or replayed
// RESPONSE, which the gateway cannot authenticate.
type alterSecond struct {
	auth.XIDConn
	n int
}

func (a *alterSecond) ExchangeXID(ctx context.Context, p []byte) ([]byte, error) {
	if a.n++; a.n == 2 {
		p = append([]byte(nil), p...)
		p[len(p)-1] ^= 0x01
	}
	return a.XIDConn.ExchangeXID(ctx, p)
}

// TestV42ForgedResponseRecordedAsError: a RESPONSE that does not
// authenticate is a protocol error in the record (result error), not a
// caller who left (abandoned), as a hostile-peer trial found.
func TestV42ForgedResponseRecordedAsError(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	a, done := simLine(t, s, linesim.Config{Seed: 3, Name: "v42"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	link := v42Originate(ctx, t, a, lapm.LinkParams{})
	_, err := v42Login(ctx, &alterSecond{XIDConn: link}, "alice", "secret", key.Public)
	if err == nil {
		t.Fatal("the gateway took an altered RESPONSE")
	}
	link.Close()
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultError || !strings.HasPrefix(r[0].Reason, "Access Security protocol error: ") {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42LogLinesNameTheCall: the link's protocol log lines end with the
// call's session and address, so that lines of many links can be told
// apart (a hostile-peer trial could not), and carry them as fields, so
// that `jq 'select(.session==N)'` finds them (an operations trial could
// not).
func TestV42LogLinesNameTheCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}})
	core, logs := observer.New(zap.DebugLevel)
	s.v42.(*LAPMAnswerer).Logger = zap.New(core)
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	link.Close()
	<-done
	rec := records(t, st)[0]
	if logs.Len() == 0 {
		t.Fatal("no log lines")
	}
	for _, e := range logs.All() {
		f := e.ContextMap()
		if !strings.HasSuffix(e.Message, fmt.Sprintf(" (session %d, %s)", rec.Session, rec.Remote)) {
			t.Errorf("line without its call: %q", e.Message)
		}
		if f["session"] != rec.Session || f["remote"] != rec.Remote || f["listener"] != rec.Listener || e.Level != zap.DebugLevel {
			t.Errorf("line %q at %v with fields %v, want debug with session %d, remote %s, listener %s", e.Message, e.Level, f, rec.Session, rec.Remote, rec.Listener)
		}
	}
}

// TestOperatorHangUpLogNamesUser: the log line of an operator's hang-up
// names the call's user once it has one, as the call's own lines do.
// Regression: it had session, listener, remote and phase, not the user.
func TestOperatorHangUpLogNamesUser(t *testing.T) {
	testutil.CheckGoroutines(t)
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	core, logs := observer.New(zap.InfoLevel)
	s, err := New(Options{Config: testConfig(t), Store: st, Verifier: &fakeVerifier{users: map[string]string{"alice": "secret"}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 && cs[0].Phase == PhaseSession })
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	readAll(line)
	<-done
	hung := logs.FilterMessage("operator hangs up the call").All()
	if len(hung) != 1 || hung[0].ContextMap()["user"] != "alice" {
		t.Fatalf("log lines: %+v", hung)
	}
}

// TestLineLogLinesCarryTheCall: a telnet line's own debug lines (here an
// unknown telnet command from the caller) go to the call's logger once
// the call has its number: fields session, listener, remote and
// transport, "(session N)" at the end of the text. Regression: they
// named the call only in the text.
func TestLineLogLinesCarryTheCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	core, logs := observer.New(zap.DebugLevel)
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	conn := dialGateway(t, g)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	// The prompt comes after the session number (the banner names it).
	if _, err := bufio.NewReader(conn).ReadString(':'); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{255, 7}); err != nil { // IAC 7: no such command
		t.Fatal(err)
	}
	var e observer.LoggedEntry
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l := logs.FilterMessageSnippet("unknown telnet command").All(); len(l) > 0 {
			e = l[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no log line for the unknown command")
		}
	}
	f := e.ContextMap()
	n, ok := f["session"].(uint64)
	if !ok || !strings.HasSuffix(e.Message, fmt.Sprintf(" (session %d)", n)) || f["listener"] != "test" || f["remote"] != conn.LocalAddr().String() || f["transport"] == nil {
		t.Errorf("line %q with fields %v, want the call's session, listener, remote and transport", e.Message, f)
	}
}

// padExchange is a caller's XID connection whose exchange number n
// (1: INITIATE, 2: RESPONSE) carries a token padded to size octets,
// over the gateway's limit.
type padExchange struct {
	auth.XIDConn
	n, at, size int
}

func (p *padExchange) ExchangeXID(ctx context.Context, b []byte) ([]byte, error) {
	if p.n++; p.n == p.at {
		b = append(append([]byte(nil), b...), make([]byte, p.size-len(b))...)
	}
	return p.XIDConn.ExchangeXID(ctx, b)
}

// TestV42OversizedTokenRejected: an INITIATE or RESPONSE over the
// link's XID limit is answered at once with REJECT protocol-error
// (sealed after the CHALLENGE) and recorded as a protocol error.
// Before, the gateway dropped it without an answer: the caller retried
// until N400 (about 10 s) and the record said it hung up.
func TestV42OversizedTokenRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int
	}{{"INITIATE", 1}, {"RESPONSE", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"alice": "secret"}})
			a, done := simLine(t, s, linesim.Config{Seed: 3, Name: "v42"})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, left, err := lapm.Detect(ctx, a, lapm.Originator)
			if err != nil || res != lapm.DetectLAPM {
				t.Fatalf("detection: %v %v", res, err)
			}
			// The caller's link takes larger XIDs than the gateway's.
			link, err := lapm.Open(ctx, a, left, lapm.Config{Role: lapm.Originator, MaxXID: 4096})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v42Login(ctx, &padExchange{XIDConn: link, at: tc.at, size: 3000}, "alice", "secret", key.Public)
			if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonProtocolError {
				t.Errorf("login: %v, want REJECT protocol-error", err)
			}
			link.Close()
			<-done
			r := records(t, st)
			if len(r) != 1 || r[0].Result != store.ResultError || !strings.Contains(r[0].Reason, "XID information field too long") {
				t.Fatalf("records: %+v", r)
			}
			t.Logf("reason: %s", r[0].Reason)
		})
	}
}
