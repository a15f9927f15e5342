package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
	"github.com/dialgate/dialgate/transport/tcp"
	"github.com/dialgate/dialgate/transport/ws"
)

// gatedStore is a store whose AppendRecord waits for gate (a slow disk).
type gatedStore struct {
	*store.File
	gate    chan struct{}
	waiting atomic.Int32
}

func (g *gatedStore) AppendRecord(r store.CallRecord) error {
	g.waiting.Add(1)
	<-g.gate
	return g.File.AppendRecord(r)
}

// busyFloodServer is a server with one line, held by a call at its login
// prompt (holder, recorded when holderDone is closed), whose records wait
// for gs.gate (a slow disk), and whose warnings go to logs.
func busyFloodServer(t *testing.T) (s *Server, gs *gatedStore, logs *observer.ObservedLogs, holder transport.Line, holderDone <-chan struct{}) {
	t.Helper()
	c := testConfig(t)
	c.Lines.MaxConcurrent = 1
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	gs = &gatedStore{File: f, gate: make(chan struct{})}
	core, logs := observer.New(zap.WarnLevel)
	s, err = New(Options{Config: c, Store: gs, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	holder, holderDone = simCall(t, s)
	expect(t, holder, "login: ")
	return s, gs, logs, holder, holderDone
}

// busyFlood answers n calls on s at once, each caller reading all it
// hears (and sending it to heard, when not nil), and returns once all but
// maxBusyRecords of them have ended: the store is stalled, so that many
// BUSY calls wait for their records. wait waits for the rest.
func busyFlood(t *testing.T, s *Server, n int, heard chan<- string) (wait func()) {
	t.Helper()
	var returned atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		a, b := linesim.NewPair(linesim.Config{Seed: int64(i + 1), Name: "flood"})
		wg.Add(2)
		go func() {
			defer wg.Done()
			got := readAll(a)
			a.Close()
			if heard != nil {
				heard <- got
			}
		}()
		go func() {
			defer wg.Done()
			_ = s.HandleLine("test", b)
			returned.Add(1)
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for returned.Load() < int32(n-maxBusyRecords) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d BUSY calls ended while the store was stalled (bound %d)", returned.Load(), n, maxBusyRecords)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return wg.Wait
}

// TestBusyFloodBounded: a flood of calls while every line is busy, with
// the record store stalled, is hung up at once (BUSY) and does not pile
// up: at most maxBusyRecords BUSY calls wait for their records, the rest
// are dropped with a summary log line, and the metric-free server keeps
// answering. Regression: each BUSY call used to hold a goroutine (and, on
// a real listener, its descriptor) until its record was fsync'd, and a
// connect-and-close flood reached 25,000 goroutines and the fd limit.
func TestBusyFloodBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, gs, logs, holder, holderDone := busyFloodServer(t)

	const flood = 3 * maxBusyRecords
	heard := make(chan string, flood)
	wait := busyFlood(t, s, flood, heard)
	if w := gs.waiting.Load(); w > maxBusyRecords {
		t.Errorf("%d records waiting for the store, bound %d", w, maxBusyRecords)
	}
	// Every flood caller heard BUSY and was hung up, recorded or not.
	for range flood {
		select {
		case h := <-heard:
			if h != "BUSY\r\n" {
				t.Errorf("flood caller heard %q", h)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a flood caller was not hung up while its record waited")
		}
	}
	close(gs.gate)
	wait()
	holder.Close()
	<-holderDone
	recs := records(t, gs.File)
	if len(recs) != maxBusyRecords+1 {
		t.Errorf("%d records, want %d BUSY and the holder's", len(recs), maxBusyRecords)
	}
	if logs.FilterMessageSnippet("connection flood").Len() == 0 {
		t.Error("no log line about BUSY calls left unrecorded")
	}
}

// TestHostileHugeLineAtLogin: 900 KiB without a newline at the login
// prompt are read and thrown away (at most maxUserLen octets are kept and
// echoed), and the dialogue goes on when the line finally ends. (More than
// maxPreLogin before the login ends the call: TestPreLoginFlood.)
func TestHostileHugeLineAtLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"u": "p"}})
	conn := dialGateway(t, g)
	defer conn.Close()
	expect(t, conn, "login: ")
	echoed := make(chan string, 1)
	go func() {
		// What the gateway sends back until the password prompt.
		echoed <- expect(t, conn, "password: ")
	}()
	chunk := bytes.Repeat([]byte("A"), 64<<10)
	for sent := 0; sent < 900<<10; sent += len(chunk) {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("after %d octets: %v", sent, err)
		}
	}
	io.WriteString(conn, "\r\n")
	select {
	case out := <-echoed:
		if n := strings.Count(out, "A"); n != maxUserLen {
			t.Errorf("echoed %d octets of the 900 KiB line, want %d", n, maxUserLen)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no password prompt after the 900 KiB line")
	}
	io.WriteString(conn, "p\r\n")
	expect(t, conn, "Login incorrect")
}

// TestHostileHalfOpenFreed: connections that send nothing hold a line
// slot only until the handshake deadline; beyond per_source, the same
// address hears BUSY at once; then the slot serves a real caller.
func TestHostileHalfOpenFreed(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent, c.Lines.PerSource = 4, 2
	c.Security.HandshakeDeadline.Duration = 300 * time.Millisecond
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"u": "p"}})
	var conns []net.Conn
	for range 6 {
		conns = append(conns, dialGateway(t, g))
	}
	heard := make([]string, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, _ := io.ReadAll(conn) // never writes: half-open
			heard[i] = string(b)
		}()
	}
	wg.Wait()
	busy, timedOut := 0, 0
	for _, h := range heard {
		switch {
		case h == "\r\ndialgate: too many calls from your address; hang up one first\r\nBUSY\r\n":
			busy++
		case strings.HasSuffix(h, "NO CARRIER (login timed out)\r\n"):
			timedOut++
		default:
			t.Errorf("a silent caller heard %q", h)
		}
	}
	if busy != 4 || timedOut != 2 {
		t.Errorf("%d BUSY and %d timed out, want 4 and 2 (per_source = 2)", busy, timedOut)
	}
	for deadline := time.Now().Add(10 * time.Second); g.ActiveCalls() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d line slots still held after the silent callers were hung up", g.ActiveCalls())
		}
	}
	// The freed slots answer a caller again.
	conn := dialGateway(t, g)
	defer conn.Close()
	expect(t, conn, "login: ")
}

// TestHostileGarbageDuringDetection: random octets during V.42 detection,
// and after a valid detection pattern (so they reach the LAPM answerer),
// never panic or hang the call: when the caller hangs up, the call is
// recorded as abandoned; a caller that hangs
// up during detection without sending anything is recorded in words.
func TestHostileGarbageDuringDetection(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{})
	for seed := range uint64(4) {
		a, b := linesim.NewPair(linesim.Config{Seed: int64(seed), Name: "garbage"})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.HandleLine("test", b)
		}()
		go io.Copy(io.Discard, a)
		r := rand.New(rand.NewPCG(seed, 1))
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		if seed%2 == 1 {
			// A valid originator detection pattern (V.42 8.2: DC1
			// with even, then odd parity) first: the garbage reaches
			// the LAPM answerer instead of the text login.
			for i := range 16 {
				buf[i] = []byte{0x11, 0x91}[i%2]
			}
		}
		a.Write(buf)
		a.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("seed %d: the call did not end after the caller hung up", seed)
		}
	}
	a, b := linesim.NewPair(linesim.Config{Seed: 9, Name: "silent"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.HandleLine("test", b)
	}()
	a.Close()
	<-done
	recs := records(t, st)
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	for _, r := range recs {
		if r.Result != store.ResultAbandoned {
			t.Errorf("record %+v: want result abandoned", r)
		}
	}
	if last := recs[4]; last.Reason != "caller hung up during V.42 detection" {
		t.Errorf("silent caller's reason %q", last.Reason)
	}
}

// TestHostileTelnetNegotiationStorm: a telnet peer that sends nothing but
// option negotiation (and reads nothing) neither blocks the gateway nor
// keeps its line slot past the handshake deadline. The telnet layer's
// log lines about it name the caller and the call.
func TestHostileTelnetNegotiationStorm(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Security.HandshakeDeadline.Duration = 500 * time.Millisecond
	core, logs := observer.New(zap.DebugLevel)
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var storm []byte
	for i := range 256 {
		o := byte(i)
		storm = append(storm, 255, 253, o, 255, 251, o, 255, 254, o, 255, 252, o, 255, 250, o, 1, 255, 240)
	}
	// Write until the gateway hangs up (the deadline), never reading.
	conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := conn.Write(storm); err != nil {
			break
		}
	}
	for deadline := time.Now().Add(10 * time.Second); g.ActiveCalls() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the negotiating peer still holds its line slot")
		}
	}
	recs := waitRecords(t, g.Store, 1)
	if len(recs) != 1 || recs[0].Result != store.ResultAbandoned {
		t.Fatalf("records: %+v", recs)
	}
	want := fmt.Sprintf("tcp: %s: telnet: ", conn.LocalAddr())
	tag := fmt.Sprintf(" (session %d)", recs[0].Session)
	telnetLines := 0
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "telnet:") {
			telnetLines++
			if !strings.HasPrefix(e.Message, want) || !strings.HasSuffix(e.Message, tag) {
				t.Errorf("telnet log line %q does not start %q and end %q", e.Message, want, tag)
			}
		}
	}
	if telnetLines == 0 {
		t.Error("no telnet log lines about the storm")
	}
}

// TestCallLogFieldsOnce: the call log of a bridged text-login call and of
// a denied one has each field once per line ("call ended" used to carry
// "user" twice), one "call ended" line per call, and never the password.
func TestCallLogFieldsOnce(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	core, logs := observer.New(zap.DebugLevel)
	s, err := New(Options{Config: c, Store: f, Verifier: &fakeVerifier{users: map[string]string{"alice": "hunter2-secret"}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "alice", "hunter2-secret")
	io.WriteString(line, "hi")
	expect(t, line, "hi")
	line.Close()
	<-done
	line, done = simCall(t, s)
	for range c.Security.LoginTries {
		login(t, line, "alice", "wrong-password-xyz")
	}
	readAll(line)
	line.Close()
	<-done

	ended := 0
	for _, e := range logs.All() {
		if e.Message == "call ended" {
			ended++
		}
		seen := map[string]bool{}
		for _, f := range e.Context {
			if seen[f.Key] {
				t.Errorf("%q logs %q twice: %v", e.Message, f.Key, e.Context)
			}
			seen[f.Key] = true
			if strings.Contains(f.String, "hunter2") || strings.Contains(f.String, "wrong-password") {
				t.Errorf("%q logs a password: %v", e.Message, e.Context)
			}
		}
		if strings.Contains(e.Message, "hunter2") || strings.Contains(e.Message, "wrong-password") {
			t.Errorf("log message holds a password: %q", e.Message)
		}
	}
	if ended != 2 {
		t.Errorf("%d \"call ended\" lines for 2 calls", ended)
	}
	if recs := records(t, f); len(recs) != 2 || recs[1].Result != store.ResultDenied || recs[1].User != "alice" {
		t.Errorf("records: %+v", recs)
	}
}

// TestWSTrustedProxy: behind a reverse proxy listed in trusted_proxies,
// the caller's address comes from X-Forwarded-For, so per_source limits
// callers, not the proxy; and a proxy that is not trusted cannot forge it.
func TestWSTrustedProxy(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, trusted := range []bool{true, false} {
		c := testConfig(t)
		c.StateDir = t.TempDir()
		c.Listeners[0].Address = "ws://127.0.0.1:0/line"
		c.Lines.PerSource = 1
		if trusted {
			c.Listeners[0].TrustedProxies = []string{"127.0.0.0/8"}
		}
		g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var heard []string
		var lines []*ws.Line
		for _, xff := range []string{"203.0.113.7", "203.0.113.8"} {
			line, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{Header: http.Header{"X-Forwarded-For": {xff}}})
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, line)
			buf := make([]byte, 256)
			n, _ := line.Read(buf)
			heard = append(heard, string(buf[:n]))
		}
		for _, l := range lines {
			l.Close()
		}
		cancel()
		g.Shutdown(context.Background())
		busy := strings.HasSuffix(heard[1], "BUSY\r\n")
		if trusted && busy {
			t.Errorf("trusted proxy: the second caller (another address) heard BUSY: %q", heard)
		}
		if !trusted && !busy {
			t.Errorf("untrusted proxy: X-Forwarded-For was believed: %q", heard)
		}
		recs := records(t, g.Store)
		if trusted && (len(recs) != 2 || !strings.HasPrefix(recs[0].Remote, "203.0.113.")) {
			t.Errorf("trusted proxy: records %+v", recs)
		}
	}
}

// TestWSHostilePeers: a WebSocket peer from a foreign origin is refused
// before it becomes a call; one that sends a message far over the read
// limit at the login prompt is hung up, and the call is recorded.
func TestWSHostilePeers(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if l, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{Origin: "https://evil.example"}); err == nil {
		l.Close()
		t.Error("a foreign origin was answered")
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, g.Addr("test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(msg), "login: ") {
			break
		}
	}
	big := make([]byte, 4<<20) // four times the default read limit
	_ = conn.WriteMessage(websocket.BinaryMessage, big)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			// 1009 for the message over the read limit, or 1008 for
			// the octets over the pre-login budget, whichever comes
			// first.
			if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig && ce.Code != websocket.ClosePolicyViolation {
				t.Errorf("closed with %v, want 1009 (message too big) or 1008 (too much input before login)", ce)
			} else if !errors.As(err, &ce) && !isReset(err) {
				t.Errorf("after the oversized message: %v", err)
			}
			break
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(records(t, g.Store)) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call was not recorded")
		}
	}
	if r := records(t, g.Store); len(r) != 1 || r[0].Result != store.ResultAbandoned {
		t.Errorf("records: %+v", r)
	}
}

// isReset tells a connection reset (the gateway hung up while the
// oversized message was still being written) from other errors.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// TestV42CallerRefusesHostKey: a V.42 caller that does not accept the
// gateway's host key hangs up during the handshake; the record says so
// in words, without the protocol detail (a user's Ctrl-C at gateway
// modem's typed login ends the same way). Regression: the reason went
// on with the chain of internal errors ("...: bridge: Access Security:
// auth: waiting for RESPONSE: lapm: accept XID: ...").
func TestV42CallerRefusesHostKey(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"u": "p"}})
	_, done, err := v42Dial(t, s, "u", "p", []byte("not the gateway's key"))
	if err == nil {
		t.Fatal("the caller accepted a host key it did not know")
	}
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != "caller hung up during the V.42 login" {
		t.Fatalf("records: %+v", r)
	}
}

// TestBoundWindow: each dimension is bounded to MaxWindowDim; sizes
// within it, and unknown sizes (a dimension of 0), pass unchanged.
func TestBoundWindow(t *testing.T) {
	for _, c := range []struct {
		in, want transport.WindowSize
		changed  bool
	}{
		{transport.WindowSize{Cols: 80, Rows: 24}, transport.WindowSize{Cols: 80, Rows: 24}, false},
		{transport.WindowSize{Cols: MaxWindowDim, Rows: MaxWindowDim}, transport.WindowSize{Cols: MaxWindowDim, Rows: MaxWindowDim}, false},
		{transport.WindowSize{Cols: MaxWindowDim + 1, Rows: 24}, transport.WindowSize{Cols: MaxWindowDim, Rows: 24}, true},
		{transport.WindowSize{Cols: 132, Rows: 65535}, transport.WindowSize{Cols: 132, Rows: MaxWindowDim}, true},
		{transport.WindowSize{Cols: 65535, Rows: 65535}, transport.WindowSize{Cols: MaxWindowDim, Rows: MaxWindowDim}, true},
		{transport.WindowSize{Cols: 0, Rows: 65535}, transport.WindowSize{Cols: 0, Rows: 65535}, false},
		{transport.WindowSize{}, transport.WindowSize{}, false},
	} {
		if got, changed := boundWindow(c.in); got != c.want || changed != c.changed {
			t.Errorf("boundWindow(%+v) = %+v, %v; want %+v, %v", c.in, got, changed, c.want, c.changed)
		}
	}
}

// startTelnetGateway starts a gateway whose listener "test" is a telnet
// line on a free loopback port, logging to the returned observer.
func startTelnetGateway(t *testing.T, c *config.Config, v Verifier) (*Gateway, *observer.ObservedLogs) {
	t.Helper()
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	core, logs := observer.New(zap.DebugLevel)
	g, err := Start(context.Background(), c, StartOptions{Verifier: v, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(context.Background()) })
	return g, logs
}

// telnetBBS is a telnet backend listening on a free loopback port,
// closed when the test ends.
func telnetBBS(t *testing.T) *tcp.Listener {
	t.Helper()
	bbs, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bbs.Close() })
	return bbs
}

// bbsBackend is the configuration of a telnet backend "bbs" at bbs.
func bbsBackend(bbs *tcp.Listener) config.Backend {
	return config.Backend{Name: "bbs", Type: config.BackendTelnet, Address: config.HostPort(strings.TrimPrefix(bbs.Addr(), "telnet://"))}
}

// telnetCall dials g's listener "test" as a telnet caller with opts and
// logs in as user; the line is closed when the test ends.
func telnetCall(t *testing.T, ctx context.Context, g *Gateway, opts tcp.Options, user, pw string) *tcp.Line {
	t.Helper()
	opts.Telnet = true
	caller, err := tcp.Dial(ctx, strings.TrimPrefix(g.Addr("test"), "telnet://"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	login(t, caller, user, pw)
	return caller
}

// acceptBackendLine accepts the gateway's connection to the telnet
// backend bbs and reads it in the background (a line learns what its
// peer announces as it reads); the line is closed, and the reader ended,
// when the test ends.
func acceptBackendLine(t *testing.T, ctx context.Context, bbs *tcp.Listener) *tcp.Line {
	t.Helper()
	back, err := bbs.AcceptLine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		io.Copy(io.Discard, back)
	}()
	t.Cleanup(func() { back.Close(); <-readDone })
	return back
}

// waitLineInfo waits up to 10 s for line's info to satisfy ok.
func waitLineInfo(t *testing.T, line *tcp.Line, what string, ok func(transport.LineInfo) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(line.Info()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the line never saw %s: %+v", what, line.Info())
		}
	}
}

// TestHostileWindowSizePTY: a caller announcing a 65535x65535 window
// (telnet NAWS), and later resizing to 16384x16384, gets a pty of at most
// MaxWindowDim in each dimension, and the log says so once. Regression:
// the sizes reached the pty unchanged, and a curses program on a
// 16384x16384 pty allocated 21.7 GB.
func TestHostileWindowSizePTY(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`stty -echo; echo "size=$(stty size)."; while read x; do echo "size=$(stty size)."; done`}})
	g, logs := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"w": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{Window: transport.WindowSize{Cols: 65535, Rows: 65535}}, "w", "pw")
	bounded := fmt.Sprintf("size=%d %d.", MaxWindowDim, MaxWindowDim)
	expect(t, caller, bounded) // fails with what the caller saw instead
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 16384, Rows: 16384}); err != nil {
		t.Fatal(err)
	}
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 200, Rows: 4000}); err != nil {
		t.Fatal(err)
	}
	// The resize reaches the pty before the line typed after it.
	io.WriteString(caller, "\r")
	expect(t, caller, fmt.Sprintf("size=%d 200.", MaxWindowDim))
	caller.Close()
	for deadline := time.Now().Add(10 * time.Second); g.ActiveCalls() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("call not ended")
		}
	}
	if n := logs.FilterMessage("caller's window size bounded").Len(); n != 1 {
		t.Errorf("%d log lines about bounded window sizes, want 1 per session", n)
	}
}

// TestHostileWindowSizeTelnetBackend: a telnet backend learns the
// caller's window bounded to MaxWindowDim, at the start and on a resize.
func TestHostileWindowSizeTelnetBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := telnetBBS(t)
	c := testConfig(t, bbsBackend(bbs))
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{Window: transport.WindowSize{Cols: 65535, Rows: 65535}}, "n", "pw")
	back := acceptBackendLine(t, ctx, bbs)
	waitWindow := func(want transport.WindowSize) {
		t.Helper()
		waitLineInfo(t, back, fmt.Sprintf("the window %+v", want), func(i transport.LineInfo) bool { return i.Window == want })
	}
	waitWindow(transport.WindowSize{Cols: MaxWindowDim, Rows: MaxWindowDim})
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 5000, Rows: 50}); err != nil {
		t.Fatal(err)
	}
	waitWindow(transport.WindowSize{Cols: MaxWindowDim, Rows: 50})
}

// TestHostileV42ClaimedName: the user name a V.42 caller claims in a
// failed Access Security handshake reaches the call record and the "call
// ended" line as a failed text login's does: quoted and escaped when it
// is not of user-ID form, "(unknown user)" when the verifier knows it
// names no account. Regression: the "call ended" line carried it raw
// (C1 controls, bidi overrides).
func TestHostileV42ClaimedName(t *testing.T) {
	testutil.CheckGoroutines(t)
	const hostile = "x\u009b2J\u202eevil"
	c := testConfig(t)
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 1, 64, 1
	for _, tc := range []struct {
		name, want string
		v          Verifier
	}{
		{"cannot-list", strconv.QuoteToASCII(hostile), &fakeVerifier{users: map[string]string{"vic": "pw"}}},
		{"knows-accounts", unknownUser, NewAuthVerifier(c, auth.NewUsers(), nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st, key := newV42Server(t, config.SecurityRequired, tc.v)
			core, logs := observer.New(zap.DebugLevel)
			s.log = zap.New(core)
			_, done, err := v42Dial(t, s, hostile, "pw", key.Public)
			if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonDenied {
				t.Fatalf("call: %v, want REJECT denied", err)
			}
			<-done
			if r := records(t, st); len(r) != 1 || r[0].User != tc.want {
				t.Fatalf("records %+v, want one with user %q", r, tc.want)
			}
			ended := logs.FilterMessage("call ended").All()
			if len(ended) != 1 {
				t.Fatalf("%d call ended lines", len(ended))
			}
			for _, fl := range ended[0].Context {
				if !isPlainASCII(fl.String) {
					t.Errorf("call ended: %s = %q is not plain printable ASCII", fl.Key, fl.String)
				}
				if fl.Key == "user" && fl.String != tc.want {
					t.Errorf("call ended: user = %q, want %q", fl.String, tc.want)
				}
			}
		})
	}
}

// TestHostileRefusedFreesSlotBeforeClose: a call refused before it
// reached a backend (here: too many password checks in progress from its
// address) gives its line slot back when the gateway hangs up, not once
// the caller's end closes too: a refused caller that keeps its
// connection open does not make the lines BUSY for everyone. Regression:
// the slot was held through the TCP line's close (up to 5 s waiting for
// the caller's FIN), so a few reconnecting callers from one address kept
// every line BUSY.
func TestHostileRefusedFreesSlotBeforeClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent, c.Lines.PerSource = 2, 0
	v := &blockingVerifier{throttle: auth.NewThrottle(auth.ThrottleConfig{MaxPendingPerSource: 1}), release: make(chan struct{})}
	defer close(v.release)
	g := startLoopback(t, c, v)
	login := func(conn net.Conn) {
		t.Helper()
		expect(t, conn, "login: ")
		if _, err := conn.Write([]byte("vic\r\n")); err != nil {
			t.Fatal(err)
		}
		expect(t, conn, "password: ")
		if _, err := conn.Write([]byte("pw\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	first := dialGateway(t, g)
	defer first.Close()
	login(first) // its check holds the one check allowed from 127.0.0.1
	for deadline := time.Now().Add(10 * time.Second); v.throttle.Pending("127.0.0.1") != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first caller's password check did not start")
		}
	}

	refused := dialGateway(t, g)
	defer refused.Close()
	refused.SetReadDeadline(time.Now().Add(20 * time.Second))
	login(refused)
	// Read up to the gateway's FIN, and keep this end open: the gateway's
	// close now waits for ours.
	if b, err := io.ReadAll(refused); err != nil || !strings.HasSuffix(string(b), msgThrottled) {
		t.Fatalf("second caller heard %q (%v), want %q at the end", b, err, msgThrottled)
	}
	third := dialGateway(t, g)
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(20 * time.Second))
	expect(t, third, "login: ") // a line is free: the refused caller's does not count
}
