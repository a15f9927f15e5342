package bridge

import (
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

// TestHostileTextLoginPendingPerSource: one address holds at most
// [security] max_pending_per_source text logins at once, as it does
// Access Security handshakes; the next caller from it is hung up at once
// with result throttled and its slot is free again. Regression: the text
// path did not count pending logins, so one address ran a password check
// on every line at once (12 concurrent argon2id checks from one address
// against gateway serve; the per-address back-off is checked only when
// each attempt starts) and, with per_source = 0 (the default), held
// every line with silent connections until the handshake deadline.
func TestHostileTextLoginPendingPerSource(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent = 8
	c.Security.MaxPendingPerSource = 2
	v := NewAuthVerifier(c, auth.NewUsers(), t.Logf)
	g := startLoopback(t, c, v)
	const callers = 5
	heard := make([]string, callers)
	var conns []net.Conn
	for range callers {
		conns = append(conns, dialGateway(t, g))
	}
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var got []byte
			buf := make([]byte, 256)
			for !strings.Contains(string(got), "login: ") {
				n, err := conn.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			heard[i] = string(got)
		}()
	}
	wg.Wait()
	prompted := 0
	for _, h := range heard {
		switch {
		case strings.Contains(h, "login: "):
			prompted++
		case h != msgThrottled:
			t.Errorf("a caller over the limit heard %q, want %q", h, msgThrottled)
		}
	}
	if prompted != 2 {
		t.Errorf("%d callers from one address got a login prompt, want 2 (max_pending_per_source)", prompted)
	}
	// The refused callers' slots are free: 2 calls hold lines.
	for deadline := time.Now().Add(10 * time.Second); g.ActiveCalls() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d line slots held, want the 2 prompted callers'", g.ActiveCalls())
		}
	}
	for _, conn := range conns {
		conn.Close()
	}
	// Once those hang up, the address may log in again.
	for deadline := time.Now().Add(10 * time.Second); v.Throttle().Pending("127.0.0.1") != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d logins still pending after every caller hung up", v.Throttle().Pending("127.0.0.1"))
		}
	}
	conn := dialGateway(t, g)
	defer conn.Close()
	expect(t, conn, "login: ")
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); len(records(t, g.Store)) < callers+1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("calls not recorded")
		}
	}
	throttled := 0
	for _, r := range records(t, g.Store) {
		if r.Result == store.ResultThrottled && r.Reason == reasonPending {
			throttled++
		}
	}
	if throttled != callers-2 {
		t.Errorf("%d records say %q, want %d", throttled, reasonPending, callers-2)
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
	users := auth.NewUsers()
	hash, err := auth.HashPassword("hunter2-secret", Argon2Params(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Add(auth.User{ID: "alice", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	core, logs := observer.New(zap.DebugLevel)
	s, err := New(Options{Config: c, Store: f, Verifier: NewAuthVerifier(c, users, func(string, ...any) {}), Logger: zap.New(core)})
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
