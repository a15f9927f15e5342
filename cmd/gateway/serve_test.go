package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// Tests of the built `gateway serve` binary with real peers on loopback:
// the inetutils telnet client driven through a pty, a pty backend, a raw
// TCP backend, BUSY, denial, a dead backend, SIGHUP, SIGTERM, restart.

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// gatewayBinary builds cmd/gateway once per test run (TestMain removes
// it). Other tests of the package (dial) use it too.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dialgate-serve-test")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	// The kernel may give a port it gave a moment ago, once it is free
	// again: two calls for one gateway (its listener and its metrics)
	// got the same port (CI: "already used by listener"). Never hand
	// one out twice in this process.
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !portsGiven[addr] {
			portsGiven[addr] = true
			return addr
		}
	}
	t.Fatal("no port that freePort has not handed out already")
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[string]bool{}
)

// testGateway is a running `gateway serve` process.
type testGateway struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	addr    string // host:port of the telnet listener
	metrics string // host:port of /metrics
	cmd     *exec.Cmd
	log     *syncBuffer // stdout and stderr
	logFile string      // the [log] file, if set
	done    chan error
	// inherited, wrap: see gwOpts.
	inherited []*os.File
	wrap      []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const serveConfig = `gateway_name = "testgw"
state_dir = %[1]q
users_file = %[2]q
default_backend = "sh"
[log]
format = "json"
level = "debug"
[lines]
max_concurrent = %[4]d
holdoff = "0s"
drain_timeout = "20s"
[security]
argon2_time = 1
argon2_memory_kib = 64
throttle_base = "10ms"
throttle_max = "20ms"
[metrics]
listen = %[8]q
pprof = %[9]t
[[listener]]
name = "modem"
address = "telnet://%[3]s"
v42 = %[7]q
text_login = "allow"
[[backend]]
name = "sh"
type = "pty"
command = ["/bin/sh", "-c", "stty -echo; echo \"hello $DIALGATE_USER session $DIALGATE_SESSION term $TERM\"; read x; echo \"got:$x\"; sleep %[5]s"]
[[backend]]
name = "echo"
type = "tcp"
address = %[6]q
[[backend]]
name = "down"
type = "tcp"
address = "127.0.0.1:1"
connect_timeout = "2s"
`

type gwOpts struct {
	maxConcurrent int
	shSleep       string // how long the pty program stays after answering
	echoAddr      string
	v42           string // listener's v42 mode (default "off")
	pprof         bool   // [metrics] pprof
	// handshakeDeadline is [security] handshake_deadline ("": the
	// default, 60s).
	handshakeDeadline string
	holdoff           string // [lines] holdoff ("": 0s)
	perUser           int    // [lines] per_user (0: not set)
	extraConfig       string // appended to the configuration (more [[listener]] tables)
	logFile           string // [log] file, relative to the test's directory ("": stderr)
	// inherited are descriptors the daemon inherits, from 3 on, without
	// close-on-exec (exec.Cmd.ExtraFiles).
	inherited []*os.File
	// addr is the telnet listener's host:port ("": a free port).
	addr string
	// wrap is a command that runs the daemon: its arguments, then the
	// daemon's command line (systemd-socket-activate, for one).
	wrap []string
}

// newGateway writes a configuration and a users file into a fresh
// directory (users: alice/sh, bob/echo, dave/down) and starts the daemon.
func newGateway(t *testing.T, o gwOpts) *testGateway {
	t.Helper()
	g := newGatewayNoStart(t, o)
	g.start()
	return g
}

// newGatewayNoStart is newGateway without the start, for a test that
// launches the daemon itself.
func newGatewayNoStart(t *testing.T, o gwOpts) *testGateway {
	t.Helper()
	testutil.NeedBinary(t, "sh")
	if o.maxConcurrent == 0 {
		o.maxConcurrent = 4
	}
	if o.shSleep == "" {
		o.shSleep = "0"
	}
	if o.echoAddr == "" {
		o.echoAddr = "127.0.0.1:1"
	}
	if o.v42 == "" {
		o.v42 = "off"
	}
	dir := t.TempDir()
	g := &testGateway{t: t, bin: gatewayBinary(t), dir: dir, cfgPath: filepath.Join(dir, "gateway.toml"), addr: o.addr, metrics: freePort(t), inherited: o.inherited, wrap: o.wrap}
	if g.addr == "" {
		g.addr = freePort(t)
	}
	conf := fmt.Sprintf(serveConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), g.addr, o.maxConcurrent, o.shSleep, o.echoAddr, o.v42, g.metrics, o.pprof)
	if o.handshakeDeadline != "" {
		conf = strings.Replace(conf, "[security]\n", "[security]\nhandshake_deadline = \""+o.handshakeDeadline+"\"\n", 1)
	}
	if o.holdoff != "" {
		conf = strings.Replace(conf, "holdoff = \"0s\"\n", "holdoff = \""+o.holdoff+"\"\n", 1)
	}
	if o.perUser != 0 {
		conf = strings.Replace(conf, "[lines]\n", fmt.Sprintf("[lines]\nper_user = %d\n", o.perUser), 1)
	}
	if o.logFile != "" {
		// Relative, as written: the configuration file's directory.
		conf = strings.Replace(conf, "[log]\n", "[log]\nfile = "+strconv.Quote(o.logFile)+"\n", 1)
		g.logFile = filepath.Join(dir, o.logFile)
	}
	conf += o.extraConfig
	if err := os.WriteFile(g.cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeUsers(map[string]string{"alice": "sh", "bob": "echo", "dave": "down"})
	t.Cleanup(g.stop)
	return g
}

// setListener adds key = value (TOML) to the telnet listener's table of
// the configuration file (editConfig): the daemon takes it at its next
// start or reload.
func (g *testGateway) setListener(key, value string) {
	g.t.Helper()
	g.editConfig(g.t, [2]string{"name = \"modem\"\n", "name = \"modem\"\n" + key + " = " + value + "\n"})
}

// writeUsers writes the users file; every password is "pw-" + name.
func (g *testGateway) writeUsers(users map[string]string) {
	g.t.Helper()
	u := auth.NewUsers()
	for name, backend := range users {
		h, err := auth.HashPassword("pw-"+name, auth.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			g.t.Fatal(err)
		}
		if err := u.Add(auth.User{ID: name, Hash: h, Backend: backend}); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := u.Save(filepath.Join(g.dir, "users.toml")); err != nil {
		g.t.Fatal(err)
	}
}

func (g *testGateway) start() {
	g.t.Helper()
	g.launch()
	g.waitLog(`"msg":"answering"`)
}

// launch starts the daemon on its configuration, with a fresh log, and
// does not wait for it to answer.
func (g *testGateway) launch() {
	g.t.Helper()
	g.log = &syncBuffer{}
	args := append(append([]string(nil), g.wrap...), g.bin, "serve", "--config", g.cfgPath)
	g.cmd = exec.Command(args[0], args[1:]...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	g.cmd.ExtraFiles = g.inherited
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
}

// stop ends the daemon (SIGTERM) and waits for it.
func (g *testGateway) stop() {
	if g.cmd == nil || g.cmd.ProcessState != nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		g.t.Errorf("gateway did not stop on SIGTERM; log:\n%s", g.log.String())
	}
}

// goroutineDump ends the daemon with SIGQUIT, which makes the Go runtime
// print every goroutine's stack, and returns its log with that dump: for
// a test that found a goroutine left over.
func (g *testGateway) goroutineDump() string {
	if g.cmd == nil || g.cmd.ProcessState != nil {
		return g.log.String()
	}
	_ = g.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	return g.log.String()
}

func (g *testGateway) waitLog(substr string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.logText(), substr) {
		select {
		case err := <-g.done:
			g.t.Fatalf("gateway exited (%v) before logging %q:\n%s", err, substr, g.logText())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not log %q:\n%s", substr, g.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logText is what the gateway wrote to stdout and stderr, then what its
// [log] file now holds.
func (g *testGateway) logText() string {
	if g.logFile == "" {
		return g.log.String()
	}
	b, _ := os.ReadFile(g.logFile)
	return g.log.String() + string(b)
}

func (g *testGateway) records() []store.CallRecord {
	g.t.Helper()
	recs, err := store.ReadRecordsFile(filepath.Join(g.dir, "state", "calls.jsonl"))
	if err != nil {
		g.t.Fatal(err)
	}
	return recs
}

// waitRecords waits until n call records exist.
func (g *testGateway) waitRecords(n int) []store.CallRecord {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := g.records()
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d records, want %d; log:\n%s", len(recs), n, g.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// telnetSession is the inetutils telnet client on a pty.
type telnetSession struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	read chan struct{} // closed when the reader ends
	seen int           // output consumed by expect
}

func telnetTo(t *testing.T, addr string) *telnetSession {
	t.Helper()
	bin := testutil.NeedBinary(t, "telnet")
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, host, port)
	cmd.Env = append(os.Environ(), "TERM=vt100")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	s := &telnetSession{t: t, ptmx: ptmx, cmd: cmd, read: make(chan struct{})}
	go func() {
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *telnetSession) close() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.ptmx.Close()
	<-s.read
}

// expect waits for substr in the output after what earlier expects
// consumed, and returns the output up to and including it.
func (s *telnetSession) expect(substr string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		all := s.out.String()
		s.mu.Unlock()
		if i := strings.Index(all[s.seen:], substr); i >= 0 {
			got := all[s.seen : s.seen+i+len(substr)]
			s.seen += i + len(substr)
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("telnet: no %q in %q", substr, all[s.seen:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *telnetSession) send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.ptmx, text); err != nil {
		s.t.Fatal(err)
	}
}

func (s *telnetSession) login(user, pw string) {
	s.t.Helper()
	s.expect("login: ")
	s.send(user + "\r")
	s.expect("password: ")
	s.send(pw + "\r")
}

// TestServeTelnetToPTY: inetutils telnet, text login with the password not
// echoed, a shell script on a pty, its exit told to the caller.
func TestServeTelnetToPTY(t *testing.T) {
	g := newGateway(t, gwOpts{})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	got := s.expect("hello alice session ")
	if strings.Contains(got, "pw-alice") {
		t.Errorf("password echoed: %q", got)
	}
	// telnet announces TERM=vt100 as "VT100" (TTYPE); the program's TERM
	// must be the terminfo name.
	s.expect(" term vt100\r")
	s.send("typed line\r")
	s.expect("got:typed line")
	s.expect("NO CARRIER (the service ended the session)")
	recs := g.waitRecords(1)
	if r := recs[0]; r.User != "alice" || r.Result != store.ResultCompleted || r.Reason != "backend closed" || r.Line != "telnet" || r.Backend != "sh" {
		t.Errorf("record: %+v", r)
	}
}

// TestServePTYInheritsNoStrayDescriptors: descriptors the daemon
// inherited without close-on-exec (a harness's pipe, a shell's
// redirection) do not reach a pty program (pentest: a door program
// found the harness's pipe on fd 251).
func TestServePTYInheritsNoStrayDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	g := newGateway(t, gwOpts{inherited: []*os.File{w, w, w, w, w}, // fds 3 to 7
		extraConfig: "[[backend]]\nname = \"fds\"\ntype = \"pty\"\n" +
			"command = [\"/bin/sh\", \"-c\", \"if { true >&7; } 2>/dev/null; then echo fd7:open; else echo fd7:closed; fi; read x\"]\n"})
	g.writeUsers(map[string]string{"erin": "fds"})
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	s := telnetTo(t, g.addr)
	s.login("erin", "pw-erin")
	if got := s.expect("fd7:"); strings.Contains(got, "fd7:open") {
		t.Fatalf("the pty program has the daemon's inherited descriptor 7: %q", got)
	}
	s.expect("closed")
}

// TestServeTelnetToTCP: the same client reaches a raw TCP backend.
func TestServeTelnetToTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "echo service ready\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	g := newGateway(t, gwOpts{echoAddr: ln.Addr().String()})
	s := telnetTo(t, g.addr)
	s.login("bob", "pw-bob")
	s.expect("echo service ready")
	s.send("abc")
	s.expect("abc")
	s.close()
	recs := g.waitRecords(1)
	if r := recs[0]; r.User != "bob" || r.Backend != "echo" || r.Result != store.ResultCompleted || r.BytesIn < 3 {
		t.Errorf("record: %+v", r)
	}
}

// TestServeBusyDeniedBackendDown: one line; the second caller hears BUSY;
// a wrong password is denied; a dead backend is explained; all recorded.
func TestServeBusyDeniedBackendDown(t *testing.T) {
	g := newGateway(t, gwOpts{maxConcurrent: 1, shSleep: "30"})
	first := telnetTo(t, g.addr)
	first.login("alice", "pw-alice")
	first.expect("hello alice")
	busy := telnetTo(t, g.addr)
	busy.expect("BUSY")
	first.close()
	g.waitRecords(2)

	s := telnetTo(t, g.addr)
	for i := 0; i < 3; i++ {
		s.login("alice", "wrong")
	}
	s.expect("NO CARRIER (access denied)")
	s = telnetTo(t, g.addr)
	s.login("dave", "pw-dave")
	s.expect(`NO CARRIER (service "down" is not available)`)
	recs := g.waitRecords(4)
	results := map[string]store.CallRecord{}
	for _, r := range recs {
		results[r.Result] = r
	}
	if r, ok := results[store.ResultBusy]; !ok || r.Reason != "all lines busy" {
		t.Errorf("no busy record: %+v", recs)
	}
	if r, ok := results[store.ResultDenied]; !ok || r.User != "alice" {
		t.Errorf("no denied record: %+v", recs)
	}
	if r, ok := results[store.ResultBackendDown]; !ok || r.User != "dave" || !strings.Contains(r.Reason, "127.0.0.1:1") {
		t.Errorf("no backend-down record: %+v", recs)
	}
}

// TestServeSIGHUPAddsUser: a user added to the users file can log in after
// SIGHUP, while a call in progress stays up.
func TestServeSIGHUPAddsUser(t *testing.T) {
	g := newGateway(t, gwOpts{shSleep: "30"})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	g.writeUsers(map[string]string{"alice": "sh", "erin": "sh"})
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	// alice's password was hashed anew (another salt): changed.
	if want := `"users":2,"backends":3,"users_added":1,"users_removed":2,"users_changed":1,"backends_changed":0,"maintenance":false,"maintenance_changed":false`; !strings.Contains(g.log.String(), want) {
		t.Errorf("the reload's log line does not say what changed (%s):\n%s", want, g.log.String())
	}
	s.send("still here\r")
	s.expect("got:still here")
	e := telnetTo(t, g.addr)
	e.login("erin", "pw-erin")
	e.expect("hello erin")
}

// TestServeSIGTERMDrains: after SIGTERM the gateway answers new calls
// with BUSY (shutting down) but the call in progress goes on to its end;
// then the daemon exits 0.
// A restart continues the session numbers.
func TestServeSIGTERMDrains(t *testing.T) {
	g := newGateway(t, gwOpts{shSleep: "1"})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"stopping: no new calls; draining"`)
	// A caller during the drain hears why, and BUSY: the listener stays
	// open until the drain ends (operator trial: an upgrade refused every
	// connection for the whole drain_timeout).
	late := telnetTo(t, g.addr)
	late.expect("testgw: shutting down; try again later\r\nBUSY")
	late.expect("Connection closed by foreign host")
	s.send("after term\r")
	s.expect("got:after term")
	s.expect("NO CARRIER (the service ended the session)")
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, g.log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not exit after draining")
	}
	first := g.records()
	if len(first) != 2 || first[0].Result != store.ResultBusy || first[0].Reason != "gateway shutting down" || first[1].Result != store.ResultCompleted {
		t.Fatalf("records: %+v", first)
	}

	// Restart: session numbers keep increasing.
	g.start()
	s = telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	s.send("again\r")
	s.expect("NO CARRIER")
	recs := g.waitRecords(3)
	if recs[2].Session <= recs[1].Session {
		t.Errorf("session numbers after restart: %d then %d", recs[1].Session, recs[2].Session)
	}
}

// TestServeConfigErrors: a bad configuration stops serve with positions.
func TestServeConfigErrors(t *testing.T) {
	bin := gatewayBinary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[lines]\nmax_concurrent = 0\n[[listener]]\nname = \"x\"\naddress = \"telnet://127.0.0.1:1\"\nv42 = \"sometimes\"\n"), 0o600)
	out, err := exec.CommandContext(context.Background(), bin, "serve", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.toml:6:1") {
		t.Errorf("serve with a bad config: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "check", bad).CombinedOutput()
	// Every problem, in file order, each naming the key once and what
	// is wrong.
	want := bad + ":2:1: lines.max_concurrent: 0 out of range 1..1000000\n" +
		bad + ":6:1: listener[0].v42: v42 mode \"sometimes\": want one of \"detect\", \"lapm\", \"off\"\n"
	if err == nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("check: %v\n%s\nwant it to start with\n%s", err, out, want)
	}
	out, err = exec.Command(bin, "check", "../../config.toml.example").CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Errorf("check config.toml.example: %v\n%s", err, out)
	}
}

// TestServeZMODEMTextLogin sends a 4 MiB random file with ZMODEM (lrzsz:
// sz on a pty backend, rz at the caller) through the text-login telnet
// path, and checks it arrives byte-exact.
func TestServeZMODEMTextLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("4 MiB ZMODEM transfer skipped in -short mode")
	}
	sz := testutil.NeedBinary(t, "sz")
	rz := testutil.NeedBinary(t, "rz")
	dir := t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{1, 2}).Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, gwOpts{})
	// A fourth backend: sz of the payload on a pty.
	conf, _ := os.ReadFile(g.cfgPath)
	conf = append(conf, fmt.Sprintf("[[backend]]\nname = \"zmodem\"\ntype = \"pty\"\ncommand = [%q, \"-q\", %q]\n", sz, src)...)
	os.WriteFile(g.cfgPath, conf, 0o600)
	g.writeUsers(map[string]string{"zed": "zmodem"})
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line, err := tcp.Dial(ctx, g.addr, tcp.Options{Telnet: true, TermType: "vt100"})
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	readUntil := func(want string) {
		var got []byte
		b := make([]byte, 1)
		for !bytes.HasSuffix(got, []byte(want)) {
			line.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := line.Read(b); err != nil {
				t.Fatalf("waiting for %q: %v (got %q)", want, err, got)
			}
			got = append(got, b[0])
		}
		line.SetReadDeadline(time.Time{})
	}
	readUntil("login: ")
	io.WriteString(line, "zed\r\n")
	readUntil("password: ")
	io.WriteString(line, "pw-zed\r\n")
	readUntil("\r\n") // the echoed end of the password line

	out := filepath.Join(dir, "recv")
	os.Mkdir(out, 0o700)
	cmd := exec.CommandContext(ctx, rz, "-q", "-y")
	cmd.Dir = out
	cmd.Stdin = line
	cmd.Stdout = line
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rz: %v\n%s\ngateway log:\n%s", err, stderr.String(), g.log.String())
	}
	got, err := os.ReadFile(filepath.Join(out, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("ZMODEM: received %d octets, differ from the %d sent", len(got), len(data))
	}
}

// TestServeDetectAndMetrics: on a listener with V.42 detection a telnet
// client (no V.42) gets the text login after T400; /metrics and /healthz
// answer and count the call.
func TestServeDetectAndMetrics(t *testing.T) {
	g := newGateway(t, gwOpts{v42: "detect"})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	s.send("x\r")
	s.expect("NO CARRIER")
	g.waitRecords(1)
	get := g.metricsGet
	if h := get("/healthz"); !strings.HasPrefix(h, "ok") {
		t.Errorf("/healthz: %q", h)
	}
	if m := get("/metrics"); !strings.Contains(m, `dialgate_calls_total{listener="modem",result="completed"} 1`) || !strings.Contains(m, "dialgate_calls_active 0") {
		t.Errorf("/metrics lacks the call:\n%s", m)
	}
	// The lines there are, and how long the session lasted (operator
	// trial: neither was there).
	if m := get("/metrics"); !strings.Contains(m, "\ndialgate_lines_max 4\n") || !strings.Contains(m, "\ndialgate_session_duration_seconds_count 1\n") || !strings.Contains(m, `dialgate_session_duration_seconds_bucket{le="+Inf"} 1`) {
		t.Errorf("/metrics lacks dialgate_lines_max 4 or the session's duration:\n%s", m)
	}
	if recs := g.records(); recs[0].Mode != "text" {
		t.Errorf("record: %+v", recs[0])
	}
	if resp, err := http.Get("http://" + g.metrics + "/debug/pprof/"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without [metrics] pprof: %s, want 404", resp.Status)
	}
}

// metricsGet fetches path from the daemon's metrics endpoint and fails the
// test unless it answers 200.
func (g *testGateway) metricsGet(path string) string {
	g.t.Helper()
	resp, err := http.Get("http://" + g.metrics + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		g.t.Fatalf("%s: %s", path, resp.Status)
	}
	return string(b)
}

// TestServePProf: with [metrics] pprof = true the metrics endpoint also
// serves the runtime profiles of the running daemon.
func TestServePProf(t *testing.T) {
	g := newGateway(t, gwOpts{pprof: true})
	get := g.metricsGet
	if g := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(g, "goroutine profile:") {
		t.Errorf("goroutine profile: %.200q", g)
	}
	if h := get("/debug/pprof/heap?gc=1"); len(h) == 0 {
		t.Error("empty heap profile")
	}
	if p := get("/debug/pprof/profile?seconds=1"); len(p) == 0 {
		t.Error("empty CPU profile")
	}
}

// TestServeTextCallback: a user with a callback address logs in with the
// text login, is hung up on, and called back on a telnet line the test
// answers; after the confirmation the session reaches the pty backend and
// is recorded under the original session number.
func TestServeTextCallback(t *testing.T) {
	home := listenHome(t)
	g := newCalGateway(t, "100ms", home.Addr())
	g.loginForCallback()
	line := answerCalCallback(t, home)
	io.WriteString(line, "from home\r\n")
	readUntilOn(t, line, "got:from home")
	recs := g.waitRecords(2)
	if recs[0].Result != store.ResultCallback || recs[1].Mode != "callback" || recs[1].Session != recs[0].Session || recs[1].CallbackAttempts != 1 {
		t.Errorf("records: %+v", recs)
	}
}

// newCalGateway is newGateway with [callback] delay and the users
// file holding one user, cal (password pw-cal, backend sh), whose
// callback address is callback.
func newCalGateway(t *testing.T, delay, callback string) *testGateway {
	t.Helper()
	g := newGateway(t, gwOpts{})
	conf, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, "[callback]\ndelay = \""+delay+"\"\n"...)
	if err := os.WriteFile(g.cfgPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	g.stop()
	g.writeCallbackUser(callback, false)
	g.start()
	return g
}

// writeCallbackUser writes the users file of newCalGateway.
func (g *testGateway) writeCallbackUser(callback string, disabled bool) {
	g.t.Helper()
	h, err := auth.HashPassword("pw-cal", auth.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		g.t.Fatal(err)
	}
	u := auth.NewUsers()
	if err := u.Add(auth.User{ID: "cal", Hash: h, Backend: "sh", Callback: callback, Disabled: disabled}); err != nil {
		g.t.Fatal(err)
	}
	if err := u.Save(filepath.Join(g.dir, "users.toml")); err != nil {
		g.t.Fatal(err)
	}
}

// loginForCallback logs cal in with telnet and waits until the gateway
// has promised the callback.
func (g *testGateway) loginForCallback() {
	g.t.Helper()
	s := telnetTo(g.t, g.addr)
	s.login("cal", "pw-cal")
	s.expect("you will be called back")
}

// listenHome is the line a callback user's telnet client answers on
// (auto-answering, as a WiFi modem does), closed when the test ends.
func listenHome(t *testing.T) *tcp.Listener {
	t.Helper()
	home, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	return home
}

// answerCalCallback answers the text callback of newCalGateway's user on
// home, confirms it, and returns the line once the session is bridged
// (the pty backend has greeted cal); the test's end closes it.
func answerCalCallback(t *testing.T, home transport.Listener) transport.Line {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line, err := home.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { line.Close() })
	readUntilOn(t, line, "Type your user name to accept: ")
	io.WriteString(line, "cal\r\n")
	readUntilOn(t, line, "hello cal session ")
	return line
}

// readUntilOn is readUntilLine on line, which fails the test after 20 s
// of silence.
func readUntilOn(t *testing.T, line transport.Line, want string) string {
	t.Helper()
	line.(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(time.Now().Add(20 * time.Second))
	return readUntilLine(t, line, want)
}

// TestServeDemo: with no configuration, serve answers on 127.0.0.1:2323
// (telnet) and 127.0.0.1:8080 (WebSocket) only, prints the demo
// credentials, and the demo user reaches the demo board.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo (full-cost argon2id) skipped in -short mode")
	}
	for _, a := range []string{"127.0.0.1:2323", "127.0.0.1:8080"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Skipf("demo port %s in use: %v", a, err)
		}
		ln.Close()
	}
	bin := gatewayBinary(t)
	home := t.TempDir()
	log := &syncBuffer{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME=")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "  state: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no demo banner:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := log.String()
	i := strings.Index(out, "password:")
	pw := strings.Fields(out[i+len("password:"):])[0]
	if !strings.Contains(out, filepath.Join(home, ".local", "state", "dialgate")) || !strings.Contains(out, "host key fingerprint SHA256:") {
		t.Errorf("banner:\n%s", out)
	}
	s := telnetTo(t, "127.0.0.1:2323")
	s.login("demo", pw)
	s.expect("Welcome to the dialgate demo board, demo")
	s.expect("Choice: ")
	s.send("g\r")
	s.expect("Goodbye, demo.")
}

// TestLoggerOneLinePerEvent: in both formats an error with a wrapped
// cause is one line, with no stack trace and no source position, and
// the fields appear once.
func TestLoggerOneLinePerEvent(t *testing.T) {
	for _, format := range []config.LogFormat{config.LogConsole, config.LogJSON} {
		t.Run(string(format), func(t *testing.T) {
			zc, err := loggerConfig(config.Log{Format: format, Level: "info"})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "log")
			zc.OutputPaths = []string{out}
			log, err := zc.Build()
			if err != nil {
				t.Fatal(err)
			}
			log.With(zap.Uint64("session", 7)).Error("call record lost", zap.Error(fmt.Errorf("store: sync records: %w", syscall.EIO)))
			log.Sync()
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if strings.Count(s, "\n") != 1 || strings.Contains(s, "goroutine") || strings.Contains(s, ".go:") ||
				strings.Count(s, "session") != 1 || !strings.Contains(s, "input/output error") {
				t.Errorf("log output:\n%s", s)
			}
		})
	}
	if _, err := loggerConfig(config.Log{Format: config.LogConsole, Level: "loud"}); err == nil {
		t.Error("a bad level was accepted")
	}
}

// TestServeConnectionFlood: 2,000 connections that close at once (most of
// them BUSY) leave the daemon with the descriptors and goroutines it had
// before, none is recorded as an error, and it still answers. (The bound
// on BUSY calls waiting for their records, whose absence let a faster
// flood exhaust the descriptor limit, is tested in bridge:
// TestBusyFloodBounded.)
func TestServeConnectionFlood(t *testing.T) {
	g := newGateway(t, gwOpts{maxConcurrent: 2, pprof: true})
	pid := g.cmd.Process.Pid
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	// No keep-alive: an idle scrape connection would count as a leak.
	scraper := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	goroutines := func() int {
		resp, err := scraper.Get("http://" + g.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var n int
		for _, l := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(l, "go_goroutines %d", &n); err == nil {
				return n
			}
		}
		t.Fatalf("no go_goroutines in /metrics")
		return 0
	}
	baseFDs, baseG := fds(), goroutines()
	const calls, parallel = 2000, 32
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for range calls {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", g.addr)
			if err == nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	var seen []string // the last samples, for a failure
	for {
		f, n := fds(), goroutines()
		if f <= baseFDs && n <= baseG {
			break
		}
		seen = append(seen[max(0, len(seen)-9):], fmt.Sprintf("%d/%d", f, n))
		if time.Now().After(deadline) {
			// The goroutines as the daemon has them now (this scrape's
			// own among them), then every goroutine at SIGQUIT.
			var now string
			if resp, err := scraper.Get("http://" + g.metrics + "/debug/pprof/goroutine?debug=1"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now = string(b)
			}
			t.Fatalf("after the flood: %d descriptors (before: %d), %d goroutines (before: %d); last samples (descriptors/goroutines) %v; goroutines:\n%s\nlog and goroutines at SIGQUIT:\n%s", f, baseFDs, n, baseG, seen, now, g.goroutineDump())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range g.records() {
		if r.Result == store.ResultError {
			t.Errorf("flood call recorded as an error: %+v", r)
			break
		}
	}
	if strings.Contains(g.log.String(), "panic") {
		t.Errorf("log mentions a panic:\n%s", g.log.String())
	}
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
}

// TestCallbackFailedRecord: the record of a callback job that never
// connected counts the dials made (Attempt.Dials), also when its final
// attempt record is an expiry or a shutdown that made no dial itself
// (Attempt.Number 0).
func TestCallbackFailedRecord(t *testing.T) {
	for _, tc := range []struct {
		a    callbackd.Attempt
		ok   bool
		dial int
	}{
		{callbackd.Attempt{Number: 0, Dials: 3, Result: callbackd.Expired, Final: true, Err: callbackd.ErrExpired}, true, 3},
		{callbackd.Attempt{Number: 0, Dials: 1, Result: callbackd.Shutdown, Final: true}, true, 1},
		{callbackd.Attempt{Number: 2, Dials: 2, Result: callbackd.DialFailed, Final: true}, true, 2},
		{callbackd.Attempt{Number: 1, Dials: 1, Result: callbackd.DialFailed}, false, 0},
		{callbackd.Attempt{Number: 1, Dials: 1, Result: callbackd.Connected, Final: true}, false, 0},
	} {
		rec, ok := callbackFailedRecord(tc.a)
		if ok != tc.ok || rec.CallbackAttempts != tc.dial {
			t.Errorf("%+v: record %v %+v, want %v with %d attempts", tc.a, ok, rec, tc.ok, tc.dial)
			continue
		}
		if ok && (rec.Result != store.ResultCallbackFailed || !strings.HasPrefix(rec.Reason, tc.a.Result.String())) {
			t.Errorf("%+v: record %+v", tc.a, rec)
		}
	}
	// remote and line as a callback's record has them.
	a := callbackd.Attempt{Number: 1, Dials: 1, Result: callbackd.DialFailed, Final: true, Address: "telnet://[2001:db8::7]:6400"}
	if rec, _ := callbackFailedRecord(a); rec.Remote != "[2001:db8::7]:6400" || rec.Line != "telnet" {
		t.Errorf("remote %q line %q, want [2001:db8::7]:6400 and telnet", rec.Remote, rec.Line)
	}
}

// TestCallbackHistory: a callback-failed record tells every failed
// attempt, equal ones once (it had only the last one's reason), and the
// job is forgotten with its final attempt.
func TestCallbackHistory(t *testing.T) {
	h := &callbackHistory{earlier: map[uint64][]string{}}
	refused := errors.New("connection refused")
	for _, a := range []callbackd.Attempt{
		{Session: 7, Number: 1, Dials: 1, Result: callbackd.DialFailed, Err: refused},
		{Session: 8, Number: 1, Dials: 1, Result: callbackd.DialFailed, Err: refused}, // another job
		{Session: 7, Number: 2, Dials: 2, Result: callbackd.DialFailed, Err: refused},
		{Session: 7, Number: 3, Dials: 3, Result: callbackd.HandshakeFailed, Err: errors.New("no V.42")},
	} {
		if _, ok := h.take(a); ok {
			t.Fatalf("record for a non-final attempt %+v", a)
		}
	}
	rec, ok := h.take(callbackd.Attempt{Session: 7, Number: 4, Dials: 4, Result: callbackd.DialFailed, Err: refused, Final: true})
	want := "dial-failed: connection refused; before: attempts 1-2: dial-failed: connection refused; attempt 3: handshake-failed: no V.42"
	if !ok || rec.Reason != want || rec.CallbackAttempts != 4 {
		t.Errorf("record %v %+v\nwant reason %q", ok, rec, want)
	}
	if _, left := h.earlier[7]; left || len(h.earlier) != 1 {
		t.Errorf("jobs kept after the final attempt: %v", h.earlier)
	}
	if s := summarizeAttempts([]string{strings.Repeat("é", 400)}); len(s) > maxAttemptsSummary+len("…") || !utf8.ValidString(s) {
		t.Errorf("long summary: %d octets, valid UTF-8 %v", len(s), utf8.ValidString(s))
	}
}

// TestServeSIGHUPWithdrawsStaleCallback: an account disabled while its
// callback waits to be placed (the operator's answer to a compromised
// account) is not called back after SIGHUP: the job is withdrawn, with
// the reason in its record, and the home line never rings. Regression
// (callback trial): the pending callback went ahead and was bridged.
func TestServeSIGHUPWithdrawsStaleCallback(t *testing.T) {
	home := listenHome(t)
	g := newCalGateway(t, "3s", home.Addr())
	g.loginForCallback()
	g.writeCallbackUser(home.Addr(), true)
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"callbacks_withdrawn":1`)
	recs := g.waitRecords(2)
	if r := recs[1]; r.Result != store.ResultCallbackFailed || !strings.Contains(r.Reason, "withdrawn") || !strings.Contains(r.Reason, "the account was disabled") {
		t.Errorf("records: %+v", recs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if line, err := home.Accept(ctx); err == nil {
		line.Close()
		t.Error("the disabled account was called back")
	}
}

// TestServeSecondSignalEndsDrain: a second SIGTERM during the drain
// hangs up the calls left at once (with the shutdown message) instead of
// waiting for drain_timeout; a SIGHUP meanwhile is ignored, and said so.
// Operator trial: repeated signals were ignored without a word.
func TestServeSecondSignalEndsDrain(t *testing.T) {
	g := newGateway(t, gwOpts{})
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"stopping: no new calls; draining"`)
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reload ignored: the gateway is stopping"`)
	start := time.Now()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"second signal: hanging up the remaining calls now"`)
	s.expect("NO CARRIER (the gateway is shutting down)")
	g.waitLog(`"msg":"drain cut short; hanging up the remaining calls"`)
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, g.log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gateway did not exit after the second signal")
	}
	t.Logf("exited %v after the second signal (drain_timeout 20s)", time.Since(start).Round(time.Millisecond))
	if r := g.records(); len(r) != 1 || r[0].Result != store.ResultShutdown {
		t.Fatalf("records: %+v", r)
	}
}

// TestServeSIGTERMRecordsPendingCallback: a callback still waiting to be
// placed when the gateway stops is not placed, and its session gets its
// final record (callback-failed, shutdown). Regression (callback trial):
// the record was written after the store had closed, and lost.
func TestServeSIGTERMRecordsPendingCallback(t *testing.T) {
	g := newCalGateway(t, "30s", "telnet://127.0.0.1:9")
	g.loginForCallback()
	g.waitRecords(1)
	g.stop()
	if strings.Contains(g.log.String(), "call record lost") {
		t.Errorf("a record was lost:\n%s", g.log)
	}
	recs := g.records()
	// The callback's record names the listener of the call that asked
	// for it (it was empty).
	if len(recs) != 2 || recs[1].Result != store.ResultCallbackFailed || !strings.HasPrefix(recs[1].Reason, "shutdown") || recs[1].Listener != "modem" {
		t.Errorf("records: %+v", recs)
	}
}

// TestServeSIGTERMWithBridgedCallback: SIGTERM while a callback's session
// is bridged stops taking calls at once (BUSY) and drains that session
// like any call. Regression (review): ending the callback service first waited
// for the bridged session, with the listeners still answering.
func TestServeSIGTERMWithBridgedCallback(t *testing.T) {
	home := listenHome(t)
	g := newCalGateway(t, "100ms", home.Addr())
	g.loginForCallback()
	line := answerCalCallback(t, home)

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"stopping: no new calls; draining"`)
	// A new call is turned away: BUSY, shutting down.
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	heard, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(heard), "shutting down; try again later\r\nBUSY\r\n") {
		t.Fatalf("a call after SIGTERM heard %q", heard)
	}
	// The bridged callback drains: its session ends, then the gateway.
	io.WriteString(line, "bye\r\n")
	readUntilOn(t, line, "got:bye")
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the gateway did not stop:\n%s", g.log.String())
	}
}
