//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// ptyExpect reads a terminal and waits for text (internal/testutil.Expecter).
type ptyExpect struct{ *testutil.Expecter }

func newPtyExpect(r io.Reader) *ptyExpect {
	return &ptyExpect{testutil.NewExpecter(r, 15*time.Second)}
}

func (e *ptyExpect) expect(t testing.TB, s string) string {
	t.Helper()
	return e.Expect(t, s)
}

// testBBS is a telnet BBS stand-in: a banner, then it echoes. It records
// what each caller sent and when each call ended.
type testBBS struct {
	ln    *tcp.Listener
	ended chan []byte // everything a caller sent, when the caller hung up
	chunk chan []byte // each chunk a caller sent, as it arrives (dropped when full)
	lines chan transport.Line
	wg    sync.WaitGroup
}

func startBBS(t *testing.T) *testBBS {
	t.Helper()
	ln, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBBS{ln: ln, ended: make(chan []byte, 10), chunk: make(chan []byte, 256), lines: make(chan transport.Line, 10)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			l, err := ln.AcceptLine(context.Background())
			if err != nil {
				return
			}
			b.lines <- l
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer l.Close()
				if _, err := l.Write([]byte("Welcome to the test BBS\r\n")); err != nil {
					return
				}
				var got []byte
				buf := make([]byte, 4096)
				for {
					n, err := l.Read(buf)
					got = append(got, buf[:n]...)
					if n > 0 {
						select {
						case b.chunk <- append([]byte(nil), buf[:n]...):
						default:
						}
						if _, werr := l.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				b.ended <- got
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// waitFor waits until the current call has sent s.
func (b *testBBS) waitFor(t *testing.T, s string) {
	t.Helper()
	var got []byte
	timeout := time.After(15 * time.Second)
	for !bytes.Contains(got, []byte(s)) {
		select {
		case c := <-b.chunk:
			got = append(got, c...)
		case <-timeout:
			t.Fatalf("BBS waiting for %q, got %q", s, got)
		}
	}
}

func (b *testBBS) addr() string { return strings.TrimPrefix(b.ln.Addr(), "telnet://") }

var modemSeq atomic.Int64

type modemUnderTest struct {
	log    *syncBuffer // everything the modem logged (debug level)
	link   string
	answer string
	cancel context.CancelFunc
	done   chan error
}

func startModemCmd(t *testing.T, f modemFlags) *modemUnderTest {
	t.Helper()
	dir := t.TempDir()
	// A name of its own: minicom locks devices by base name (LCK..name).
	f.link = filepath.Join(dir, fmt.Sprintf("ttyDG%d-%d", os.Getpid(), modemSeq.Add(1)))
	if f.profile == "" {
		f.profile = filepath.Join(dir, "profile.toml")
	}
	if f.baud == 0 {
		f.baud = 115200
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &modemUnderTest{link: f.link, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{}, 2)
	hooks := modemHooks{
		dteReady:  func(path, link string) { ready <- struct{}{} },
		answering: func(addr string) { m.answer = addr },
	}
	m.log = &syncBuffer{}
	var out zapcore.WriteSyncer = zapcore.AddSync(m.log)
	if os.Getenv("DIALGATE_MODEM_TEST_LOG") != "" {
		out = zapcore.NewMultiWriteSyncer(out, zapcore.AddSync(os.Stderr))
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), out, zapcore.DebugLevel))
	go func() { m.done <- modemMain(ctx, f, log, hooks) }()
	select {
	case <-ready:
	case err := <-m.done:
		t.Fatalf("modem: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("modem did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-m.done; err != nil {
			t.Errorf("modem: %v", err)
		}
	})
	return m
}

// openDTE opens the modem's pty the way a terminal program does, with an
// expecter reading everything the modem sends.
func openDTE(t *testing.T, path string) (*os.File, *ptyExpect) {
	t.Helper()
	f := openDTEFile(t, path)
	return f, newPtyExpect(f)
}

// openDTEFile opens the modem's pty for a test that reads it itself (or,
// as a DTE that stops reading, not at all).
func openDTEFile(t *testing.T, path string) *os.File {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), path)
}

func send(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// TestModemEndToEnd drives `gateway modem` through its pty: AT commands,
// ATDT to a telnet BBS on loopback, data both ways byte-exact, +++ and ATO,
// ATH, the BBS hanging up, DTR drop, and a call coming in that rings.
func TestModemEndToEnd(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := startBBS(t)
	book := filepath.Join(t.TempDir(), "phonebook.toml")
	if err := os.WriteFile(book, []byte("[[entry]]\nname = \"testbbs\"\nnumber = \"555-0100\"\naddress = \""+bbs.addr()+"\"\nmode = \"plain\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, answer: "telnet://127.0.0.1:0"})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()

	send(t, dte, "AT\r")
	exp.expect(t, "AT\r\r\nOK\r\n") // echo on (factory profile)
	send(t, dte, "ATE0 S12=10 X4\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATI0\r")
	exp.expect(t, "dialgate modem\r\n\r\nOK\r\n")

	// Dial by phonebook number.
	send(t, dte, "ATDT555-0100\r")
	exp.expect(t, "CONNECT 115200\r\n")
	exp.expect(t, "Welcome to the test BBS\r\n")
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i))
	}
	all = append(all, []byte("the end")...)
	send(t, dte, string(all))
	exp.expect(t, string(all))

	// +++ (guard 200 ms), ATO, +++, ATH.
	escape := func() {
		time.Sleep(400 * time.Millisecond)
		send(t, dte, "+++")
		exp.expect(t, "+++") // the BBS echoes the escape characters
		exp.expect(t, "\r\nOK\r\n")
	}
	escape()
	send(t, dte, "ATO\r")
	exp.expect(t, "CONNECT 115200\r\n")
	send(t, dte, "still here")
	exp.expect(t, "still here")
	escape()
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	if got := <-bbs.ended; !bytes.Contains(got, all) || !bytes.HasSuffix(got, []byte("+++")) {
		t.Fatalf("BBS received %q", got)
	}

	// The BBS hangs up: NO CARRIER, and the modem dials again (by address).
	send(t, dte, "ATDT"+bbs.addr()+"\r")
	exp.expect(t, "CONNECT 115200\r\n")
	exp.expect(t, "Welcome")
	<-bbs.lines // the first call's line
	l := <-bbs.lines
	l.Close()
	exp.expect(t, "NO CARRIER\r\n")
	<-bbs.ended

	// An unknown host: NO DIALTONE or NO ANSWER with the explanation.
	send(t, dte, "ATDT127.0.0.1:1\r")
	exp.expect(t, "connection refused)\r\n\r\nNO ANSWER\r\n")

	// DTR drop (the terminal program closes the port) hangs up.
	send(t, dte, "ATDTtestbbs\r")
	exp.expect(t, "Welcome")
	<-bbs.lines
	dte.Close()
	<-bbs.ended
	dte, exp = openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0\r")
	exp.expect(t, "OK\r\n")

	// An incoming call (the gateway's text-mode callback) rings; ATA.
	if m.answer == "" {
		t.Fatal("no answer address")
	}
	caller, err := tcp.Dial(context.Background(), strings.TrimPrefix(m.answer, "telnet://"), tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	exp.expect(t, "RING\r\n")
	send(t, dte, "ATA\r")
	exp.expect(t, "CONNECT 115200\r\n")
	if _, err := caller.Write([]byte("callback from the gateway")); err != nil {
		t.Fatal(err)
	}
	exp.expect(t, "callback from the gateway")
	send(t, dte, "hello gateway")
	got := make([]byte, 0, 16)
	buf := make([]byte, 64)
	for !bytes.Contains(got, []byte("hello gateway")) {
		n, err := caller.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("caller read %q: %v", got, err)
		}
	}
	caller.Close()
	exp.expect(t, "NO CARRIER\r\n")

	// &W persists the profile.
	send(t, dte, "ATS0=3&W\r")
	exp.expect(t, "OK\r\n")
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(m.link), "profile.toml")); err != nil || !strings.Contains(string(b), "S0 = 3") {
		t.Fatalf("profile file: %q %v", b, err)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(ents)
}

// TestModemPhonebookEdited: a number added to the phonebook while the
// modem runs is dialable at once, without a restart.
func TestModemPhonebookEdited(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := startBBS(t)
	book := filepath.Join(t.TempDir(), "phonebook.toml")
	entry := func(name, number string) string {
		return "[[entry]]\nname = \"" + name + "\"\nnumber = \"" + number + "\"\naddress = \"" + bbs.addr() + "\"\nmode = \"plain\"\n"
	}
	if err := os.WriteFile(book, []byte(entry("old", "555-0100")), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0X4\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATDT555-0199\r")
	exp.expect(t, "ERROR\r\n")

	// Written as an editor does (a new file renamed over the old one).
	tmp := book + ".new"
	if err := os.WriteFile(tmp, []byte(entry("old", "555-0100")+entry("new", "555-0199")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, book); err != nil {
		t.Fatal(err)
	}
	send(t, dte, "ATDT555-0199\r")
	exp.expect(t, "CONNECT 115200\r\n")
	exp.expect(t, "Welcome to the test BBS\r\n")
	l := <-bbs.lines
	l.Close()
	exp.expect(t, "NO CARRIER\r\n")
	<-bbs.ended
}

// TestModemHundredCalls: 100 calls to the BBS through the pty, hung up
// alternately by ATH and by the BBS disappearing mid-call; the emulator
// keeps answering and neither goroutines nor descriptors pile up.
func TestModemHundredCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs := startBBS(t)
	// A plain entry: auto mode would spend T400 on V.42 detection per call.
	book := filepath.Join(t.TempDir(), "phonebook.toml")
	if err := os.WriteFile(book, []byte("[[entry]]\nname = \"bbs\"\naddress = \""+bbs.addr()+"\"\nmode = \"plain\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0S12=0\r") // no guard time: +++ escapes at once
	exp.expect(t, "OK\r\n")
	var fds int
	for i := range 100 {
		send(t, dte, "ATDTbbs\r")
		exp.expect(t, "CONNECT 115200\r\n")
		exp.expect(t, "Welcome to the test BBS\r\n")
		l := <-bbs.lines
		if i%2 == 0 {
			send(t, dte, "+++")
			exp.expect(t, "OK\r\n")
			send(t, dte, "ATH\r")
			exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
		} else {
			l.Close()
			exp.expect(t, "NO CARRIER\r\n")
		}
		<-bbs.ended
		if i == 1 {
			fds = openFDs(t)
		}
	}
	// Hang-ups close lines in the background; give them a moment.
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > fds+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFDs(t); n > fds+2 {
		t.Fatalf("descriptors: %d after 2 calls, %d after 100", fds, n)
	}
}

// TestModemStdio runs the built binary with --stdio on pipes: AT commands
// on standard input, results on standard output, a call to the BBS, and
// the end of standard input ends the modem with status 0.
func TestModemStdio(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bbs := startBBS(t)
	cmd := exec.Command(gatewayBinary(t), "modem", "--stdio", "--profile", "", "--log-level", "error")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exp := newPtyExpect(stdout)
	io.WriteString(stdin, "ATE0\r")
	exp.expect(t, "OK\r\n")
	// By address alone: a user ID in the dial string asks for an Access
	// Security login, and a BBS without V.42 is then refused.
	io.WriteString(stdin, "ATDT"+bbs.addr()+"\r")
	exp.expect(t, "CONNECT 115200\r\n")
	exp.expect(t, "Welcome to the test BBS\r\n")
	io.WriteString(stdin, "over stdio")
	exp.expect(t, "over stdio")
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("gateway modem --stdio did not exit at the end of standard input")
	}
	<-bbs.ended
}

// TestModemDialsRawBBSAsTcpser: a BBS behind tcpser's listening port
// never negotiates and takes the call raw. Dialed as host:port (from the
// phonebook or typed), the modem decides as tcpser does (telnet only if
// the host's first octet is IAC) and every octet value passes as it is
// both ways; before, it spoke NVT and the BBS got 258 octets for 256
// (CR NUL, IAC IAC) and the DTE 255. An explicit telnet:// stays telnet.
func TestModemDialsRawBBSAsTcpser(t *testing.T) {
	testutil.CheckGoroutines(t)
	all := make([]byte, 0, 256)
	for i := range 256 {
		all = append(all, byte(i))
	}
	got := make(chan []byte, 3)
	addr := tcpServer(t, func(c net.Conn) {
		// The BBS speaks first, 8-bit, as tcpser passes its DTE's
		// output; then it keeps what the caller sends.
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write(append([]byte("RAW BBS\r\n"), all...))
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	})
	book := filepath.Join(t.TempDir(), "phonebook.toml")
	if err := os.WriteFile(book, []byte("[[entry]]\nname = \"c64\"\naddress = \""+addr+"\"\nmode = \"plain\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0 S12=10\r") // escape guard time 200 ms
	exp.expect(t, "OK\r\n")

	call := func(dial string) []byte {
		t.Helper()
		send(t, dte, "ATDT"+dial+"\r")
		exp.expect(t, "CONNECT 115200\r\n")
		exp.expect(t, "RAW BBS\r\n"+string(all))
		send(t, dte, string(all)+"the end")
		time.Sleep(400 * time.Millisecond) // the guard time before +++
		send(t, dte, "+++")
		exp.expect(t, "OK\r\n")
		send(t, dte, "ATH\r")
		exp.expect(t, "OK\r\n")
		return <-got
	}
	if b := call("c64"); !bytes.Equal(b, append(all, "the end+++"...)) {
		t.Errorf("phonebook entry host:port: the BBS got %d octets: % x", len(b), b)
	}
	send(t, dte, "AT\\N0\r")
	exp.expect(t, "OK\r\n")
	if b := call(addr); !bytes.Equal(b, append(all, "the end+++"...)) {
		t.Errorf("ATDT host:port: the BBS got %d octets: % x", len(b), b)
	}
	// telnet:// said outright: NVT, as a telnet client speaks.
	send(t, dte, "ATDTtelnet://"+addr+"\r")
	exp.expect(t, "CONNECT 115200\r\n")
	exp.expect(t, "RAW BBS\r\n")
	send(t, dte, "\r")
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATH\r")
	exp.expect(t, "OK\r\n")
	if b := <-got; !bytes.Equal(b, []byte("\r\x00+++")) {
		t.Errorf("telnet://: the BBS got % x, want CR NUL +++", b)
	}
}
