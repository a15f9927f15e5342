package bridge

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestHostileLoginNameEscaped: a user name with C1 controls (U+009B is
// CSI: "CSI 2 J" clears an xterm's screen), a line separator and a
// bidirectional override reaches the call record and the "call ended"
// log line quoted and escaped, never raw; a name of user-ID form is
// recorded as typed. Regression: the line editor keeps octets from 0x80,
// and calls.jsonl and the console log carried the name's C1 controls
// and U+2028 unescaped (found with a raw TCP caller against gateway
// serve).
func TestHostileLoginNameEscaped(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	core, logs := observer.New(zap.DebugLevel)
	s, err := New(Options{Config: c, Store: f, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	const hostile = "x\u009b2J\u009b31mFAKE\u2028root \u202eevil"
	for _, name := range []string{hostile, "mallory.b-1"} {
		line, done := simCall(t, s)
		for range c.Security.LoginTries {
			login(t, line, name, "pw")
		}
		readAll(line)
		line.Close()
		<-done
	}
	recs := records(t, f)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if want := strconv.QuoteToASCII(hostile); recs[0].User != want {
		t.Errorf("hostile name recorded as %q, want %q", recs[0].User, want)
	}
	if recs[1].User != "mallory.b-1" {
		t.Errorf("a name of user-ID form recorded as %q", recs[1].User)
	}
	for _, e := range logs.FilterMessage("call ended").All() {
		for _, fl := range e.Context {
			if !isPlainASCII(fl.String) {
				t.Errorf("call ended: %s = %q is not plain printable ASCII", fl.Key, fl.String)
			}
		}
	}
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// blockingVerifier counts the password checks running at once and holds
// each until release is closed; it bounds them per source like
// AuthVerifier (pendingLimiter).
type blockingVerifier struct {
	throttle *auth.Throttle
	release  chan struct{}
	mu       sync.Mutex
	running  int
	most     int
}

func (v *blockingVerifier) Throttle() *auth.Throttle { return v.throttle }

func (v *blockingVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	v.mu.Lock()
	v.running++
	v.most = max(v.most, v.running)
	v.mu.Unlock()
	<-v.release
	v.mu.Lock()
	v.running--
	v.mu.Unlock()
	return Account{}, fmt.Errorf("blocking: %w", ErrDenied)
}

// TestHostileTextLoginPendingPerSource: one address runs at most
// [security] max_pending_per_source password checks at once, as it does
// Access Security handshakes; an attempt over the bound is hung up with
// result throttled. The bound covers the checks, not the callers at the
// prompt: several people behind one address (a NAT, a WiFi-modem host)
// all get "login:". Regressions: the text path did not count pending
// logins, so one address ran a password check on every line at once (12
// concurrent argon2id checks from one address against gateway serve);
// then it counted the whole dialogue, and the fifth caller from one
// address was hung up while four sat at the prompt.
func TestHostileTextLoginPendingPerSource(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent = 8
	const bound, callers = 2, 5
	v := &blockingVerifier{throttle: auth.NewThrottle(auth.ThrottleConfig{MaxPendingPerSource: bound}), release: make(chan struct{})}
	g := startLoopback(t, c, v)
	var conns []net.Conn
	for range callers {
		conn := dialGateway(t, g)
		defer conn.Close()
		conns = append(conns, conn)
	}
	// Every caller from the one address gets the prompt.
	for _, conn := range conns {
		expect(t, conn, "login: ")
	}
	// All send a name and a password: two checks run, the others are
	// refused at once.
	for _, conn := range conns {
		if _, err := conn.Write([]byte("vic\r\n")); err != nil {
			t.Fatal(err)
		}
		expect(t, conn, "password: ")
	}
	for _, conn := range conns {
		if _, err := conn.Write([]byte("pw\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	throttledHeard := 0
	for _, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		got, _ := io.ReadAll(conn)
		if strings.Contains(string(got), msgThrottled) {
			throttledHeard++
		}
	}
	if throttledHeard != callers-bound {
		t.Errorf("%d callers were refused, want %d (max_pending_per_source %d)", throttledHeard, callers-bound, bound)
	}
	v.mu.Lock()
	most := v.most
	v.mu.Unlock()
	if most != bound {
		t.Errorf("%d password checks ran at once from one address, want %d", most, bound)
	}
	close(v.release)
	for _, conn := range conns {
		conn.Close()
	}
	recs := waitRecords(t, g.Store, callers)
	throttled := 0
	for _, r := range recs {
		if r.Result == store.ResultThrottled && r.Reason == reasonPending {
			throttled++
		}
	}
	if throttled != callers-bound {
		t.Errorf("%d records say %q, want %d", throttled, reasonPending, callers-bound)
	}
	if n := v.throttle.Pending("127.0.0.1"); n != 0 {
		t.Errorf("%d logins still pending after every caller hung up", n)
	}
}

// TestHostileLoginPasswordAsName: a caller who types the password at the
// "login:" prompt does not get it written to the call record or the
// gateway's log: with the real verifier, a name that names no account is
// recorded as "(unknown user)"; an existing account's name is recorded
// as it is. Regression: the record and the "call ended" line carried the
// last name tried, whatever it was (found by grepping the log of gateway
// serve after such a login).
func TestHostileLoginPasswordAsName(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Security.LoginTries = 1
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 1, 64, 1
	users := oneUser(t, c, "alice", "hunter2-secret")
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	core, logs := observer.New(zap.DebugLevel)
	s, err := New(Options{Config: c, Store: f, Verifier: NewAuthVerifier(c, users, nil), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hunter2-secret", "alice"} {
		line, done := simCall(t, s)
		login(t, line, name, "wrong")
		readAll(line)
		line.Close()
		<-done
	}
	recs := records(t, f)
	if len(recs) != 2 || recs[0].Result != store.ResultDenied || recs[1].Result != store.ResultDenied {
		t.Fatalf("records %+v, want two denied calls", recs)
	}
	if recs[0].User != unknownUser || recs[1].User != "alice" {
		t.Errorf("recorded users %q and %q, want %q and alice", recs[0].User, recs[1].User, unknownUser)
	}
	for _, e := range logs.All() {
		for _, fl := range e.Context {
			if strings.Contains(fl.String, "hunter2") {
				t.Errorf("%q logs the password typed as a name: %s = %q", e.Message, fl.Key, fl.String)
			}
		}
	}
}
