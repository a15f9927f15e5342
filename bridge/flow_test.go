package bridge

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
	"github.com/dialgate/dialgate/transport/proxyproto"
	"github.com/dialgate/dialgate/transport/ws"
)

func TestBusyWhenLinesFull(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Lines.MaxConcurrent = 1
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"a": "b"}})
	first, done1 := simCall(t, s)
	expect(t, first, "login: ")
	second, done2 := simCall(t, s)
	if out := readAll(second); out != "BUSY\r\n" {
		t.Errorf("second caller heard %q", out)
	}
	<-done2
	first.Close()
	<-done1
	recs := records(t, st)
	if len(recs) != 2 || recs[0].Result != store.ResultBusy || recs[0].Reason != string(busyFull) || recs[1].Result != store.ResultAbandoned {
		t.Fatalf("records: %+v", recs)
	}
	if recs[0].Session == recs[1].Session {
		t.Errorf("session numbers repeat: %+v", recs)
	}
}

func TestMaintenanceAndReload(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"a": "b"}})
	c2 := *c
	c2.Lines.Maintenance = true
	if err := s.Reload(&c2, nil); err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	if out := readAll(line); out != "BUSY\r\n" {
		t.Errorf("caller heard %q", out)
	}
	<-done
	// A new backend and a new verifier apply to the next call.
	addr := tcpBackendServer(t, func(c net.Conn) { io.WriteString(c, "new backend here") })
	c3 := *c
	c3.Backends = append([]config.Backend{}, config.Backend{Name: "nb", Type: config.BackendTCP, Address: config.HostPort(addr), ConnectTimeout: config.Duration{Duration: time.Second}})
	c3.Listeners = []config.Listener{c.Listeners[0]}
	c3.Listeners[0].Backend = "nb"
	if err := s.Reload(&c3, &fakeVerifier{users: map[string]string{"newuser": "pw"}}); err != nil {
		t.Fatal(err)
	}
	line, done = simCall(t, s)
	login(t, line, "newuser", "pw")
	out := readAll(line)
	if !strings.Contains(out, "new backend here") || !strings.Contains(out, "NO CARRIER (the service ended the session)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	if r := records(t, st); len(r) != 2 || r[0].Reason != string(busyMaintenance) || r[1].Backend != "nb" {
		t.Fatalf("records: %+v", r)
	}
}

func TestLoginTimeout(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Security.HandshakeDeadline.Duration = 200 * time.Millisecond
	s, st := newTestServer(t, c, &fakeVerifier{})
	line, done := simCall(t, s)
	if out := readAll(line); !strings.Contains(out, "NO CARRIER (login timed out)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != "login timed out" {
		t.Fatalf("records: %+v", r)
	}
}

// TestTextLoginAfterV42Detection: on a listener with v42 = "off" a V.42
// caller sends its detection pattern (DC1 0x11/0x91, repeated) before
// its user types; the user name is "bob", not "\x91...bob", in the
// login and in the call record.
func TestTextLoginAfterV42Detection(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"bob": "pw"}})
	line, done := simCall(t, s)
	if _, err := io.WriteString(line, strings.Repeat("\x11\x91", 12)); err != nil {
		t.Fatal(err)
	}
	expect(t, line, "login: ")
	io.WriteString(line, "bob\r\n")
	if heard := expect(t, line, "password: "); strings.Contains(heard, "\x11") || strings.Contains(heard, "\x91") {
		t.Errorf("echo carries the detection pattern: %q", heard)
	}
	io.WriteString(line, "pw\r\n")
	expect(t, line, "Choice: ")
	io.WriteString(line, "g\r")
	expect(t, line, "Goodbye, bob.")
	line.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].User != "bob" || r[0].Result != store.ResultCompleted {
		t.Fatalf("records: %+v", r)
	}
}

func TestThrottledLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{busy: true})
	line, done := simCall(t, s)
	login(t, line, "x", "y")
	if out := readAll(line); !strings.Contains(out, "try again later") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultThrottled {
		t.Fatalf("records: %+v", r)
	}
}

func TestCallbackUserNotBridgedWithoutService(t *testing.T) {
	testutil.CheckGoroutines(t)
	v := &fakeVerifier{users: map[string]string{"cb": "pw"}, accounts: map[string]Account{"cb": {Callback: "telnet://127.0.0.1:9"}}}
	s, st := newTestServer(t, testConfig(t), v)
	line, done := simCall(t, s)
	login(t, line, "cb", "pw")
	if out := readAll(line); !strings.Contains(out, "needs a callback") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultRefused {
		t.Fatalf("records: %+v", r)
	}
}

func TestCallbackHandedToService(t *testing.T) {
	testutil.CheckGoroutines(t)
	v := &fakeVerifier{users: map[string]string{"cb": "pw"}, accounts: map[string]Account{"cb": {Callback: "telnet://127.0.0.1:9"}}}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := make(chan CallbackRequest, 1)
	s, err := New(Options{Config: testConfig(t), Store: st, Verifier: v, Callback: func(_ context.Context, r CallbackRequest) (func(), error) {
		got <- r
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "cb", "pw")
	if out := readAll(line); !strings.Contains(out, "called back") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	r := <-got
	if r.Account.Callback != "telnet://127.0.0.1:9" || r.Mode != "text" || r.Session == 0 {
		t.Errorf("request: %+v", r)
	}
	if rec := records(t, st); len(rec) != 1 || rec[0].Result != store.ResultCallback {
		t.Fatalf("records: %+v", rec)
	}
}

// typeAtLogin calls a test server (alice, password pw), sends typed at
// its login prompt and returns what the caller heard until the hang-up
// and the call's records.
func typeAtLogin(t *testing.T, typed string) (heard string, recs []store.CallRecord) {
	t.Helper()
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"alice": "pw"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	io.WriteString(line, typed)
	heard = readAll(line)
	<-done
	return heard, records(t, st)
}

// TestLoginCancelled: Ctrl-C or Ctrl-D at the login or password prompt
// hangs up with words, so the caller (a telnet user who pressed Ctrl-C)
// knows why, and the record says so.
func TestLoginCancelled(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, typed := range []string{"ali\x03", "alice\r\n\x04"} {
		out, r := typeAtLogin(t, typed)
		if !strings.HasSuffix(out, "\r\nNO CARRIER (login cancelled)\r\n") {
			t.Errorf("%q: caller saw %q", typed, out)
		}
		if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != "caller cancelled the login (Ctrl-C or Ctrl-D)" {
			t.Errorf("%q: records %+v", typed, r)
		}
	}
}

// TestLoginTLSClient: a TLS client on a listener without TLS (its
// ClientHello at login:, whose 0x03 used to read as Ctrl-C, recorded
// "caller cancelled the login") is recorded as what it is and hung up
// without words it could not read.
func TestLoginTLSClient(t *testing.T) {
	testutil.CheckGoroutines(t)
	out, r := typeAtLogin(t, string([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}))
	if strings.Contains(out, "NO CARRIER") {
		t.Errorf("the TLS client was sent %q", out)
	}
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != "caller sent a TLS handshake: a TLS client on a listener without TLS" {
		t.Errorf("records %+v", r)
	}
}

// TestLoginHTTPClient: an HTTP request at login: (a browser, curl, a
// WebSocket client pointed at a telnet or tcp listener) is hung up with
// words that say what the line is, recorded as what it is, and not
// checked as a login. New-user trial: its request line was a failed
// login ("unknown user", the next header line its password), which
// counted toward the address's login back-off.
func TestLoginHTTPClient(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, req := range []string{"GET / HTTP/1.1\r\nHost: bbs:2323\r\n\r\n", "GET /line HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", "HEAD / HTTP/1.0\n\n"} {
		out, r := typeAtLogin(t, req)
		if !strings.HasSuffix(out, msgHTTPClient) || strings.Contains(out, "password:") {
			t.Errorf("%q: the caller heard %q", req, out)
		}
		if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].User != "" ||
			r[0].Reason != "caller sent an HTTP request: a web client on a telnet or tcp listener" {
			t.Errorf("%q: records %+v", req, r)
		}
	}
	// A user whose name merely starts so is a login as any.
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"alice": "pw"}})
	line, done := simCall(t, s)
	login(t, line, "GET", "pw")
	expect(t, line, "Login incorrect.")
	line.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultDenied {
		t.Errorf("a user named GET: records %+v", r)
	}
}

// TestPTYBackend runs a shell script on a pty: environment, window size,
// typeahead after the password, and the exit reaching the caller.
func TestPTYBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`stty -echo; echo "user=$DIALGATE_USER session=$DIALGATE_SESSION term=$TERM size=$(stty size)"; read x; echo "got:$x"`}})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"carol": "pw"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	// The password and the first line for the program in one write.
	io.WriteString(line, "carol\r\npw\r\nhello pty\r")
	out := readAll(line)
	<-done
	recs := records(t, st)
	want := fmt.Sprintf("user=carol session=%d term=vt100 size=24 80", recs[0].Session)
	if !strings.Contains(out, want) || !strings.Contains(out, "got:hello pty") || !strings.Contains(out, "NO CARRIER (the service ended the session)") {
		t.Errorf("caller saw %q, want %q", out, want)
	}
	if recs[0].Result != store.ResultCompleted || recs[0].Reason != "backend closed" {
		t.Errorf("record: %+v", recs[0])
	}
}

// TestPTYProgramFailure: a program that ends with a non-zero status or
// by a signal is recorded so ("backend closed (program exit status 3)"),
// one that exits with 0 as "backend closed". One that crashed or was
// killed (a signal the gateway did not send, not an interrupt) is "the
// service failed" to the caller (operator trial: a door killed by SIGKILL
// was "the service ended the session", and gateway dial exited 0).
func TestPTYProgramFailure(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	const ended, failed = "NO CARRIER (the service ended the session)", "NO CARRIER (the service failed)"
	for _, c := range []struct{ script, reason, heard string }{
		{"echo door; exit 3", "backend closed (program exit status 3)", ended},
		{"echo door; kill -SEGV $$", "backend closed (program signal: segmentation fault)", failed},
		{"echo door; kill -KILL $$", "backend closed (program signal: killed)", failed},
		{"echo door; kill -INT $$", "backend closed (program signal: interrupt)", ended},
		{"echo door; kill -TERM $$", "backend closed (program signal: terminated)", ended},
		{"echo door", "backend closed", ended},
	} {
		cfg := testConfig(t, config.Backend{Name: "door", Type: config.BackendPTY, Command: []string{sh, "-c", c.script}})
		s, st := newTestServer(t, cfg, &fakeVerifier{users: map[string]string{"d": "pw"}})
		line, done := simCall(t, s)
		login(t, line, "d", "pw")
		out := readAll(line)
		<-done
		if !strings.Contains(out, c.heard) {
			t.Errorf("%q: caller saw %q, want %q", c.script, out, c.heard)
		}
		if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultCompleted || r[0].Reason != c.reason {
			t.Errorf("%q: records %+v, want reason %q", c.script, r, c.reason)
		}
	}
}

// TestPTYHangupKillsProcessGroup: the caller hangs up while the program
// and a child of it run; both are gone afterwards.
func TestPTYHangupKillsProcessGroup(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	pidFile := filepath.Join(t.TempDir(), "pids")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`trap '' HUP; sleep 300 & echo $$ $! > ` + pidFile + `; echo started; wait`}})
	s, _ := newTestServer(t, c, &fakeVerifier{users: map[string]string{"d": "pw"}})
	line, done := simCall(t, s)
	login(t, line, "d", "pw")
	expect(t, line, "started")
	line.Close()
	<-done
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		fmt.Sscan(f, &pid)
		// The group's SIGKILL is sent when the call ends; a child of
		// the program (reparented) may not have run since to die (CI
		// under load: the sleep still in state R). Gone or a zombie
		// within a few seconds, else it was not killed.
		var st []byte
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			st, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || strings.Contains(string(st), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("process %d still running after hang-up: %s", pid, st)
				break
			}
		}
	}
}

// TestPTYHangupAfterUpload: a caller that sends its last octets and
// hangs up at once (an upload's end) has them all reach a pty program
// that reads slowly: the hang-up waits while the terminal's input queue
// drains. Regression (file-transfer trial): SIGHUP went at once and the
// program lost the tail still queued, while the record counted it.
func TestPTYHangupAfterUpload(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the input queue is read with Linux's TIOCGPTN")
	}
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	testutil.NeedBinary(t, "dd")
	out := filepath.Join(t.TempDir(), "upload")
	c := testConfig(t, config.Backend{Name: "rz", Type: config.BackendPTY, Command: []string{sh, "-c",
		`stty raw -echo; echo ready; exec dd of=` + out + ` bs=1 status=none`}})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"u": "pw"}})
	line, done := simCall(t, s)
	login(t, line, "u", "pw")
	expect(t, line, "ready")
	data := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 4096) // 104 KiB
	go func() {
		line.Write(data)
		line.Close()
	}()
	<-done
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the program read %d of %d octets", len(got), len(data))
	}
	if r := records(t, st); len(r) != 1 || r[0].BytesIn != int64(len(data)) || r[0].Reason != "caller hung up" {
		t.Errorf("records %+v", r)
	}
}

// TestPTYHangupWhileInputBlocked: a program that reads none of its
// input (`sleep`), a caller that sends more than the terminal's input
// queue holds (a big paste), and then the caller hangs up, or the
// operator hangs the call up: the call ends, with its record. Regression
// (browser trial): the pump's write to the pty master blocked for ever
// (a blocking descriptor, which closing could not interrupt), and the
// call held its line, kept the gateway from stopping and was never
// recorded.
func TestPTYHangupWhileInputBlocked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pty master is on Go's poller on Linux only (backend_pty_linux.go)")
	}
	sh := testutil.NeedBinary(t, "sh")
	for _, c := range []struct {
		name, reason string
		hangUp       func(g *Gateway, conn net.Conn, session uint64)
	}{
		// A reset: a FIN alone is a caller that may still want its
		// upload delivered, given halfCloseGrace (30 s).
		{"caller", "caller hung up", func(_ *Gateway, conn net.Conn, _ uint64) {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}},
		{"operator", "hung up by the operator", func(g *Gateway, _ net.Conn, session uint64) {
			if err := g.HangUp(session); err != nil {
				t.Error(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			cfg := testConfig(t, config.Backend{Name: "sleep", Type: config.BackendPTY, Command: []string{sh, "-c",
				`stty raw -echo; echo ready; exec sleep 600`}})
			g := startLoopback(t, cfg, &fakeVerifier{users: map[string]string{"u": "pw"}})
			conn := dialGateway(t, g)
			defer conn.Close()
			login(t, conn, "u", "pw")
			expect(t, conn, "ready")
			go conn.Write(bytes.Repeat([]byte("z"), 4<<20)) // blocks too, behind the program
			// Until the gateway's write to the pty blocks (the terminal
			// holds some KiB): the count stops growing.
			var last int64
			var calls []CallInfo
			for deadline, still := time.Now().Add(10*time.Second), 0; still < 10; time.Sleep(50 * time.Millisecond) {
				calls = g.Calls()
				if len(calls) != 1 || time.Now().After(deadline) {
					t.Fatalf("the paste did not stop at the backend: %+v", calls)
				}
				if n := calls[0].BytesIn; n > 0 && n == last {
					still++
				} else {
					last, still = n, 0
				}
			}
			c.hangUp(g, conn, calls[0].Session)
			for deadline := time.Now().Add(20 * time.Second); len(g.Calls()) > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the call did not end")
				}
			}
			// The record follows the call's leaving the list.
			if r := waitRecords(t, g.Store, 1); len(r) != 1 || r[0].Reason != c.reason {
				t.Errorf("records %+v, want reason %q", r, c.reason)
			}
		})
	}
}

// TestProxyProtocolV2 checks the header a PROXY-enabled TCP backend sees.
func TestProxyProtocolV2(t *testing.T) {
	hdr := appendProxyV2(nil, "192.0.2.7:4000", "198.51.100.1:2323")
	want := append(append([]byte{}, proxyV2Sig...), 0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, 0x0F, 0xA0, 0x09, 0x13)
	if !bytes.Equal(hdr, want) {
		t.Errorf("IPv4 header\n got %x\nwant %x", hdr, want)
	}
	hdr = appendProxyV2(nil, "[2001:db8::1]:5", "[2001:db8::2]:6")
	if len(hdr) != 16+36 || hdr[13] != 0x21 || binary.BigEndian.Uint16(hdr[14:]) != 36 {
		t.Errorf("IPv6 header %x", hdr)
	}
	if hdr := appendProxyV2(nil, "sim/a", "sim/b"); !bytes.Equal(hdr[12:], []byte{0x20, 0, 0, 0}) {
		t.Errorf("LOCAL header %x", hdr)
	}
	// An address netip reads but that is no host:port (a bracket in
	// its zone; FuzzProxyV2): LOCAL, as for any other.
	if hdr := appendProxyV2(nil, "[::10]:0", "[::%]]:0"); !bytes.Equal(hdr[12:], []byte{0x20, 0, 0, 0}) {
		t.Errorf("zone with a bracket: header %x, want LOCAL", hdr)
	}
	// A source no caller has: LOCAL, not a header the gateway's own
	// listeners refuse (FuzzProxyV2: [::]:0 went as a PROXY header).
	for _, src := range []string{"[::]:0", "0.0.0.0:1", "[ff02::1]:5", "255.255.255.255:7", "[::ffff:224.0.0.1]:9"} {
		hdr := appendProxyV2(nil, src, "127.0.0.1:2323")
		if !bytes.Equal(hdr[12:], []byte{0x20, 0, 0, 0}) {
			t.Errorf("source %s: header %x, want LOCAL", src, hdr)
		}
		if h, err := proxyproto.Read(bytes.NewReader(hdr)); err != nil || !h.Local {
			t.Errorf("source %s: proxyproto.Read: %+v, %v", src, h, err)
		}
	}
}

// TestProxyProtocolToBackend: a real TCP backend receives the header
// before the caller's octets.
func TestProxyProtocolToBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := make(chan []byte, 1)
	addr := tcpBackendServer(t, func(c net.Conn) {
		b := make([]byte, 16+2)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.ReadFull(c, b)
		got <- b
	})
	c := testConfig(t, config.Backend{Name: "p", Type: config.BackendTCP, Address: config.HostPort(addr), ProxyProtocol: true})
	s, _ := newTestServer(t, c, &fakeVerifier{users: map[string]string{"e": "pw"}})
	line, done := simCall(t, s)
	login(t, line, "e", "pw")
	io.WriteString(line, "hi")
	b := <-got
	line.Close()
	<-done
	// In-memory lines have no IP addresses: LOCAL, then the data.
	if !bytes.Equal(b[:12], proxyV2Sig) || b[12] != 0x20 || string(b[16:18]) != "hi" {
		t.Errorf("backend got %x", b)
	}
}

// startLoopback starts a gateway with one raw TCP listener on a free
// loopback port.
func startLoopback(t testing.TB, c *config.Config, v Verifier) *Gateway {
	t.Helper()
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "tcp://127.0.0.1:0"
	g, err := Start(context.Background(), c, StartOptions{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(context.Background()) })
	return g
}

func dialGateway(t testing.TB, g *Gateway) net.Conn {
	t.Helper()
	_, addr, _ := strings.Cut(g.Addr("test"), "://") // tcp or telnet
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestBulkFromBackendThenClose: 64 MiB from a TCP backend, which then
// closes at once, reach the caller whole over a loopback TCP line (text
// path), followed by the closing message.
func TestBulkFromBackendThenClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	const size = 64 << 20
	seed := [32]byte{7}
	addr := tcpBackendServer(t, func(c net.Conn) {
		r := rand.NewChaCha8(seed)
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			r.Read(buf)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
		// Immediate close, with nothing read from the gateway.
	})
	c := testConfig(t, config.Backend{Name: "bulk", Type: config.BackendTCP, Address: config.HostPort(addr)})
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"f": "pw"}})
	conn := dialGateway(t, g)
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 1<<16)
	rw := struct {
		io.Reader
		io.Writer
	}{br, conn}
	login(t, rw, "f", "pw")
	// The gateway echoes the end of the password line.
	if crlf := make([]byte, 2); func() bool { io.ReadFull(br, crlf); return string(crlf) != "\r\n" }() {
		t.Fatal("no CR LF after the password")
	}
	want := sha256.New()
	r := rand.NewChaCha8(seed)
	io.CopyN(want, r, size)
	got := sha256.New()
	n, err := io.CopyN(got, br, size)
	if err != nil || n != size {
		t.Fatalf("read %d of %d octets: %v", n, size, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("64 MiB arrived corrupted")
	}
	tail, _ := io.ReadAll(br)
	if string(tail) != msgBackendEnd {
		t.Errorf("after the data: %q", tail)
	}
	conn.Close()
	g.Shutdown(context.Background())
	recs := records(t, g.Store)
	if len(recs) != 1 || recs[0].BytesOut != size || recs[0].Reason != "backend closed" {
		t.Fatalf("records: %+v", recs)
	}
}

// TestShutdownDrains: Shutdown waits for a call in progress; when the
// deadline passes, the caller is told and hung up, and the call recorded.
func TestShutdownDrains(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"g": "pw"}})
	conn := dialGateway(t, g)
	defer conn.Close()
	login(t, conn, "g", "pw")
	io.WriteString(conn, "ping")
	expect(t, conn, "ping")
	heard := make(chan string, 1)
	go func() {
		out := readAll(conn)
		conn.Close()
		heard <- out
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want deadline exceeded", err)
	}
	if out := <-heard; !strings.Contains(out, "NO CARRIER (the gateway is shutting down)") {
		t.Errorf("caller heard %q", out)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "tcp://")); err == nil {
		t.Error("gateway still answers after Shutdown")
	}
	recs, _ := store.ReadRecordsFile(g.Store.RecordsPath())
	if len(recs) != 1 || recs[0].Result != store.ResultShutdown {
		t.Fatalf("records: %+v", recs)
	}
}

// TestManyShortCalls makes 1,000 short calls (login, a few octets to the
// demo board, hang-up) and checks that no goroutine and no file
// descriptor is left over.
func TestManyShortCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	calls := 1000
	if testing.Short() {
		calls = 100
	}
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"h": "pw"}})
	fdsBefore := openFDs(t)
	for i := 0; i < calls; i++ {
		line, done := simCall(t, s)
		login(t, line, "h", "pw")
		expect(t, line, "Choice: ")
		io.WriteString(line, "g\r")
		if i%2 == 0 {
			readAll(line)
		}
		line.Close()
		<-done
	}
	if n := s.ActiveCalls(); n != 0 {
		t.Errorf("%d line slots still taken", n)
	}
	recs := records(t, st)
	if len(recs) != calls {
		t.Fatalf("%d records for %d calls", len(recs), calls)
	}
	if fds := openFDs(t); fds > fdsBefore+2 {
		t.Errorf("file descriptors: %d before, %d after %d calls", fdsBefore, fds, calls)
	}
}

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

var _ transport.Line // keep the import for helpers

// TestBridgeCallback: a callback handed back by the callback service is
// bridged to the user's backend and recorded under the original session.
func TestBridgeCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s, st := newTestServer(t, c, &fakeVerifier{})
	a, b := linesim.NewPair(linesim.Config{Seed: 5})
	done := make(chan error, 1)
	go func() {
		done <- s.BridgeCallback(CallbackSession{
			Request:  CallbackRequest{Session: 77, Account: Account{Name: "cb", Callback: "telnet://x:1"}, Listener: "test", Mode: "text"},
			Line:     b,
			Attempts: 2,
		})
	}()
	io.WriteString(a, "back again")
	expect(t, a, "back again")
	a.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := records(t, st)
	if len(recs) != 1 || recs[0].Session != 77 || recs[0].Mode != "callback" || recs[0].CallbackAttempts != 2 || recs[0].Backend != "echo" || recs[0].Result != store.ResultCompleted {
		t.Fatalf("records: %+v", recs)
	}
}

// TestWebSocketCaller: a WebSocket caller on a ws:// listener with V.42
// detection (a line without read deadlines) gets the text login, reaches
// a pty backend, and its resize message reaches the pty.
func TestWebSocketCaller(t *testing.T) {
	testutil.CheckGoroutines(t)
	sh := testutil.NeedBinary(t, "sh")
	c := testConfig(t, config.Backend{Name: "sh", Type: config.BackendPTY, Command: []string{sh, "-c",
		`stty -echo; echo ready; while read x; do [ "$x" = bye ] && exit; echo "size=$(stty size)"; done`}})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	c.Listeners[0].V42 = config.V42Detect
	key, err := auth.GenerateHostKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"w": "pw"}}, V42: &LAPMAnswerer{HostKey: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	login(t, line, "w", "pw")
	expect(t, line, "ready")
	if err := line.SendWindowSize(transport.WindowSize{Cols: 132, Rows: 50}); err != nil {
		t.Fatal(err)
	}
	// The resize travels beside the data: ask until the pty has it.
	chunks := make(chan string)
	go func() {
		defer close(chunks)
		buf := make([]byte, 4096)
		for {
			n, err := line.Read(buf)
			if n > 0 {
				chunks <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	var acc string
	for i := 0; !strings.Contains(acc, "size=50 132"); i++ {
		if i == 200 {
			t.Fatalf("the pty never saw the resize: %q", acc)
		}
		io.WriteString(line, "size?\r")
		select {
		case c, ok := <-chunks:
			if !ok {
				t.Fatalf("line ended: %q", acc)
			}
			acc += c
		case <-time.After(50 * time.Millisecond):
		}
	}
	io.WriteString(line, "bye\r")
	for c := range chunks {
		acc += c
	}
	if !strings.Contains(acc, "NO CARRIER") {
		t.Errorf("no NO CARRIER: %q", acc)
	}

	line.Close()
	g.Shutdown(context.Background())
	recs := records(t, g.Store)
	if len(recs) != 1 || recs[0].Line != "ws" || recs[0].Mode != "text" || recs[0].Result != store.ResultCompleted {
		t.Fatalf("records: %+v", recs)
	}
}

// TestCallerDataDeliveredAtHangUp: what the caller sends right before it
// hangs up reaches the backend whole, followed by end of input.
func TestCallerDataDeliveredAtHangUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	const size = 4 << 20
	got := make(chan int64, 1)
	addr := tcpBackendServer(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		got <- n
	})
	c := testConfig(t, config.Backend{Name: "sink", Type: config.BackendTCP, Address: config.HostPort(addr)})
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"s": "pw"}})
	conn := dialGateway(t, g)
	login(t, conn, "s", "pw")
	expect(t, conn, "\r\n") // the echoed end of the password line: read, so closing sends FIN, not RST
	if _, err := conn.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case n := <-got:
		if n != size {
			t.Fatalf("backend received %d of %d octets", n, size)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("backend never saw the end of input")
	}
	g.Shutdown(context.Background())
	if r := records(t, g.Store); len(r) != 1 || r[0].BytesIn != size || r[0].Reason != "caller hung up" {
		t.Fatalf("records: %+v", r)
	}
}

// TestManyShortCallsLoopback: 1,000 short calls over loopback TCP lines
// to a TCP backend; no goroutine, file descriptor or line slot is left.
func TestManyShortCallsLoopback(t *testing.T) {
	testutil.CheckGoroutines(t)
	calls := 1000
	if testing.Short() {
		calls = 100
	}
	addr := tcpBackendServer(t, func(c net.Conn) {
		io.WriteString(c, "hi\r\n")
		io.Copy(io.Discard, c)
	})
	c := testConfig(t, config.Backend{Name: "hi", Type: config.BackendTCP, Address: config.HostPort(addr)})
	// A call's slot is released a moment after its caller hangs up; on a
	// loaded machine a few may still be ending when the next call comes.
	// This test is about leaks, not BUSY.
	c.Lines.MaxConcurrent = 64
	fdsBefore := openFDs(t)
	g := startLoopback(t, c, &fakeVerifier{users: map[string]string{"l": "pw"}})
	for i := 0; i < calls; i++ {
		conn := dialGateway(t, g)
		login(t, conn, "l", "pw")
		expect(t, conn, "hi\r\n")
		conn.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); g.ActiveCalls() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still active", g.ActiveCalls())
		}
	}
	g.Shutdown(context.Background())
	if r := records(t, g.Store); len(r) != calls {
		t.Fatalf("%d records for %d calls", len(r), calls)
	}
	if fds := openFDs(t); fds > fdsBefore+2 {
		t.Errorf("file descriptors: %d before, %d after %d calls", fdsBefore, fds, calls)
	}
}
