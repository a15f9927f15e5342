package callbackd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// oneUser is a bridge.Verifier with one account, which has a callback.
type oneUser struct{ name, pw, callback string }

func (v oneUser) Verify(ctx context.Context, user, password, source string) (bridge.Account, error) {
	if user != v.name || password != v.pw {
		return bridge.Account{}, fmt.Errorf("test: %w", bridge.ErrDenied)
	}
	return bridge.Account{Name: user, Callback: v.callback}, nil
}

// expectText reads r until want appears (bounded by the line's deadline).
func expectText(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(time.Now().Add(20 * time.Second))
		defer d.SetReadDeadline(time.Time{})
	}
	for !bytes.Contains(got, []byte(want)) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !bytes.Contains(got, []byte(want)) {
			t.Fatalf("waiting for %q: %v; got %q", want, err, got)
		}
	}
	return string(got)
}

// accounts is a bridge.Verifier whose users all have the password "pw"
// and the account given.
type accounts map[string]bridge.Account

func (v accounts) Verify(ctx context.Context, user, password, source string) (bridge.Account, error) {
	a, ok := v[user]
	if !ok || password != "pw" {
		return bridge.Account{}, fmt.Errorf("test: %w", bridge.ErrDenied)
	}
	a.Name = user
	return a, nil
}

// bridged is the gateway of the bridge tests in process: a bridge Server
// with an echo backend, text login on a loopback listener, and a Service
// dialling on a simulated network that hands proved callbacks to the
// Server, scheduled as cmd/gateway does for text logins.
type bridged struct {
	srv *bridge.Server
	svc *Service
	net *linesim.Network
	rec *records
	st  *store.File

	mu sync.Mutex
	// notBridged collects BridgeCallback's errors; a test that expects
	// some sets allowNotBridged, the others fail on any.
	notBridged      []error
	allowNotBridged bool
	// scheduled, if set, runs after each callback was scheduled (for a
	// V.42 caller: before CONFIRM).
	scheduled func()
}

// newBridged builds the gateway; each gw function may change the bridge's
// Options first (the gateway configuration, a V42 answerer: withV42).
func newBridged(t *testing.T, v bridge.Verifier, cfg Config, gw ...func(*bridge.Options)) *bridged {
	t.Helper()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ewg sync.WaitGroup
	ewg.Go(func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			ewg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(ewg.Wait)
	t.Cleanup(func() { echo.Close() })

	gcfg, err := config.Parse("test.toml", []byte("[lines]\nholdoff = \"0s\"\n[[listener]]\nname = \"test\"\naddress = \"tcp://127.0.0.1:1\"\nv42 = \"off\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	gcfg.Backends = append(gcfg.Backends, config.Backend{Name: "echo", Type: config.BackendTCP,
		Address: config.HostPort(echo.Addr().String()), ConnectTimeout: config.Duration{Duration: 5 * time.Second}, Term: "vt100"})
	gcfg.Listeners[0].Backend = "echo"
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts := bridge.Options{Config: gcfg, Store: st, Verifier: v}
	for _, f := range gw {
		f(&opts)
	}
	srv, err := bridge.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	b := &bridged{srv: srv, net: linesim.NewNetwork(), rec: &records{}, st: st}
	b.svc, err = New(Options{
		Config: cfg, Dial: b.net.Dial, Recorder: b.rec,
		Place: Modes{Text: TextConfirm{Name: "testgw"}, V42: LAPM(LAPMConfig{})},
		Handoff: func(ctx context.Context, job Job, s Session) {
			err := srv.BridgeCallback(bridge.CallbackSession{Request: job.Data.(bridge.CallbackRequest), Line: s.Line, Link: s.Conn, Attempts: s.Attempts})
			if err != nil {
				b.mu.Lock()
				b.notBridged = append(b.notBridged, err)
				b.mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.svc.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.notBridged) > 0 && !b.allowNotBridged {
			t.Errorf("BridgeCallback: %v", b.notBridged)
		}
	})
	// Scheduled as cmd/gateway schedules them, with the hook after.
	schedule := b.svc.CallbackFunc()
	srv.SetCallback(func(ctx context.Context, req bridge.CallbackRequest) (func(), error) {
		withdraw, err := schedule(ctx, req)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		hook := b.scheduled
		b.mu.Unlock()
		if hook != nil {
			hook()
		}
		return withdraw, nil
	})
	return b
}

// withV42 gives the gateway's listener V.42 detection with Access
// Security required (a fresh host key: callers do not check it).
func withV42(t *testing.T) func(*bridge.Options) {
	return func(o *bridge.Options) {
		key, err := auth.GenerateHostKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Config.Listeners[0].V42 = config.V42Detect
		o.Config.Listeners[0].Security = config.SecurityRequired
		o.V42 = &bridge.LAPMAnswerer{HostKey: key, Name: "testgw"}
	}
}

// withTicketTTL sets the life of the V.42 answerer's callback tickets
// (after withV42).
func withTicketTTL(d time.Duration) func(*bridge.Options) {
	return func(o *bridge.Options) {
		o.V42.(*bridge.LAPMAnswerer).CallbackTTL = d
	}
}

// withLines sets [lines] max_concurrent and holdoff.
func withLines(max int, holdoff time.Duration) func(*bridge.Options) {
	return func(o *bridge.Options) {
		o.Config.Lines.MaxConcurrent = max
		o.Config.Lines.Holdoff = config.Duration{Duration: holdoff}
	}
}

// loginV42 calls the gateway as a V.42 caller that can take a callback
// (detection, LAPM, Access Security phases i–iv) and returns the caller's
// result: after a CONFIRM with callback the gateway has hung up.
func (b *bridged) loginV42(t *testing.T, name, user, pw string) (*auth.CallResult, error) {
	t.Helper()
	a, l := linesim.NewPair(linesim.Config{Seed: 2, Name: name})
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- b.srv.HandleLine("test", l) }()
	defer func() {
		a.Close()
		if err := <-done; err != nil {
			t.Errorf("HandleLine: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, left, err := lapm.Detect(ctx, a, lapm.Originator)
	if err != nil || res != lapm.DetectLAPM {
		t.Fatalf("detection: %v %v", res, err)
	}
	link, err := lapm.Open(ctx, a, left, lapm.Config{Role: lapm.Originator})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	return auth.Call(ctx, link, auth.CallerConfig{UserID: user, Password: pw, WantCallback: true,
		CheckHostKey: func([]byte) error { return nil }})
}

// login calls the gateway, logs in with the text login and returns what
// the caller heard until the gateway hung up.
func (b *bridged) login(t *testing.T, name, user, pw string) string {
	t.Helper()
	a, l := linesim.NewPair(linesim.Config{Seed: 1, Name: name})
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- b.srv.HandleLine("test", l) }()
	expectText(t, a, "login: ")
	io.WriteString(a, user+"\r\n")
	expectText(t, a, "assword: ")
	io.WriteString(a, pw+"\r\n")
	got := expectText(t, a, "NO CARRIER")
	a.Close()
	if err := <-done; err != nil {
		t.Errorf("HandleLine: %v", err)
	}
	return got
}

// confirm answers the callback on l as user and checks that the session
// reaches the echo backend.
func confirm(t *testing.T, l transport.Listener, user string) {
	t.Helper()
	line, err := l.Accept(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	expectText(t, line, "Type your user name to accept: ")
	io.WriteString(line, user+"\r\nping")
	expectText(t, line, "ping")
}

// TestTextCallbackThroughBridge runs the whole text-mode callback in
// process: a text login on the bridge for a user with a callback address,
// the bridge hangs up and hands the call to the Service, the Service
// dials the address on a simulated network, the person there confirms,
// and the bridge connects the callback to an echo backend and records it
// under the original session number.
func TestTextCallbackThroughBridge(t *testing.T) {
	testutil.CheckGoroutines(t)
	b := newBridged(t, oneUser{"alice", "pw", "sim://alice-home"}, Config{Delay: 10 * time.Millisecond, Expiry: time.Minute})
	home, err := b.net.Listen("alice-home")
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	// The first call: text login, then the gateway hangs up.
	if got := b.login(t, "first", "alice", "pw"); !strings.Contains(got, "called back") {
		t.Errorf("first call ended with %q", got)
	}
	// The callback rings at home.
	confirm(t, home, "alice")
	b.svc.Close() // waits for the Handoff, that is for the bridged session

	checkAttempts(t, b.rec.all(), Connected)
	sessions, err := store.ReadRecordsFile(b.st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 || sessions[0].Result != store.ResultCallback || sessions[1].Mode != "callback" ||
		sessions[1].Session != sessions[0].Session || sessions[1].CallbackAttempts != 1 || sessions[1].Result != store.ResultCompleted {
		t.Errorf("call records: %+v", sessions)
	}
}

// TestRepeatedLoginsThroughBridge is the security trial's case through
// the bridge: one callback user logs in 4 times at once and the party at
// the address answers and stays silent, with 2 callback lines. Every
// caller is told the truth (called back), the user gets one pending
// callback and one dial, and another user's callback, asked for
// afterwards, still happens while the first user's line is held; a user
// sharing that silent address is told the callback cannot be placed.
func TestRepeatedLoginsThroughBridge(t *testing.T) {
	testutil.CheckGoroutines(t)
	users := accounts{"bob": {Callback: "sim://bob-home"}, "carol": {Callback: "sim://carol-home"}, "bea": {Callback: "sim://bob-home"}}
	b := newBridged(t, users, Config{Delay: 2 * time.Second, Expiry: time.Minute, MaxConcurrent: 2,
		HandshakeTimeout: 40 * time.Second, Backoff: 100 * time.Millisecond})
	bobHome, _ := b.net.Listen("bob-home")
	party := answerSilently(t, bobHome)
	defer party.wg.Wait()
	defer bobHome.Close()
	carolHome, _ := b.net.Listen("carol-home")
	defer carolHome.Close()

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if got := b.login(t, fmt.Sprint("bob", i), "bob", "pw"); !strings.Contains(got, "you will be called back") {
				t.Errorf("bob's login %d heard %q", i, got)
			}
		})
	}
	wg.Wait()
	if n := b.svc.Pending(); n != 1 {
		t.Errorf("%d callbacks pending after bob's logins, want 1", n)
	}
	if got := b.login(t, "bea", "bea", "pw"); !strings.Contains(got, "cannot place now") || strings.Contains(got, "called back") {
		t.Errorf("bea, sharing bob's address, heard %q", got)
	}
	if got := b.login(t, "carol", "carol", "pw"); !strings.Contains(got, "called back") {
		t.Errorf("carol heard %q", got)
	}
	// Bob's dial (its own 2 s delay, from his last login) holds one of
	// the two lines before carol's callback is confirmed on the other;
	// without the wait, carol's could come first and Close end bob's
	// before it dialled (a flake in 1 run of 5).
	party.waitCalls(t, 1)
	confirm(t, carolHome, "carol") // while bob's silent line holds the other
	b.svc.Close()

	m := bySession(b.rec.all())
	var results []Result
	for _, as := range m {
		if as[0].User == "bob" {
			results = append(results, as[len(as)-1].Result)
		} else if as[0].User == "carol" {
			checkAttempts(t, as, Connected)
		}
	}
	slices.Sort(results)
	if want := []Result{Shutdown, Superseded, Superseded, Superseded}; !slices.Equal(results, want) {
		t.Errorf("bob's jobs ended %v, want %v", results, want)
	}
	if calls, peak := party.counts(); calls != 1 || peak != 1 {
		t.Errorf("bob's address answered %d calls, %d at once; want 1, 1", calls, peak)
	}
	recs, err := store.ReadRecordsFile(b.st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range recs {
		count[r.User+" "+r.Result]++
		if r.User == "bea" && !strings.Contains(r.Reason, "callback not scheduled: "+ErrAddressBusy.Error()) {
			t.Errorf("bea's record: %+v", r)
		}
	}
	want := map[string]int{"bob callback": 4, "bea refused": 1, "carol callback": 1, "carol completed": 1}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("call records %v, want %v", count, want)
	}
}

// request logs in as user from a line whose caller end is named from/a,
// in mode "text" or "v42", and checks that the caller was promised the
// callback; for V.42 it returns the caller's ticket.
func (b *bridged) request(t *testing.T, mode, from, user string) *auth.CallerTicket {
	t.Helper()
	if mode == "text" {
		if got := b.login(t, from, user, "pw"); !strings.Contains(got, "you will be called back") {
			t.Fatalf("%s's login heard %q", user, got)
		}
		return nil
	}
	cr, err := b.loginV42(t, from, user, "pw")
	if err != nil || !cr.Callback || cr.Ticket == nil {
		t.Fatalf("%s's V.42 login: %+v, %v", user, cr, err)
	}
	return cr.Ticket
}

// answer takes the callback on l as the caller of request does, proves
// it (the user name, or the ticket) and returns the session's stream.
func answer(t *testing.T, l transport.Listener, user string, ticket *auth.CallerTicket) io.ReadWriteCloser {
	t.Helper()
	line, err := l.Accept(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ticket != nil {
		link := acceptLAPM(t, line, ticket)
		t.Cleanup(func() { link.Close(); line.Close() })
		return link
	}
	t.Cleanup(func() { line.Close() })
	expectText(t, line, "Type your user name to accept: ")
	io.WriteString(line, user+"\r\n")
	expectText(t, line, user+"\r\nCallback accepted.\r\n") // the name echoed
	return line
}

// holdLine calls the gateway and stays at the login prompt, holding a
// line slot until the returned function hangs up.
func (b *bridged) holdLine(t *testing.T) (hangUp func()) {
	t.Helper()
	a, l := linesim.NewPair(linesim.Config{Seed: 3, Name: "holder"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.srv.HandleLine("test", l)
	}()
	expectText(t, a, "login: ")
	return func() {
		a.Close()
		<-done
	}
}

// callbackRecord returns the call record of the callback (mode callback).
func (b *bridged) callbackRecord(t *testing.T) store.CallRecord {
	t.Helper()
	recs, err := store.ReadRecordsFile(b.st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Mode == "callback" {
			return r
		}
	}
	t.Fatalf("no callback record in %+v", recs)
	return store.CallRecord{}
}

// TestCallbackInsideHoldoffThroughBridge is the case of a [callback]
// delay shorter than [lines] holdoff: the first call comes from the line
// the callback dials (the callback address is the caller end of the
// first call's pair), so its hang-up starts the address's hold-off; the
// gateway's own callback is bridged all the same, and the hold-off still
// turns away the caller's redial.
func TestCallbackInsideHoldoffThroughBridge(t *testing.T) {
	for _, mode := range []string{"text", "v42"} {
		t.Run(mode, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			gw := []func(*bridge.Options){withLines(4, time.Hour)}
			if mode == "v42" {
				gw = append(gw, withV42(t))
			}
			b := newBridged(t, oneUser{"alice", "pw", "sim://alice-home/a"}, Config{Delay: 10 * time.Millisecond, Expiry: time.Minute}, gw...)
			home, err := b.net.Listen("alice-home/a")
			if err != nil {
				t.Fatal(err)
			}
			defer home.Close()
			ticket := b.request(t, mode, "alice-home", "alice")
			s := answer(t, home, "alice", ticket)
			io.WriteString(s, "ping")
			expectText(t, s, "ping")
			s.Close()
			b.svc.Close() // waits for the bridged session

			if r := b.callbackRecord(t); r.Result != store.ResultCompleted || r.User != "alice" {
				t.Errorf("callback record: %+v", r)
			}
			a, l := linesim.NewPair(linesim.Config{Seed: 4, Name: "alice-home"})
			defer a.Close()
			go b.srv.HandleLine("test", l)
			if got := expectText(t, a, "BUSY"); got != "BUSY" && !strings.HasPrefix(got, "BUSY") {
				t.Errorf("redial heard %q", got)
			}
		})
	}
}

// TestCallbackNotBridgedIsTold: a callback proved while every line is in
// use (max_concurrent = 1, another caller at the login prompt) is not
// bridged; the party that answered it hears why (inside the V.42 link
// too, where it used to hear nothing), and the callback's record says
// so.
func TestCallbackNotBridgedIsTold(t *testing.T) {
	for _, mode := range []string{"text", "v42"} {
		t.Run(mode, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			gw := []func(*bridge.Options){withLines(1, 0)}
			if mode == "v42" {
				gw = append(gw, withV42(t))
			}
			b := newBridged(t, oneUser{"alice", "pw", "sim://alice-home"}, Config{Delay: 10 * time.Millisecond, Expiry: time.Minute}, gw...)
			b.allowNotBridged = true
			home, err := b.net.Listen("alice-home")
			if err != nil {
				t.Fatal(err)
			}
			defer home.Close()
			ticket := b.request(t, mode, "alice", "alice")
			hangUp := b.holdLine(t)
			defer hangUp()
			s := answer(t, home, "alice", ticket)
			got, _ := io.ReadAll(s)
			if want := "\r\nNO CARRIER (callback not connected: all lines busy)\r\n"; !strings.HasSuffix(string(got), want) {
				t.Errorf("the callback's party heard %q, want %q", got, want)
			}
			b.svc.Close()
			if r := b.callbackRecord(t); r.Result != store.ResultBusy || r.Reason != "callback not bridged: all lines busy" || r.User != "alice" {
				t.Errorf("callback record: %+v", r)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.notBridged) != 1 || !strings.Contains(b.notBridged[0].Error(), "all lines busy") {
				t.Errorf("BridgeCallback's errors: %v", b.notBridged)
			}
		})
	}
}

// TestV42CallbackNotScheduledIsRejected: a V.42 caller whose callback the
// service refuses (another user's callback is pending for the same
// address) is told by Access Security's REJECT callback-unavailable, not
// promised a callback by CONFIRM; the call is recorded as refused with
// the service's reason, and the other user's callback is untouched.
func TestV42CallbackNotScheduledIsRejected(t *testing.T) {
	testutil.CheckGoroutines(t)
	users := accounts{"bob": {Callback: "sim://shared-home"}, "bea": {Callback: "sim://shared-home"}}
	// No one answers at the address: bob's callback stays pending,
	// waiting out the hour's backoff to dial again. His ticket must live
	// as long as his job: it caps the job's life, and with auth's
	// default of two minutes the job would end at its first failed dial
	// (the next would come after the ticket expired), freeing the
	// address for bea.
	b := newBridged(t, users, Config{Delay: 10 * time.Millisecond, Backoff: time.Hour, Expiry: 2 * time.Hour}, withV42(t), withTicketTTL(2*time.Hour))
	b.request(t, "v42", "bob", "bob")
	time.Sleep(100 * time.Millisecond) // bob's first dial has failed
	cr, err := b.loginV42(t, "bea", "bea", "pw")
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonCallbackUnavailable || cr != nil {
		t.Fatalf("bea's V.42 login: %+v, %v; want REJECT callback-unavailable", cr, err)
	}
	if n := b.svc.Pending(); n != 1 {
		t.Errorf("%d callbacks pending, want bob's", n)
	}
	b.svc.Close()
	recs, err := store.ReadRecordsFile(b.st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	want := "callback not scheduled: " + ErrAddressBusy.Error()
	if len(recs) != 2 || recs[0].User != "bob" || recs[0].Result != store.ResultCallback ||
		recs[1].User != "bea" || recs[1].Mode != "v42" || recs[1].Result != store.ResultRefused || !strings.HasPrefix(recs[1].Reason, want) {
		t.Errorf("call records: %+v", recs)
	}
	if as := bySession(b.rec.all())[recs[0].Session]; len(as) == 0 || as[len(as)-1].Result != Shutdown {
		t.Errorf("bob's callback: %+v", as)
	}
}

// TestV42ConfirmNotSentWithdrawsCallback: a V.42 login whose line drops
// after the callback was scheduled and before CONFIRM went out promised
// no one a callback: the bridge withdraws it at once (the user's line is
// not rung), the call is not recorded as a callback, and the ticket is
// wiped. The user's earlier callback, superseded by the withdrawn one,
// stays superseded (callbackd.Service.Cancel).
func TestV42ConfirmNotSentWithdrawsCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	// A delay of an hour: only the withdrawal can end the job now.
	b := newBridged(t, oneUser{"bob", "pw", "sim://bob-home"}, Config{Delay: time.Hour, Expiry: 3 * time.Hour}, withV42(t), withTicketTTL(3*time.Hour))
	home, err := b.net.Listen("bob-home")
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	b.request(t, "v42", "bob", "bob")

	a, l := linesim.NewPair(linesim.Config{Seed: 4, Name: "dropped"})
	defer a.Close()
	b.mu.Lock()
	b.scheduled = func() {
		// The caller's line drops before CONFIRM; the gateway's LAPM
		// link notices at its next read, before CONFIRM is sent.
		l.Close()
		time.Sleep(100 * time.Millisecond)
		b.mu.Lock()
		b.scheduled = nil
		b.mu.Unlock()
	}
	b.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- b.srv.HandleLine("test", l) }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, left, err := lapm.Detect(ctx, a, lapm.Originator)
	if err != nil || res != lapm.DetectLAPM {
		t.Fatalf("detection: %v %v", res, err)
	}
	link, err := lapm.Open(ctx, a, left, lapm.Config{Role: lapm.Originator})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	cr, err := auth.Call(ctx, link, auth.CallerConfig{UserID: "bob", Password: "pw", WantCallback: true,
		CheckHostKey: func([]byte) error { return nil }})
	if err == nil {
		t.Fatalf("call with CONFIRM not sent: %+v", cr)
	}
	a.Close()
	if err := <-done; err != nil {
		t.Errorf("HandleLine: %v", err)
	}
	if n := b.svc.Pending(); n != 0 {
		t.Errorf("%d callbacks pending after the dropped login, want none", n)
	}
	actx, acancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer acancel()
	if line, err := home.Accept(actx); err == nil {
		line.Close()
		t.Error("bob's line rang")
	}
	b.svc.Close()
	recs, err := store.ReadRecordsFile(b.st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Result != store.ResultCallback || recs[1].Result == store.ResultCallback || recs[1].Mode != "v42" {
		t.Errorf("call records: %+v", recs)
	}
	m := bySession(b.rec.all())
	if as := m[recs[0].Session]; len(as) != 1 || as[0].Result != Superseded {
		t.Errorf("bob's first callback: %+v", as)
	}
	as := m[recs[1].Session]
	if len(as) != 1 || as[0].Result != Withdrawn || as[0].Dials != 0 || !errors.Is(as[0].Err, ErrWithdrawn) {
		t.Errorf("the withdrawn callback: %+v", as)
	}
}
