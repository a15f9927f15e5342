package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport/pace"
)

func TestTextLoginToTCPBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	io.WriteString(line, "hello backend")
	expect(t, line, "hello backend")
	line.Close()
	<-done
	recs := records(t, st)
	if len(recs) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	r := recs[0]
	if r.User != "alice" || r.Result != store.ResultCompleted || r.Reason != "caller hung up" || r.BytesIn != 13 || r.BytesOut != 13 || r.Answer.IsZero() || r.Session == 0 || r.Mode != "text" || r.Backend != "echo" {
		t.Errorf("record: %+v", r)
	}
}

func TestWrongPasswordDenied(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	for i := 0; i < 3; i++ {
		login(t, line, "alice", "wrong")
	}
	out := readAll(line)
	if !strings.Contains(out, "access denied") || strings.Count(out, "Login incorrect") != 0 {
		t.Errorf("caller saw %q", out)
	}
	<-done
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Result != store.ResultDenied || recs[0].User != "alice" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestBackendDown(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t, config.Backend{Name: "gone", Type: config.BackendTCP, Address: "127.0.0.1:1"})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"bob": "pw"}})
	line, done := simCall(t, s)
	login(t, line, "bob", "pw")
	out := readAll(line)
	if !strings.Contains(out, `NO CARRIER (service "gone" is not available)`) {
		t.Errorf("caller saw %q", out)
	}
	<-done
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Result != store.ResultBackendDown || !strings.Contains(recs[0].Reason, "127.0.0.1:1") {
		t.Fatalf("records: %+v", recs)
	}
}

func TestDemoBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"demo": "demo"}})
	line, done := simCall(t, s)
	login(t, line, "demo", "demo")
	expect(t, line, "Choice: ")
	io.WriteString(line, "e\r")
	expect(t, line, "leaves.")
	io.WriteString(line, "hi there\r\n.\r\ng\r\n")
	out := readAll(line)
	if !strings.Contains(out, "echo: hi there") || !strings.Contains(out, "Goodbye, demo.") || !strings.Contains(out, "NO CARRIER (the service ended the session)") {
		t.Errorf("caller saw %q", out)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Reason != "backend closed" {
		t.Fatalf("records: %+v", r)
	}
}

// TestIdleTimeoutEndsSession: a bridged session in which nothing moves
// for [lines] idle_timeout is hung up with "NO CARRIER (idle timeout)"
// and recorded as completed with the reason "idle timeout". (The
// deadline logic itself runs on a fake clock in idle_test.go; here a
// short real timeout shows the wiring.)
func TestIdleTimeoutEndsSession(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.IdleTimeout.Duration = 300 * time.Millisecond
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	io.WriteString(line, "ping")
	expect(t, line, "ping")
	out := readAll(line)
	if !strings.HasSuffix(out, "\r\nNO CARRIER (idle timeout)\r\n") {
		t.Errorf("caller saw %q", out)
	}
	<-done
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Result != store.ResultCompleted || recs[0].Reason != "idle timeout" || recs[0].BytesIn != 4 {
		t.Fatalf("records: %+v", recs)
	}
}

// TestSessionTimeLimit: a listener's max_session (with its idle_timeout
// off) hangs up a session however busy it is.
func TestSessionTimeLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, func(c net.Conn) {
		// Talks without pause: the session is never idle.
		for {
			if _, err := c.Write([]byte("tick ")); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	c := testConfig(t, config.Backend{Name: "ticker", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.IdleTimeout.Duration = 50 * time.Millisecond
	c.Listeners[0].IdleTimeout = &config.Duration{}
	c.Listeners[0].MaxSession = &config.Duration{Duration: 400 * time.Millisecond}
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	out := readAll(line)
	if !strings.HasSuffix(out, "\r\nNO CARRIER (session time limit)\r\n") || !strings.Contains(out, "tick tick") {
		t.Errorf("caller saw %q", out)
	}
	<-done
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Result != store.ResultCompleted || recs[0].Reason != "session time limit" {
		t.Fatalf("records: %+v", recs)
	}
}

// TestIdleTimeoutCallerNotReading: a caller that logs in, has the backend
// fill its TCP window and then reads nothing is still hung up by
// idle_timeout, and recorded so. Before, the backend->caller copy stayed
// blocked in its Write to the caller after the backend was closed: the
// call (its line slot) never ended, nor did a Shutdown after it.
func TestIdleTimeoutCallerNotReading(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, floodHandler)
	c := testConfig(t, config.Backend{Name: "flood", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.IdleTimeout.Duration = 300 * time.Millisecond
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // a small window fills quickly
	}
	login(t, conn, "alice", "secret")
	// From here on the caller reads nothing.
	deadline := time.Now().Add(30 * time.Second)
	for g.ActiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle session of a caller that does not read was never hung up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs := waitRecords(t, g.Store, 1)
	if len(recs) != 1 || recs[0].Result != store.ResultCompleted || recs[0].Reason != "idle timeout" {
		t.Fatalf("records: %+v", recs)
	}
}

// TestIdleTimeoutV42CallerBusy: a V.42 caller that keeps its receiver
// busy (RNR) until idle_timeout is released with DISC once the last words
// cannot reach it: its link ends in order and reads the end, not a line
// failure (adversarial trial: the line was hung up under the link).
func TestIdleTimeoutV42CallerBusy(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, floodHandler)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "flood", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s.st.Load().cfg.Lines.IdleTimeout.Duration = 300 * time.Millisecond
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	// The caller reads nothing until the gateway has hung up.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the idle session of a busy V.42 caller was never hung up")
	}
	if _, err := io.Copy(io.Discard, link); err != nil {
		t.Errorf("caller's link after the hang-up: %v, want a release (DISC)", err)
	}
	if st := link.Stats(); st.RNRSent == 0 {
		t.Errorf("the caller's receiver never went busy: %+v", st)
	}
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Result != store.ResultCompleted || recs[0].Reason != "idle timeout" {
		t.Fatalf("records: %+v", recs)
	}
}

// stuckWriter is a caller's byte stream that takes nothing: a V.42 link
// whose peer keeps its receiver busy (RNR) while a window's worth is
// queued. A link has no write deadline; only hanging up the line under it
// ends the Write.
type stuckWriter struct{ line *stalledCaller }

func (w stuckWriter) Write(p []byte) (int, error) { return w.line.Write(p) }

// TestHangupCallerNotTakingLastWords: the gateway's last words to a
// caller whose stream takes nothing (no deadline helps: the V.42 case)
// give up messageWriteTimeout later and the hang-up goes on. Before, the
// call waited in that Write for as long as the caller's receiver stayed
// busy: its record was never written, Shutdown never returned.
func TestHangupCallerNotTakingLastWords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := newStalledCaller()
		closed := 0
		c := &call{s: &Server{now: time.Now, stopCtx: context.Background()}, line: line, w: stuckWriter{line}, closer: func() error { closed++; return nil }}
		start := time.Now()
		c.hangup(msgShutdown)
		if d := time.Since(start); d != messageWriteTimeout {
			t.Errorf("hang-up took %v, want %v", d, messageWriteTimeout)
		}
		if closed != 1 || line.closes.Load() == 0 {
			t.Errorf("link closed %d times, line %d times", closed, line.closes.Load())
		}
	})
}

// TestIdleTimeoutSlowLineBulk: on a paced listener (line_rate) one Write
// of backend output can take longer than idle_timeout to reach the
// caller; octets still move all that time, so the session is not idle and
// the output arrives whole. Before, only reads counted as activity: the
// watch ended the session in the middle of the write and the caller lost
// the rest.
func TestIdleTimeoutSlowLineBulk(t *testing.T) {
	testutil.CheckGoroutines(t)
	const size = 4096 // 4.3 s at 9,600 bit/s
	want := strings.Repeat("x", size)
	addr := tcpBackendServer(t, func(c net.Conn) {
		io.WriteString(c, want)
		io.Copy(io.Discard, c) // holds the session open
	})
	c := testConfig(t, config.Backend{Name: "bulk", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.IdleTimeout.Duration = time.Second
	c.Listeners[0].LineRate = 9600
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	out := readAll(line)
	if !strings.Contains(out, want) || !strings.HasSuffix(out, "\r\nNO CARRIER (idle timeout)\r\n") {
		t.Errorf("caller got %d x of %d, then %q", strings.Count(out, "x"), size, out[max(0, len(out)-40):])
	}
	<-done
	if recs := records(t, st); len(recs) != 1 || recs[0].Reason != "idle timeout" || recs[0].BytesOut != size {
		t.Fatalf("records: %+v", recs)
	}
}

// TestLineRatePacesUploads: a listener's line_rate caps what the caller
// sends as well as what it receives, as a modem's line does (operator
// trial: 200,000 octets went up at 730 kbit/s on a 57,600 bit/s line).
func TestLineRatePacesUploads(t *testing.T) {
	testutil.CheckGoroutines(t)
	const size, rate = 1200, 9600 // 1.25 s of 10-bit characters
	got := make(chan time.Time, 1)
	addr := tcpBackendServer(t, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, size)); err == nil {
			got <- time.Now()
		}
		io.Copy(io.Discard, c)
	})
	c := testConfig(t, config.Backend{Name: "sink", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Listeners[0].LineRate = rate
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	conn := dialGateway(t, g)
	defer conn.Close()
	login(t, conn, "alice", "secret")
	start := time.Now()
	if _, err := conn.Write(bytes.Repeat([]byte("u"), size)); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		// A lower bound only: pacing never lets more through, however
		// slow the machine. The burst (20 ms) may go at once.
		burst := pace.DefaultBurst(rate, 10)
		if d, least := at.Sub(start), time.Duration((size-burst)*10)*time.Second/rate; d < least {
			t.Errorf("%d octets reached the backend in %v at %d bit/s; the line takes at least %v", size, d, rate, least)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the upload never reached the backend")
	}
}

// TestPacedHangUpMidTransfer: the operator hangs up a text call on a
// paced line while the backend's output streams to the caller: the
// caller hears why. Regression (BBS trial): the copy's write of 32 KiB,
// 34 s at 9,600 bit/s, held the line past the last words' time, which
// ran out, and the caller was cut off without a word.
func TestPacedHangUpMidTransfer(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, func(c net.Conn) {
		for _, err := c.Write(bytes.Repeat([]byte("download "), 4096)); err == nil; _, err = c.Write(bytes.Repeat([]byte("download "), 4096)) {
		}
	})
	c := testConfig(t, config.Backend{Name: "src", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Listeners[0].LineRate = 9600
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	conn := dialGateway(t, g)
	defer conn.Close()
	login(t, conn, "alice", "secret")
	expect(t, conn, "download download ")
	// Past the copy's first small read (512 octets): its writes are
	// now 32 KiB.
	if _, err := io.ReadFull(conn, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	calls := g.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	if err := g.HangUp(calls[0].Session); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	rest, _ := io.ReadAll(conn)
	if !bytes.HasSuffix(rest, []byte(msgOperator)) {
		t.Errorf("the caller's last octets: %q, want %q", rest[max(0, len(rest)-80):], msgOperator)
	}
	if r := waitRecords(t, g.Store, 1); r[0].Reason != "hung up by the operator" {
		t.Errorf("record %+v", r[0])
	}
}

// TestLastWordsTimeoutSlowLine: on a paced line the bound on the last
// words grows with the time they (and over V.42 two frames ahead of
// them) take at the line rate; unpaced it is messageWriteTimeout.
func TestLastWordsTimeoutSlowLine(t *testing.T) {
	c := &call{}
	if d := c.lastWordsTimeout(len(msgIdle), nil); d != messageWriteTimeout {
		t.Errorf("unpaced: %v", d)
	}
	c.lc.LineRate = 300 // 30 characters per second
	if d := c.lastWordsTimeout(30, nil); d != messageWriteTimeout+time.Second {
		t.Errorf("text at 300 bit/s: %v", d)
	}
	// Two windows of frames, and two more (V.42's default window: 15),
	// with a sealed frame's overhead.
	c.lc.LineRate = 1200 // 120 characters per second
	stats := func() *store.LAPMStats { return &store.LAPMStats{N401: 16} }
	if d := c.lastWordsTimeout(30, stats); d != messageWriteTimeout+time.Duration(30+32*81)*time.Second/120 {
		t.Errorf("V.42 at 1,200 bit/s: %v", d)
	}
	c.lc.LineRate = 33600
	stats = func() *store.LAPMStats { return &store.LAPMStats{N401: 256, K: 7} }
	if d := c.lastWordsTimeout(30, stats); d != messageWriteTimeout+time.Duration(30+16*336)*10*time.Second/33600 {
		t.Errorf("V.42 at 33,600 bit/s, window 7: %v", d)
	}
	c.lc.LineRate = 300
	stats = func() *store.LAPMStats { return &store.LAPMStats{N401: 4096, K: 127} }
	if d := c.lastWordsTimeout(30, stats); d != maxLastWords {
		t.Errorf("a large window at 300 bit/s: %v, want the cap %v", d, maxLastWords)
	}
}

// TestCallerEndReason: a V.42 caller's release (DISC) that ends a write
// is recorded as a hang-up (trial: gateway modem dropping DTR during a
// flood was recorded "caller line failed: ... peer disconnected"), and so
// is the line's end (EOF) under a link failure; a failed link and other
// line errors are not.
func TestCallerEndReason(t *testing.T) {
	released := fmt.Errorf("lapm: write: %w: DISC received in state connected", lapm.ErrPeerDisconnected)
	failed := fmt.Errorf("lapm: write: %w: %w", lapm.ErrPeerDisconnected, lapm.ErrLinkFailure)
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "caller hung up"},
		{released, "caller hung up (" + released.Error() + ")"},
		{failed, "caller line failed: " + failed.Error()},
		{errors.New("write: broken pipe"), "caller line failed: write: broken pipe"},
		// The caller's FIN during a write (the adversarial trial's
		// half-close, recorded as a failure 3 times in 5).
		{fmt.Errorf("lapm: write: %w: line: %w", lapm.ErrLinkFailure, io.EOF), "caller hung up (line closed)"},
		// tcpser resets the connection after +++ ATH during output.
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "caller hung up (connection reset)"},
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, "caller hung up (connection reset)"},
	} {
		if got := callerEndReason(c.err); got != c.want {
			t.Errorf("callerEndReason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestNoTextMessage: a caller refused the text login is told the way in
// that is left: TLS where the listener takes the text login encrypted
// (TLS files, wss, a trusted proxy in front), V.42 where it has it, and
// that there is none where it has neither (a listener that gateway check
// warns about). A plain listener is never said to have TLS. Every
// message keeps the words gateway dial reads as a refusal.
func TestNoTextMessage(t *testing.T) {
	const tlsAsk = "call it with TLS"
	for _, c := range []struct {
		addr    string
		tls     bool // TLS files
		proxies []string
		v42     config.V42Mode
		text    config.TextLogin
		want    string
	}{
		{"telnet://0.0.0.0:23", false, nil, config.V42Detect, config.TextLoginOff, "this line does not offer a text login; use a V.42 Access Security caller"},
		{"telnet://0.0.0.0:992", true, nil, config.V42LAPM, config.TextLoginSecure, "this line does not offer a text login unencrypted; call it with TLS: telnets://, tls:// or wss://, or a V.42 Access Security caller"},
		{"wss://0.0.0.0:443/line", false, nil, config.V42Off, config.TextLoginSecure, "this line does not offer a text login unencrypted; call it with TLS: telnets://, tls:// or wss://)"},
		{"ws://127.0.0.1:8080/line", false, []string{"127.0.0.1"}, config.V42Off, config.TextLoginSecure, "this line does not offer a text login unencrypted; call it with TLS: telnets://, tls:// or wss://)"},
		{"telnet://0.0.0.0:23", false, nil, config.V42Detect, config.TextLoginSecure, "this line does not offer a text login unencrypted, and it has no TLS; use a V.42 Access Security caller"},
		{"tcp://0.0.0.0:2323", false, nil, config.V42Off, config.TextLoginSecure, "this line does not offer a text login, nor V.42: it takes no calls"},
		{"telnet://0.0.0.0:23", false, nil, config.V42Off, config.TextLoginOff, "this line does not offer a text login, nor V.42: it takes no calls"},
	} {
		lc := config.Listener{Address: c.addr, V42: c.v42, TextLogin: c.text, TrustedProxies: c.proxies}
		if c.tls {
			lc.TLSCert, lc.TLSKey = "cert.pem", "key.pem"
		}
		got := noTextMessage(lc)
		if !strings.Contains(got, c.want) || !strings.HasPrefix(got, "\r\nNO CARRIER (this line does not offer a text login") ||
			strings.Contains(got, tlsAsk) != (lc.Secure() || len(c.proxies) > 0) {
			t.Errorf("%s, v42 %s, text_login %s: %q, want %q", c.addr, c.v42, c.text, got, c.want)
		}
	}
}
