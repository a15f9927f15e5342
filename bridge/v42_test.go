package bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
	"github.com/dialgate/dialgate/transport/tcp"
)

// newV42Server is a server whose listener "test" runs V.42 detection with
// the given security mode.
func newV42Server(t *testing.T, mode config.SecurityMode, v Verifier, backends ...config.Backend) (*Server, *store.File, auth.HostKey) {
	t.Helper()
	c := testConfig(t, backends...)
	c.Listeners[0].V42 = config.V42Detect
	c.Listeners[0].Security = mode
	key, err := auth.GenerateHostKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Config: c, Store: st, Verifier: v, V42: &LAPMAnswerer{HostKey: key, Name: "testgw"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, key
}

// v42Dial runs the caller's side: detection, LAPM, and Access Security
// unless user is "".
func v42Dial(t *testing.T, s *Server, user, pw string, hostKey []byte) (*lapm.Link, <-chan struct{}, error) {
	t.Helper()
	return v42DialOffer(t, s, user, pw, hostKey, lapm.LinkParams{})
}

// v42Originate runs the caller's detection and LAPM set-up on line.
func v42Originate(ctx context.Context, t testing.TB, line transport.Line, offer lapm.LinkParams) *lapm.Link {
	t.Helper()
	res, left, err := lapm.Detect(ctx, line, lapm.Originator)
	if err != nil || res != lapm.DetectLAPM {
		t.Fatalf("detection: %v %v", res, err)
	}
	link, err := lapm.Open(ctx, line, left, lapm.Config{Role: lapm.Originator, Params: offer})
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// v42Login runs the caller's Access Security over conn (a link, or a
// wrapper of one) with user and password, trusting hostKey only.
func v42Login(ctx context.Context, conn auth.XIDConn, user, pw string, hostKey []byte) (*auth.CallResult, error) {
	return auth.Call(ctx, conn, auth.CallerConfig{UserID: user, Password: pw, CheckHostKey: func(pub []byte) error {
		if !bytes.Equal(pub, hostKey) {
			return errors.New("wrong host key")
		}
		return nil
	}})
}

// v42DialOffer is v42Dial with the caller's LAPM offer.
func v42DialOffer(t *testing.T, s *Server, user, pw string, hostKey []byte, offer lapm.LinkParams) (*lapm.Link, <-chan struct{}, error) {
	t.Helper()
	return v42DialTransform(t, s, user, pw, hostKey, offer, nil)
}

// v42DialTransform is v42DialOffer with the data phase's transform
// passed through wrap (nil: as it is).
func v42DialTransform(t *testing.T, s *Server, user, pw string, hostKey []byte, offer lapm.LinkParams, wrap func(lapm.Transform) lapm.Transform) (*lapm.Link, <-chan struct{}, error) {
	t.Helper()
	a, done := simLine(t, s, linesim.Config{Seed: 2, Name: "v42"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	link := v42Originate(ctx, t, a, offer)
	if user != "" {
		cr, err := v42Login(ctx, link, user, pw, hostKey)
		if err != nil {
			link.Close()
			return nil, done, err
		}
		var tr lapm.Transform = cr.Transform
		if wrap != nil {
			tr = wrap(tr)
		}
		link.SetTransform(tr)
	}
	if err := link.Establish(ctx); err != nil {
		link.Close()
		return nil, done, err
	}
	return link, done, nil
}

func TestV42AccessSecurityToBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("sealed and error-corrected ", 100)
	go io.WriteString(link, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(link, got); err != nil || string(got) != msg {
		t.Fatalf("echo over V.42: %v", err)
	}
	link.Close()
	<-done
	recs := records(t, st)
	if len(recs) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	r := recs[0]
	if r.Mode != "v42" || r.User != "vic" || r.Result != store.ResultCompleted || r.LAPM == nil || !r.LAPM.Sealed || r.BytesIn != int64(len(msg)) {
		t.Errorf("record: %+v lapm %+v", r, r.LAPM)
	}
	// Both ends run the default cipher policy.
	if want := defaultCipher(); r.LAPM != nil && r.LAPM.Cipher != want.String() {
		t.Errorf("record's cipher %q, want %v", r.LAPM.Cipher, want)
	}
}

// TestV42BreakInterruptsBackend: a V.42 caller's break (UI BRK, what
// "gateway dial" sends for ~B) reaches a pty program as an interrupt,
// as a telnet caller's BREAK does.
func TestV42BreakInterruptsBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	s, _, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
			`trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 1; done`}})
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	interrupted := make(chan bool, 1)
	var got []byte // the goroutine's, until it sends on interrupted
	var readErr error
	go func() {
		buf := make([]byte, 512)
		sent := false
		for {
			n, err := link.Read(buf)
			readErr = err
			got = append(got, buf[:n]...)
			if !sent && bytes.Contains(got, []byte("ready")) {
				sent = true
				if err := link.Break(); err != nil {
					t.Errorf("break: %v", err)
				}
			}
			if bytes.Contains(got, []byte("interrupted")) || err != nil {
				interrupted <- bytes.Contains(got, []byte("interrupted"))
				return
			}
		}
	}()
	select {
	case ok := <-interrupted:
		if !ok {
			t.Errorf("the program ended without seeing the interrupt: %v; it printed %q", readErr, got)
		}
	case <-time.After(20 * time.Second):
		link.Close()
		<-interrupted
		t.Error("the break did not interrupt the program")
	}
	link.Close()
	<-done
}

// TestV42ListenerLAPMOffer: the answerer offers the listener's LAPM
// parameters (by default 4096/127, FCS-32, SREJ without a line_rate,
// which with SREJ is a window of 64; 256/15 on a paced line), so a caller
// offering big values gets them rather than the V.42 defaults 128/15,
// FCS-16, REJ only.
func TestV42ListenerLAPMOffer(t *testing.T) {
	big := lapm.LinkParams{N401: 4096, K: 127, FCS32: true, SREJ: true}
	for _, tc := range []struct {
		name     string
		lineRate int
		want     lapm.Negotiated
	}{
		{"unpaced", 0, lapm.Negotiated{FCS: lapm.FCS32, SREJ: true, N401Tx: 4096, N401Rx: 4096, KTx: lapm.MaxKSREJ, KRx: lapm.MaxKSREJ}},
		{"paced", 1_000_000, lapm.Negotiated{FCS: lapm.FCS32, SREJ: true, N401Tx: 256, N401Rx: 256, KTx: 15, KRx: 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}})
			s.Config().Listeners[0].LineRate = tc.lineRate // before any call
			link, done, err := v42DialOffer(t, s, "vic", "pw", key.Public, big)
			if err != nil {
				t.Fatal(err)
			}
			if got := link.Stats().Negotiated; got != tc.want {
				t.Errorf("negotiated %+v, want %+v", got, tc.want)
			}
			link.Close()
			<-done
			if r := records(t, st); len(r) != 1 || r[0].LAPM == nil || r[0].LAPM.N401 != tc.want.N401Rx || r[0].LAPM.K != tc.want.KRx || !r[0].LAPM.FCS32 {
				t.Fatalf("records: %+v", r)
			}
		})
	}
}

func TestV42AccessSecurityDenied(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}})
	_, done, err := v42Dial(t, s, "vic", "nope", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonDenied {
		t.Fatalf("call: %v, want REJECT denied", err)
	}
	<-done
	// The record names the user the caller claimed (known once RESPONSE
	// decrypts), as a denied text login does.
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultDenied || r[0].Mode != "v42" || r[0].User != "vic" || r[0].Reason != "Access Security login denied" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42DeniedRecordReason: the record of a denied V.42 login says the
// verifier's reason (AuthVerifier's DenialError); the caller hears only
// REJECT denied. Operator trial: it said the same for every reason.
func TestV42DeniedRecordReason(t *testing.T) {
	testutil.CheckGoroutines(t)
	v := &reasonVerifier{fakeVerifier: fakeVerifier{users: map[string]string{"vic": "pw"}}, why: "account expired"}
	s, st, key := newV42Server(t, config.SecurityRequired, v)
	_, done, err := v42Dial(t, s, "vic", "pw-but-expired", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonDenied {
		t.Fatalf("call: %v, want REJECT denied", err)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultDenied || r[0].Reason != "Access Security login denied (account expired)" {
		t.Fatalf("records: %+v", r)
	}
}

// reasonVerifier denies with a reason, as AuthVerifier does.
type reasonVerifier struct {
	fakeVerifier
	why string
}

func (v *reasonVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	a, err := v.fakeVerifier.Verify(ctx, user, password, source)
	if errors.Is(err, ErrDenied) {
		return a, &DenialError{Reason: v.why}
	}
	return a, err
}

// TestV42AccessSecurityThrottled: a caller told "busy" (back-off) is
// recorded as throttled with the user it claimed.
func TestV42AccessSecurityThrottled(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{busy: true})
	_, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonBusy {
		t.Fatalf("call: %v, want REJECT busy", err)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultThrottled || r[0].User != "vic" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42RequiredRefusesPlainModem: an ordinary V.42 modem (SABME without
// Access Security) gets a clean disconnect under security = "required".
func TestV42RequiredRefusesPlainModem(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityRequired, &fakeVerifier{})
	_, done, err := v42Dial(t, s, "", "", nil)
	if !errors.Is(err, lapm.ErrRefused) {
		t.Fatalf("establish: %v, want lapm.ErrRefused", err)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultRefused || r[0].Reason != "V.42 caller without Access Security" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42OptionalTextOverLAPM: under security = "optional" the same modem
// gets the text login over the error-corrected link.
func TestV42OptionalTextOverLAPM(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{users: map[string]string{"wes": "pw"}})
	link, done, err := v42Dial(t, s, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	login(t, link, "wes", "pw")
	expect(t, link, "Choice: ")
	io.WriteString(link, "g\r")
	expect(t, link, "Goodbye, wes.")
	link.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Mode != "v42-text" || r[0].User != "wes" || r[0].LAPM == nil || r[0].LAPM.Sealed {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42BreakAtLoginNotReplayed: a V.42 caller's break sent at the
// text login's prompt (security = "optional", the login over the link)
// does not reach the program the session starts (review: the link's
// breaks were kept, as the line's were before for telnet callers).
func TestV42BreakAtLoginNotReplayed(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	s, _, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{users: map[string]string{"wes": "pw"}},
		config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
			`trap 'echo interrupted; exit 0' INT; stty -echo; echo ready; read x; echo "got:$x"`}})
	link, done, err := v42Dial(t, s, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, link, "login: ")
	if err := link.Break(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(link, "wes\r")
	expect(t, link, "password: ")
	io.WriteString(link, "pw\r")
	expect(t, link, "ready")
	io.WriteString(link, "line\r")
	if got := expect(t, link, "got:"); strings.Contains(got, "interrupted") {
		t.Errorf("the break sent at the login prompt interrupted the program: %q", got)
	}
	link.Close()
	<-done
}

// noDeadlineLine hides the read deadlines of a line (like a WebSocket
// line without them).
type noDeadlineLine struct{ transport.Line }

// TestDetectOnLineWithoutDeadlines: a text caller on a line without read
// deadlines still gets the text login after T400.
func TestDetectOnLineWithoutDeadlines(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{users: map[string]string{"x": "y"}})
	a, b := linesim.NewPair(linesim.Config{Seed: 3})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HandleLine("test", noDeadlineLine{b})
	}()
	login(t, a, "x", "y")
	expect(t, a, "Choice: ")
	a.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Mode != "text" || r[0].Answer.IsZero() {
		t.Fatalf("records: %+v", r)
	}
}

func TestDeadlineLineRead(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := linesim.NewPair(linesim.Config{Seed: 4})
	d := newDeadlineLine(noDeadlineLine{b})
	d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := d.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	d.SetReadDeadline(time.Time{})
	io.WriteString(a, "abc")
	buf := make([]byte, 10)
	if n, err := d.Read(buf); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	a.Close()
	if _, err := d.Read(buf); err != io.EOF {
		t.Fatalf("after peer hang-up: %v", err)
	}
	d.Close()
}

// v42BenchGateway is a gateway set up like scripts/bench's: a telnet-modem
// listener "test" on loopback with V.42 detection and Access Security
// required, the real verifier (argon2id at the minimum cost, so that
// set-up figures exclude it; throttling lifted) and a TCP backend at
// backend. It returns the listener's host:port.
func v42BenchGateway(b testing.TB, backend string) string {
	b.Helper()
	c := testConfig(b, config.Backend{Name: "be", Type: config.BackendTCP, Address: config.HostPort(backend)})
	c.Listeners[0].V42 = config.V42Detect
	c.Listeners[0].Security = config.SecurityRequired
	c.Lines.MaxConcurrent = 30000
	c.Security.MaxPendingPerSource = 30000
	c.Security.HashQueue = 30000
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 1, 8, 1
	h, err := auth.HashPassword("pw", Argon2Params(c))
	if err != nil {
		b.Fatal(err)
	}
	users := auth.NewUsers()
	if err := users.Add(auth.User{ID: "vic", Hash: h}); err != nil {
		b.Fatal(err)
	}
	av := NewAuthVerifier(c, users, nil)
	key, err := auth.GenerateHostKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Config: c, Store: st, Verifier: av, V42: &LAPMAnswerer{HostKey: key, Name: "bench", Throttle: av.Throttle()}})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	l, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve("test", l)
	}()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
		st.Close()
	})
	u, _ := strings.CutPrefix(l.Addr(), "telnet://")
	return u
}

// setupSteps are the caller's milestones of one full set-up, in order.
var setupSteps = []string{"connect", "detect", "xid", "challenge", "confirm", "sabme", "data"}

// fullCall dials addr as `gateway dial` does (detection, LAPM offering
// 4096/127/FCS-32/SREJ, Access Security i-iv, SABME/UA) and waits for one
// octet echoed by the backend. at, if not nil, receives the time of each
// of setupSteps.
func fullCall(ctx context.Context, addr string, at *[7]time.Time) (*lapm.Link, error) {
	mark := func(i int) {
		if at != nil {
			at[i] = time.Now()
		}
	}
	line, err := transport.Dial(ctx, "telnet://"+addr)
	if err != nil {
		return nil, err
	}
	mark(0)
	res, left, err := lapm.Detect(ctx, line, lapm.Originator)
	if err != nil || res != lapm.DetectLAPM {
		line.Close()
		return nil, fmt.Errorf("detection: %v %w", res, err)
	}
	mark(1)
	link, err := lapm.Open(ctx, line, left, lapm.Config{Role: lapm.Originator, Params: lapm.LinkParams{N401: 4096, K: 127, FCS32: true, SREJ: true}})
	if err != nil {
		line.Close()
		return nil, err
	}
	mark(2)
	cr, err := auth.Call(ctx, link, auth.CallerConfig{UserID: "vic", Password: "pw", HostName: addr,
		CheckHostKey: func([]byte) error { mark(3); return nil }})
	if err != nil {
		link.Close()
		return nil, err
	}
	mark(4)
	link.SetTransform(cr.Transform)
	if err := link.Establish(ctx); err != nil {
		link.Close()
		return nil, err
	}
	mark(5)
	if _, err := link.Write([]byte{'x'}); err != nil {
		link.Close()
		return nil, err
	}
	if _, err := io.ReadFull(link, make([]byte, 1)); err != nil {
		link.Close()
		return nil, err
	}
	mark(6)
	return link, nil
}

// BenchmarkV42SetUp is one full V.42 set-up on loopback TCP, TCP connect
// to the first octet echoed by the backend, caller and gateway in this
// process (argon2id at the minimum cost). It reports the time of each
// step (the caller's view: a step ends when the gateway's answer to it
// arrived) in µs/op.
func BenchmarkV42SetUp(b *testing.B) {
	addr := v42BenchGateway(b, tcpBackendServer(b, echoHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sums [7]time.Duration
	b.ResetTimer()
	for range b.N {
		var at [7]time.Time
		start := time.Now()
		link, err := fullCall(ctx, addr, &at)
		if err != nil {
			b.Fatal(err)
		}
		prev := start
		for i, t := range at {
			sums[i] += t.Sub(prev)
			prev = t
		}
		b.StopTimer()
		link.Close()
		b.StartTimer()
	}
	for i, name := range setupSteps {
		b.ReportMetric(float64(sums[i].Microseconds())/float64(b.N), name+"-µs/op")
	}
}

var (
	idleSessions    = flag.Int("idle-sessions", 300, "BenchmarkV42IdleSessions: idle full V.42 sessions to hold")
	idleHeapProfile = flag.String("idle-heapprofile", "", "BenchmarkV42IdleSessions: write the gateway's heap profile (every allocation sampled) with the sessions up")
)

// idleCallerEnv names the environment variable that turns the test binary
// into BenchmarkV42IdleSessions' caller process (see
// TestV42IdleCallerProcess).
const idleCallerEnv = "DIALGATE_IDLE_CALLER"

// BenchmarkV42IdleSessions measures what an idle, established full V.42
// session (detection, LAPM 4096/127/FCS-32/SREJ, Access Security, one
// octet echoed) costs the gateway: heap, goroutine stacks, RSS and
// goroutines per session, for -idle-sessions sessions. The callers and
// the TCP backend run in a child process (this test binary), so that the
// figures are the gateway's alone. The iteration count is ignored: one
// run holds the sessions once.
func BenchmarkV42IdleSessions(b *testing.B) {
	n := *idleSessions
	if *idleHeapProfile != "" {
		runtime.MemProfileRate = 1
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestV42IdleCallerProcess$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", idleCallerEnv, n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		in.Close() // the child hangs up its calls and exits
		_ = cmd.Wait()
	}()
	rd := bufio.NewReader(out)
	word := func(want string) string {
		line, err := rd.ReadString('\n')
		f := strings.Fields(line)
		if err != nil || len(f) == 0 || f[0] != want {
			b.Fatalf("caller process: got %q (%v), want %q", line, err, want)
		}
		return strings.Join(f[1:], " ")
	}
	addr := v42BenchGateway(b, word("backend"))
	before := gatewayMemory()
	if _, err := fmt.Fprintln(in, addr); err != nil {
		b.Fatal(err)
	}
	word("ready")
	time.Sleep(2 * time.Second) // as scripts/bench does: timers, buffers released after set-up
	after := gatewayMemory()
	if *idleHeapProfile != "" {
		f, err := os.Create(*idleHeapProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	b.ReportMetric(per(after.heap, before.heap)/1024, "heap-KiB/session")
	b.ReportMetric(per(after.stack, before.stack)/1024, "stack-KiB/session")
	b.ReportMetric(per(after.rss, before.rss)/1024, "rss-KiB/session")
	b.ReportMetric(per(after.rssAsIs, before.rssAsIs)/1024, "rss-nogc-KiB/session")
	b.ReportMetric(per(after.alloc, before.alloc)/1024, "alloc-KiB/session")
	b.ReportMetric(per(after.goroutines, before.goroutines), "goroutines/session")
}

// memory is a snapshot of the process's memory: RSS as found (what
// scripts/bench measures of the gateway), then heap, stacks and RSS after
// two collections, and the octets allocated so far.
type memory struct{ rssAsIs, heap, stack, rss, goroutines, alloc uint64 }

func gatewayMemory() memory {
	m := memory{rssAsIs: rss()}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap, m.stack, m.alloc = ms.HeapInuse, ms.StackInuse, ms.TotalAlloc
	m.rss, m.goroutines = rss(), uint64(runtime.NumGoroutine())
	return m
}

// rss is the process's resident set size (0 where /proc is missing).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * uint64(os.Getpagesize())
}

// TestV42IdleCallerProcess is BenchmarkV42IdleSessions' child process;
// without the environment variable it does nothing. It starts an echo
// backend and prints "backend <host:port>", reads the gateway's address
// from stdin, sets up the sessions (8 at a time), prints "ready", and
// hangs up when stdin closes.
func TestV42IdleCallerProcess(t *testing.T) {
	v := os.Getenv(idleCallerEnv)
	if v == "" {
		t.Skip("the child process of BenchmarkV42IdleSessions")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("backend %s\n", tcpBackendServer(t, echoHandler))
	rd := bufio.NewReader(os.Stdin)
	addr, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The benchmark closes stdin when it is done (or gone): hang up.
	parentDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, rd)
		cancel()
		close(parentDone)
	}()
	links := make([]*lapm.Link, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l, err := fullCall(ctx, addr, nil)
			if err != nil {
				errs <- err
				return
			}
			links[i] = l
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("ready")
	<-parentDone
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
}

// TestV42CallbackUserCallerTakesNone: a V.42 caller of an account with a
// callback address that offered no callback (gateway dial without
// --answer) is refused with REJECT callback-unavailable, and the record
// says refused, as for a text caller, not abandoned with the protocol's
// words (callback trial). The reason names every caller that takes no
// callback, not dial alone (second callback trial: a modem's refusal was
// recorded as dial's).
func TestV42CallbackUserCallerTakesNone(t *testing.T) {
	testutil.CheckGoroutines(t)
	v := &fakeVerifier{users: map[string]string{"cb": "pw"}, accounts: map[string]Account{"cb": {Callback: "telnet://127.0.0.1:9"}}}
	s, st, key := newV42Server(t, config.SecurityRequired, v)
	s.SetCallback(func(context.Context, CallbackRequest) (func(), error) { return func() {}, nil })
	_, done, err := v42Dial(t, s, "cb", "pw", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonCallbackUnavailable {
		t.Fatalf("login: %v, want REJECT callback-unavailable", err)
	}
	<-done
	if recs := records(t, st); len(recs) != 1 || recs[0].Result != store.ResultRefused || !strings.Contains(recs[0].Reason, "callback required") ||
		!strings.Contains(recs[0].Reason, "gateway modem without --answer") {
		t.Errorf("records: %+v", recs)
	}
}

// TestV42HangUpAfterConfirm: a caller that hangs up right after
// CONFIRM, without setting up the data phase, proved the password; its
// record names the account, as a wrong guess's does (security trial: a
// password-checking bot's hits left no trace of the account).
func TestV42HangUpAfterConfirm(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"u": "p"}})
	a, done := simCall(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	link := v42Originate(ctx, t, a, lapm.LinkParams{})
	if _, err := v42Login(ctx, link, "u", "p", key.Public); err != nil {
		t.Fatal(err)
	}
	link.Close() // DISC, no SABME
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].User != "u" ||
		r[0].Reason != "caller hung up after its V.42 login was confirmed, before the data phase" {
		t.Fatalf("records: %+v", r)
	}
}

// TestPacedV42HangUpMidDownload: the operator hangs up a V.42 call on a
// paced line (9,600 bit/s) while the backend floods it: the caller reads
// on, and gets the gateway's reason and then a release (DISC). Regression
// (retest): the copy toward the caller still waited for room in the link
// when the words' time ran out, and the caller was released without
// them, or its line dropped.
func TestPacedV42HangUpMidDownload(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, floodHandler)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "flood", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s.st.Load().cfg.Listeners[0].LineRate = 9600
	link, done, err := v42DialOffer(t, s, "vic", "pw", key.Public, lapm.LinkParams{N401: 256, K: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	if _, err := io.ReadFull(link, make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	if err := s.HangUp(calls[0].Session); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(link)
	if err != nil {
		t.Errorf("caller's link after the hang-up: %v, want a release (DISC)", err)
	}
	if !bytes.HasSuffix(rest, []byte(msgOperator)) {
		t.Errorf("the caller's last octets: %q, want %q", rest[max(0, len(rest)-60):], msgOperator)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Reason != "hung up by the operator" {
		t.Errorf("records %+v", r)
	}
}

// TestV42TamperedPayloadRecordedAsError: a data-phase payload that does
// not authenticate (a sealed payload altered after sealing, as on-path
// tampering would) ends the call as a protocol error, not as a completed
// call the caller's line ended (Python caller trial: a flipped bit was
// recorded "completed", "caller line failed: …").
func TestV42TamperedPayloadRecordedAsError(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	var tr *tamperSeal
	link, done, err := v42DialTransform(t, s, "vic", "pw", key.Public, lapm.LinkParams{}, func(in lapm.Transform) lapm.Transform {
		tr = &tamperSeal{Transform: in}
		return tr
	})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	if _, err := io.WriteString(link, "first, intact"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("first, intact"))
	if _, err := io.ReadFull(link, got); err != nil {
		t.Fatalf("echo of the intact payload: %v", err)
	}
	tr.flip.Store(true)
	_, _ = io.WriteString(link, "second, altered")
	<-done
	recs := records(t, st)
	if len(recs) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	if r := recs[0]; r.Result != store.ResultError || !strings.HasPrefix(r.Reason, "Access Security protocol error: ") ||
		!strings.Contains(r.Reason, "did not authenticate") {
		t.Errorf("record: result %q, reason %q", r.Result, r.Reason)
	}
}

// tamperSeal flips a bit of each sealed payload once flip is set.
type tamperSeal struct {
	lapm.Transform
	flip atomic.Bool
}

func (t *tamperSeal) Seal(dst, plain []byte) []byte {
	out := t.Transform.Seal(dst, plain)
	if t.flip.Load() && len(out) > len(dst) {
		out[len(dst)] ^= 0x01
	}
	return out
}

// TestV42AccessSecurityOnListenerWithoutIt: on a listener with security
// = "off" a caller that offers Access Security (gateway dial) is turned
// away by policy, and the record says refused, as for the other policy
// refusals. Option trial: it was recorded abandoned, the result of a
// caller who gave up, with the reason "bridge: Access Security offered
// on a listener with security = \"off\"".
func TestV42AccessSecurityOnListenerWithoutIt(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityOff, &fakeVerifier{users: map[string]string{"vic": "pw"}})
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err == nil {
		link.Close()
		t.Fatal("Access Security succeeded on a listener with security = \"off\"")
	}
	// Told why, not that its version is wrong (it was REJECT version).
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonNotOffered {
		t.Errorf("call: %v, want REJECT not-offered", err)
	}
	<-done
	recs := waitRecords(t, st, 1)
	if r := recs[0]; r.Result != store.ResultRefused || r.Reason != `Access Security offered on a listener with security = "off"` {
		t.Errorf("record: result %q, reason %q; want refused, Access Security offered on a listener with security = \"off\"", r.Result, r.Reason)
	}
}
