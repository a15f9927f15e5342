package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// dialBuffer is a bytes.Buffer safe for one writer and a concurrent reader.
type dialBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *dialBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *dialBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialRun is gateway dial running in-process.
type dialRun struct {
	stdin          *io.PipeWriter
	stdout, stderr *dialBuffer
	done           chan int
}

// startDial runs dialMain with args and the given environment. The test
// writes stdin through r.stdin; the pipe is closed at cleanup so the
// stdin reader ends.
func startDial(t *testing.T, env map[string]string, args ...string) *dialRun {
	t.Helper()
	pr, pw := io.Pipe()
	r := &dialRun{stdin: pw, stdout: &dialBuffer{}, stderr: &dialBuffer{}, done: make(chan int, 1)}
	go func() {
		r.done <- dialMain(args, dialIO{stdin: pr, stdout: r.stdout, stderr: r.stderr,
			getenv: func(k string) string { return env[k] }})
	}()
	t.Cleanup(func() { pw.Close() })
	return r
}

// wait returns the exit code, failing the test after a generous bound.
func (r *dialRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway dial did not end; stderr:\n%s", r.stderr.String())
		return -1
	}
}

// fakeGateway answers calls on a loopback TCP line with handle.
func fakeGateway(t *testing.T, telnet bool, handle func(t *testing.T, line *tcp.Line)) string {
	t.Helper()
	l, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: telnet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			line, err := l.AcceptLine(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				defer line.Close()
				handle(t, line)
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		l.Close()
		wg.Wait()
	})
	return l.Addr()
}

func readUntilLine(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	var got []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		if _, err := r.Read(b); err != nil {
			t.Errorf("reading until %q: %v (got %q)", suffix, err, got)
			return string(got)
		}
		got = append(got, b[0])
	}
	return string(got)
}

// TestDialTextPipeDrains: from a pipe, the text path is binary
// transparent both ways over a telnet line, and the end of stdin hangs up
// only after the gateway's reply has arrived.
func TestDialTextPipeDrains(t *testing.T) {
	testutil.CheckGoroutines(t)
	all := make([]byte, 0, 512)
	for i := range 512 {
		all = append(all, byte(i))
	}
	got := make(chan []byte, 1)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("hi:"))
		in, err := io.ReadAll(line) // until the caller's half-close
		if err != nil {
			t.Errorf("gateway read: %v", err)
		}
		got <- in
		line.Write([]byte("reply after EOF:"))
		line.Write(all)
	})
	r := startDial(t, nil, "--text", addr)
	// A half-close before the telnet negotiation has settled would leave
	// the ends disagreeing about BINARY: start once the greeting is in.
	waitFor(t, func() bool { return r.stdout.String() == "hi:" })
	r.stdin.Write(all)
	r.stdin.Write([]byte("\r~.still data\n")) // no escapes from a pipe
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	want := append(append([]byte(nil), all...), "\r~.still data\n"...)
	if in := <-got; !bytes.Equal(in, want) {
		t.Errorf("gateway received %d octets, want %d (first difference matters)", len(in), len(want))
	}
	if out := r.stdout.String(); out != "hi:reply after EOF:"+string(all) {
		t.Errorf("stdout has %d octets, want %d: %q", len(out), len(all)+16, out)
	}
}

func TestDialTextEscapeHangsUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := make(chan string, 1)
	addr := fakeGateway(t, false, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("login: "))
		in, _ := io.ReadAll(line)
		got <- string(in)
	})
	r := startDial(t, nil, "--text", "--escape", "~", addr)
	waitFor(t, func() bool { return r.stdout.String() == "login: " })
	r.stdin.Write([]byte("guest\r"))
	r.stdin.Write([]byte("~?"))
	r.stdin.Write([]byte("\r~~x\r~.ignored"))
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if in := <-got; in != "guest\r\r~x\r" {
		t.Errorf("gateway received %q", in)
	}
	if !strings.Contains(r.stderr.String(), "hang up") {
		t.Errorf("~? printed no help: %q", r.stderr)
	}
	if r.stdout.String() != "login: " {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestDialTextExitCodes(t *testing.T) {
	for _, c := range []struct {
		name string
		say  string
		want int
	}{
		{"busy", "BUSY\r\n", exitBusy},
		{"busy with reason", "\r\ngw: all lines busy; try again later\r\nBUSY\r\n", exitBusy},
		{"denied", "login: \r\nNO CARRIER (access denied)\r\n", exitDenied},
		{"backend ended", "welcome\r\n\r\nNO CARRIER (the service ended the session)\r\n", exitOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
				line.Write([]byte(c.say))
			})
			r := startDial(t, nil, "--text", addr)
			if code := r.wait(t); code != c.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.want, r.stderr)
			}
			if r.stdout.String() != c.say {
				t.Errorf("stdout %q", r.stdout)
			}
			// A BUSY gateway is not "connected" (new-user trial: the
			// notice came before the BUSY); the others are.
			if got := strings.Contains(r.stderr.String(), "connected to"); got != (c.want != exitBusy) {
				t.Errorf("stderr %q: connected notice %v", r.stderr, got)
			}
		})
	}
}

// TestDialUnreachable: a call nobody answers is no carrier (exit 13), on
// the text path and on the V.42 path without credentials and without a
// terminal: dial asks for them only once a V.42 gateway has answered.
func TestDialUnreachable(t *testing.T) {
	testutil.CheckGoroutines(t)
	l, err := tcp.Listen("127.0.0.1:0", tcp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	l.Close() // nobody answers there now
	for _, args := range [][]string{{"--text", addr}, {addr}, {"--user", "alice", addr}, {"--v42", "lapm", addr}} {
		r := startDial(t, nil, args...)
		if code := r.wait(t); code != exitNoCarrier {
			t.Errorf("dial %q: exit %d, want %d; stderr:\n%s", args, code, exitNoCarrier, r.stderr)
		}
		if s := r.stderr.String(); !strings.Contains(s, "nobody answers") || strings.Contains(s, "User") || strings.Contains(s, "assword") || strings.Contains(s, "no user") {
			t.Errorf("dial %q: stderr %q, want only that nobody answers", args, s)
		}
	}
}

func TestDialUsage(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, args := range [][]string{
		{},
		{"--text"},
		{"a", "b"},
		{"--v42", "maybe", "telnet://127.0.0.1:1"},
		{"nosuch://127.0.0.1:1"},
		{"--escape", "ab", "telnet://127.0.0.1:1"},
		{"--tofu", "--fingerprint", "SHA256:x", "telnet://127.0.0.1:1"},
		{"--answer", "nonsense", "telnet://127.0.0.1:1"},
		{"--user", "no spaces", "telnet://127.0.0.1:1"},
	} {
		r := startDial(t, nil, args...)
		if code := r.wait(t); code != exitUsage {
			t.Errorf("dial %q: exit %d, want %d; stderr:\n%s", args, code, exitUsage, r.stderr)
		}
	}
}

// TestDialTextCallbackWithoutAnswer: a text call that the gateway ends
// to call back, made without --answer, is over (exit 0), and dial says how
// to take such a callback.
func TestDialTextCallbackWithoutAnswer(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("login: "))
		readUntilLine(t, line, "\r")
		line.Write([]byte("\r\nHanging up; you will be called back.\r\nNO CARRIER\r\n"))
	})
	r := startDial(t, nil, "--text", addr)
	waitFor(t, func() bool { return strings.Contains(r.stdout.String(), "login: ") })
	r.stdin.Write([]byte("carol\r"))
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "call with --answer ADDR") {
		t.Errorf("stderr %q does not say how to take the callback", r.stderr)
	}
}

// TestDialTextCallback: a text-login user with a callback address; the
// gateway hangs up and calls back on --answer; the person at the terminal
// confirms and the session continues there.
func TestDialTextCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	answer := freeAddr(t)
	addr, done := textCallbackGateway(t, answer, nil)
	r := startDial(t, nil, "--text", "--answer", answer, addr)
	waitFor(t, func() bool { return strings.Contains(r.stdout.String(), "login: ") })
	r.stdin.Write([]byte("carol\r"))
	waitFor(t, func() bool { return strings.Contains(r.stdout.String(), "accept: ") })
	r.stdin.Write([]byte("carol\r"))
	if got := <-done; got != "carol\r" {
		t.Errorf("callback confirmation %q", got)
	}
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if !strings.HasSuffix(r.stdout.String(), "welcome back\r\n") {
		t.Errorf("stdout %q", r.stdout)
	}
}

// TestDialTextCallbackOnlyFromGateway: a text callback proves nothing of
// itself, so --answer takes it only from the address the call went to
// (or --answer-from): a caller from elsewhere that gets in first is hung
// up and never sees the terminal's typing. Security review: the first
// connection to the --answer port got the terminal, and with a fake
// prompt the user's password.
func TestDialTextCallbackOnlyFromGateway(t *testing.T) {
	testutil.CheckGoroutines(t)
	answer := freeAddr(t)
	intruderDone := make(chan []byte, 1)
	addr, done := textCallbackGateway(t, answer, func(t *testing.T) {
		// Someone else on the answer port first.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		in, err := d.Dial("tcp", strings.TrimPrefix(answer, "telnet://"))
		if err != nil {
			t.Errorf("intruder: %v", err)
			return
		}
		in.Write([]byte("Re-enter your password: "))
		_ = in.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(in)
		in.Close()
		intruderDone <- got
	})
	r := startDial(t, nil, "--text", "--answer", answer, addr)
	waitFor(t, func() bool { return strings.Contains(r.stdout.String(), "login: ") })
	r.stdin.Write([]byte("carol\r"))
	if got := <-intruderDone; bytes.Contains(got, []byte("carol")) {
		t.Errorf("the intruder read %q", got)
	}
	if strings.Contains(r.stdout.String(), "Re-enter") {
		t.Errorf("the intruder reached the terminal: %q", r.stdout)
	}
	waitFor(t, func() bool { return strings.Contains(r.stdout.String(), "accept: ") })
	r.stdin.Write([]byte("carol\r"))
	if got := <-done; got != "carol\r" {
		t.Errorf("callback confirmation %q", got)
	}
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "from 127.0.0.2:") || !strings.Contains(r.stderr.String(), "hung up: not the gateway's address 127.0.0.1") {
		t.Errorf("stderr does not tell of the intruder:\n%s", r.stderr)
	}
}

// textCallbackGateway is a fake gateway that takes a text login, hangs
// up to call back, runs before (if not nil), calls answer back and asks
// for the user name, which it sends on done, then says "welcome back".
func textCallbackGateway(t *testing.T, answer string, before func(t *testing.T)) (string, chan string) {
	done := make(chan string, 1)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("login: "))
		readUntilLine(t, line, "\r")
		line.Write([]byte("\r\nHanging up; you will be called back.\r\nNO CARRIER\r\n"))
		line.Close()
		if before != nil {
			before(t)
		}
		cb, err := transport.Dial(t.Context(), answer)
		if err != nil {
			t.Errorf("calling back: %v", err)
			return
		}
		defer cb.Close()
		cb.Write([]byte("Type your user name to accept: "))
		done <- readUntilLine(t, cb, "\r")
		cb.Write([]byte("welcome back\r\n"))
	})
	return addr, done
}

// freeAddr returns a telnet line address on a free loopback port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr()
}

// waitFor polls cond (output from another goroutine) with a bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedWriter is a stdout whose reader has gone.
type closedWriter struct{}

func (closedWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestDialStdoutClosedHangsUp: when stdout's reader goes away, dial hangs
// up (exit 0) instead of dying or reporting a line failure.
func TestDialStdoutClosedHangsUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	hungUp := make(chan struct{})
	addr := fakeGateway(t, false, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("output nobody reads"))
		io.Copy(io.Discard, line)
		close(hungUp)
	})
	pr, pw := io.Pipe()
	defer pw.Close()
	stderr := &dialBuffer{}
	code := dialMain([]string{"--text", addr}, dialIO{stdin: pr, stdout: closedWriter{}, stderr: stderr, getenv: func(string) string { return "" }})
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	<-hungUp
}

// TestDialTextAnswerNoCallback: with --answer, a call the gateway simply
// ends (no "called back") is over; dial does not wait for a callback.
func TestDialTextAnswerNoCallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("bye\r\nNO CARRIER (the service ended the session)\r\n"))
	})
	r := startDial(t, nil, "--text", "--answer", freeAddr(t), "--answer-timeout", "10m", addr)
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if strings.Contains(r.stderr.String(), "waiting") {
		t.Errorf("dial waited for a callback: %q", r.stderr)
	}
}

// TestDialNoConfigDir: without $HOME and $XDG_CONFIG_HOME (a system
// service without User=) there is no default known-hosts file, and dial
// says to give --known-hosts rather than use ./known_hosts, a different
// file in each working directory (power-user trial: --tofu recorded the
// gateway's key in the working directory). A text call needs none.
func TestDialNoConfigDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	dir := t.TempDir()
	run := func(args ...string) (int, string) {
		cmd := exec.Command(gatewayBinary(t), append([]string{"dial"}, args...)...)
		cmd.Env, cmd.Dir = env, dir
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	addr := freeAddr(t) // nobody answers
	if code, out := run("--tofu", "--user", "alice", addr); code != exitUsage || !strings.Contains(out, "give --known-hosts FILE") {
		t.Errorf("without a config directory: exit %d, %q; want %d and the flag to give", code, out, exitUsage)
	}
	if code, out := run("--text", addr); code != exitNoCarrier {
		t.Errorf("a text call without a config directory: exit %d, %q; want %d (no carrier)", code, out, exitNoCarrier)
	}
	if code, out := run("--known-hosts", filepath.Join(dir, "kh"), "--user", "alice", addr); code != exitNoCarrier {
		t.Errorf("with --known-hosts: exit %d, %q; want %d (no carrier)", code, out, exitNoCarrier)
	}
}

// TestDialBadKnownHosts: a known-hosts file that cannot be used is a local
// failure (exit 1), said before dialling, not a host-key refusal (exit
// 12) once the gateway has answered (power-user trial: a malformed line
// exited 12 after the handshake began).
func TestDialBadKnownHosts(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "kh")
	if err := os.WriteFile(kh, []byte("garbage line here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--known-hosts", kh, freeAddr(t))
	if code := r.wait(t); code != exitFailure || !strings.Contains(r.stderr.String(), "kh:1") {
		t.Fatalf("exit %d, want %d naming the line; stderr:\n%s", code, exitFailure, r.stderr)
	}
	// A text call checks no key.
	r = startDial(t, nil, "--text", "--known-hosts", kh, freeAddr(t))
	if code := r.wait(t); code != exitNoCarrier {
		t.Fatalf("--text: exit %d, want %d; stderr:\n%s", code, exitNoCarrier, r.stderr)
	}
}

// TestDialForget: --forget removes a host's known keys, says which, and
// exits 0; again, with none left, it says so and exits 1; with a URL it
// is a usage error. Power-user trial: after the gateway's key was
// rotated, three lines had to be deleted by hand, one a listener.
func TestDialForget(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "kh")
	text := "gw.example:2323 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n" +
		"gw.example:2324 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n" +
		"other.example:2323 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n"
	if err := os.WriteFile(kh, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startDial(t, nil, "--known-hosts", kh, "--forget", "gw.example")
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, r.stderr)
	}
	want := kh + ": removed line 1: gw.example:2323 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n" +
		kh + ": removed line 2: gw.example:2324 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n"
	if got := r.stdout.String(); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(kh); string(b) != "other.example:2323 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n" {
		t.Errorf("file left %q", b)
	}
	r = startDial(t, nil, "--known-hosts", kh, "--forget", "gw.example:2323")
	if code := r.wait(t); code != exitFailure || !strings.Contains(r.stderr.String(), "no host key of gw.example:2323 in "+kh) {
		t.Errorf("again: exit %d, stderr %q", code, r.stderr)
	}
	r = startDial(t, nil, "--known-hosts", kh, "--forget", "other.example", "telnet://other.example:2323")
	if code := r.wait(t); code != exitUsage {
		t.Errorf("with a URL: exit %d, stderr %q", code, r.stderr)
	}
}

// TestDialDrainKeepsTextCallUp: with --drain given, the end of stdin on a
// line that can half-close waits for quiet as over V.42, instead of a
// half-close the gateway takes as a hang-up. Power-user trial: `printf
// 'sleep 4; echo done\n' | gateway dial --text` was cut at once on a
// telnet line, and the recipe for V.42 (exit, --drain) did not help.
func TestDialDrainKeepsTextCallUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := readUntilLine(t, line, "x\n")
		// stdin has ended: the line must stay open for input.
		line.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		if n, err := line.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("after %q the gateway read %d octets, %v; want nothing (no half-close)", got, n, err)
		}
		io.WriteString(line, "done\r\n")
	})
	r := startDial(t, nil, "--text", "--drain", "30s", addr)
	io.WriteString(r.stdin, "x\n")
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, r.stderr)
	}
	if !strings.Contains(r.stdout.String(), "done") {
		t.Errorf("stdout %q lacks the output after the quiet spell", r.stdout)
	}
}
