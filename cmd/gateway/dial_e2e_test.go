package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
)

// End-to-end tests of the built binary: `gateway dial` (a real process,
// stdin and stdout pipes) against `gateway serve` (newGateway in
// serve_test.go) on loopback, with a raw TCP echo backend.

// echoBackend is a loopback TCP echo server.
func echoBackend(t *testing.T) string {
	return tcpServer(t, func(c net.Conn) {
		io.Copy(c, c)
		c.Close()
	})
}

// tcpServer answers TCP connections on loopback with handle, each on a
// goroutine of its own, until the test ends; it returns the address.
func tcpServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dialProc is a `gateway dial` process.
type dialProc struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *dialBuffer
	done           chan int
}

func startDialProc(t *testing.T, env []string, args ...string) *dialProc {
	t.Helper()
	p := &dialProc{stdout: &dialBuffer{}, stderr: &dialBuffer{}, done: make(chan int, 1)}
	p.cmd = exec.Command(gatewayBinary(t), append([]string{"dial"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.done <- 0
		case errors.As(err, &ee):
			p.done <- ee.ExitCode()
		default:
			p.done <- -1
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *dialProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway dial did not exit; stderr:\n%s", p.stderr)
		return -1
	}
}

var fingerprintRE = regexp.MustCompile(`host key fingerprint (SHA256:[A-Za-z0-9+/]{43})`)

// TestE2EDialV42 calls the daemon with the full path: V.42 detection,
// LAPM, Access Security (trust on first use), sealed data to a raw TCP
// backend; the end of stdin hangs up after the echo drained.
func TestE2EDialV42(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	m := fingerprintRE.FindStringSubmatch(g.log.String())
	if m == nil {
		t.Fatalf("no fingerprint in the daemon's output:\n%s", g.log)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu", "--known-hosts", kh, "telnet://"+g.addr)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "V.42 with Access Security") })
	io.WriteString(p.stdin, "through the sealed link\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "through the sealed link\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\ngateway:\n%s", code, p.stderr, g.log)
	}
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), g.addr+" "+m[1]) {
		t.Errorf("known_hosts %q does not trust %s", b, m[1])
	}
	recs := g.waitRecords(1)
	r := recs[len(recs)-1]
	if r.User != "bob" || r.Mode != "v42" || r.LAPM == nil || !r.LAPM.Sealed || r.BytesIn != int64(len("through the sealed link\r")) {
		t.Errorf("record %+v (lapm %+v)", r, r.LAPM)
	}
	// dial and serve both run the default cipher policy, and dial names
	// the cipher when it connects.
	if want := defaultCipher().String(); r.LAPM != nil && r.LAPM.Cipher != want || !strings.Contains(p.stderr.String(), "Access Security ("+want+")") {
		t.Errorf("cipher: record %+v, dial said %q; want %s", r.LAPM, p.stderr.String(), want)
	}

	// The same host with a pinned fingerprint that is not its key.
	other, _ := auth.GenerateHostKey(nil)
	p = startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--fingerprint", other.Fingerprint(), "--known-hosts", kh, "telnet://"+g.addr)
	if code := p.wait(t); code != exitHostKey {
		t.Fatalf("pinned other key: exit %d; stderr:\n%s", code, p.stderr)
	}
}

// TestE2EDialV42Denied: a wrong password is REJECTed: exit 10 and a
// "denied" record.
func TestE2EDialV42Denied(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), v42: "detect"})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	p := startDialProc(t, nil, "--user", "bob", "--password-file", pw, "--tofu", "--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
	if code := p.wait(t); code != exitDenied {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitDenied, p.stderr)
	}
	recs := g.waitRecords(1)
	if r := recs[len(recs)-1]; r.Result != "denied" || r.Mode != "v42" {
		t.Errorf("record %+v", r)
	}
}

// TestE2EDialText: the text login path through the telnet line, typed on
// stdin, to the echo backend.
func TestE2EDialText(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.NeedBinary(t, "sh")
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t)})
	p := startDialProc(t, nil, "--text", "telnet://"+g.addr)
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "login: ") })
	io.WriteString(p.stdin, "bob\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "assword: ") })
	io.WriteString(p.stdin, "pw-bob\r")
	io.WriteString(p.stdin, "typed after login\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "typed after login\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if strings.Contains(p.stdout.String(), "pw-bob") {
		t.Error("the password was echoed")
	}
	recs := g.waitRecords(1)
	if r := recs[len(recs)-1]; r.Mode != "text" || r.User != "bob" || r.Result != "completed" {
		t.Errorf("record %+v", r)
	}
}

// newCallbackGateway starts `gateway serve` (listener v42 mode v42) with a
// quick callback policy and one user, carol (password pw-carol), whose
// callback address is answer and whose backend is the echo server.
func newCallbackGateway(t *testing.T, v42, answer, echo string) *testGateway {
	t.Helper()
	dir := t.TempDir()
	g := &testGateway{t: t, bin: gatewayBinary(t), dir: dir, cfgPath: filepath.Join(dir, "gateway.toml"), addr: freePort(t), metrics: freePort(t)}
	conf := fmt.Sprintf(serveConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), g.addr, 4, "0", echo, v42, g.metrics, false) +
		"[callback]\ndelay = \"200ms\"\nattempts = 2\nbackoff = \"1s\"\nexpiry = \"1m\"\n"
	if err := os.WriteFile(g.cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	u := auth.NewUsers()
	h, err := auth.HashPassword("pw-carol", auth.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add(auth.User{ID: "carol", Hash: h, Backend: "echo", Callback: answer}); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(filepath.Join(dir, "users.toml")); err != nil {
		t.Fatal(err)
	}
	g.start()
	t.Cleanup(g.stop)
	return g
}

// checkCallbackRecords waits for the first call's record (result
// callback) and the callback's (mode callback, completed, one dial).
func checkCallbackRecords(t *testing.T, g *testGateway) {
	t.Helper()
	recs := g.waitRecords(2)
	if len(recs) != 2 || recs[0].Result != "callback" || recs[1].Mode != "callback" || recs[1].Session != recs[0].Session ||
		recs[1].Result != "completed" || recs[1].CallbackAttempts != 1 || recs[1].User != "carol" {
		t.Errorf("records: %+v", recs)
	}
}

// TestE2EDialV42Callback: callback end to end with the binaries: Access
// Security CONFIRM with a callback, the daemon hangs up and calls
// --answer, dial proves the ticket (phases v/vi) and the sealed session to
// the echo backend runs on the callback.
func TestE2EDialV42Callback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	answer := "telnet://" + freePort(t)
	g := newCallbackGateway(t, "detect", answer, echoBackend(t))
	p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-carol"}, "--user", "carol", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, "telnet://"+g.addr)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "callback answered") })
	io.WriteString(p.stdin, "on the callback line\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "on the callback line\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\ngateway:\n%s", code, p.stderr, g.log)
	}
	checkCallbackRecords(t, g)
}

// TestE2EDialTextCallback: the same for a text login: the daemon hangs up,
// calls --answer, asks for the user name, and bridges.
func TestE2EDialTextCallback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	answer := "telnet://" + freePort(t)
	g := newCallbackGateway(t, "off", answer, echoBackend(t))
	p := startDialProc(t, nil, "--text", "--answer", answer, "telnet://"+g.addr)
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "login: ") })
	io.WriteString(p.stdin, "carol\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "assword: ") })
	io.WriteString(p.stdin, "pw-carol\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "Type your user name to accept: ") })
	io.WriteString(p.stdin, "carol\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "Callback accepted.") })
	io.WriteString(p.stdin, "echoed on the callback\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "echoed on the callback\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\ngateway:\n%s", code, p.stderr, g.log)
	}
	checkCallbackRecords(t, g)
}

// TestE2EDialV42OverWebSocket: the full path over a ws:// line (binary
// subprotocol), whose lines have no read deadlines of their own: dial's
// read-ahead gives detection its T400.
func TestE2EDialV42OverWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	g := &testGateway{t: t, bin: gatewayBinary(t), dir: dir, cfgPath: filepath.Join(dir, "gateway.toml"), addr: freePort(t), metrics: freePort(t)}
	wsAddr := freePort(t)
	conf := fmt.Sprintf(serveConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), g.addr, 4, "0", echoBackend(t), "off", g.metrics, false) +
		fmt.Sprintf("[[listener]]\nname = \"web\"\naddress = \"ws://%s/line\"\nv42 = \"detect\"\ntext_login = \"allow\"\nbackend = \"echo\"\n", wsAddr)
	if err := os.WriteFile(g.cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeUsers(map[string]string{"bob": "echo"})
	g.start()
	t.Cleanup(g.stop)
	g.waitLog(`"listener":"web"`)
	p := startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu",
		"--known-hosts", filepath.Join(dir, "kh"), "ws://"+wsAddr+"/line")
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "V.42 with Access Security") })
	io.WriteString(p.stdin, "over the web line\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "over the web line\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\ngateway:\n%s", code, p.stderr, g.log)
	}
	recs := g.waitRecords(1)
	if r := recs[len(recs)-1]; r.Mode != "v42" || r.Listener != "web" || r.LAPM == nil || !r.LAPM.Sealed || r.LAPM.Cipher != defaultCipher().String() {
		t.Errorf("record %+v (lapm %+v)", r, r.LAPM)
	}
}

// defaultCipher is the data cipher of a V.42 call whose two ends both run
// auth.CipherAuto (gateway dial, the modem and serve) on this machine.
func defaultCipher() auth.DataCipher {
	if auth.AESHardware() {
		return auth.CipherAESGCM
	}
	return auth.CipherChaChaPoly
}

// TestE2EDialTLS: gateway dial calls a telnet:// listener with a
// certificate as telnets:// (and a tcp:// one as tls://), V.42 and text,
// trusting the certificate through SSL_CERT_FILE; without it, the call
// fails with the certificate named as the cause and what to do.
func TestE2EDialTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "gateway")
	telnetsAddr, tlsAddr := freePort(t), freePort(t)
	extra := fmt.Sprintf(`[[listener]]
name = "telnets"
address = "telnet://%s"
v42 = "detect"
text_login = "secure"
tls_cert = %q
tls_key = %q
[[listener]]
name = "tls"
address = "tcp://%s"
v42 = "detect"
tls_cert = %q
tls_key = %q
`, telnetsAddr, certFile, keyFile, tlsAddr, certFile, keyFile)
	g := newGateway(t, gwOpts{echoAddr: echoBackend(t), extraConfig: extra})
	trust := "SSL_CERT_FILE=" + certFile
	kh := filepath.Join(dir, "known_hosts")

	for _, c := range []struct{ url, line string }{{"telnets://" + telnetsAddr, "telnets"}, {"tls://" + tlsAddr, "tls"}} {
		p := startDialProc(t, []string{trust, "DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu", "--known-hosts", kh, c.url)
		waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "V.42 with Access Security") })
		io.WriteString(p.stdin, "sealed inside TLS\r")
		waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "sealed inside TLS\r") })
		p.stdin.Close()
		if code := p.wait(t); code != exitOK {
			t.Fatalf("%s: exit %d; stderr:\n%s\ngateway:\n%s", c.url, code, p.stderr, g.log)
		}
		recs := g.waitRecords(1)
		if r := recs[len(recs)-1]; r.Mode != "v42" || r.User != "bob" || r.Line != c.line {
			t.Errorf("%s: record %+v", c.url, r)
		}
	}

	// The text login: text_login = "secure" takes it, as the line is
	// encrypted.
	n := len(g.waitRecords(2))
	p := startDialProc(t, []string{trust}, "--text", "telnets://"+telnetsAddr)
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "login: ") })
	io.WriteString(p.stdin, "bob\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "assword: ") })
	io.WriteString(p.stdin, "pw-bob\rtyped inside TLS\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "typed inside TLS\r") })
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("text: exit %d; stderr:\n%s", code, p.stderr)
	}
	recs := g.waitRecords(n + 1)
	if r := recs[len(recs)-1]; r.Mode != "text" || r.Line != "telnets" {
		t.Errorf("text: record %+v", r)
	}

	// Not trusted: no carrier, and why.
	p = startDialProc(t, []string{"SSL_CERT_FILE=" + filepath.Join(dir, "none.pem")}, "--text", "telnets://"+telnetsAddr)
	if code := p.wait(t); code != exitNoCarrier || !strings.Contains(p.stderr.String(), "dial with SSL_CERT_FILE=cert.pem") {
		t.Errorf("untrusted: exit %d; stderr:\n%s", code, p.stderr)
	}
	// A plain telnet listener dialed as telnets://: the handshake fails.
	p = startDialProc(t, nil, "--text", "telnets://"+g.addr)
	if code := p.wait(t); code != exitNoCarrier || !strings.Contains(p.stderr.String(), "TLS handshake") {
		t.Errorf("plain listener: exit %d; stderr:\n%s", code, p.stderr)
	}
	// The TLS listener called in the clear: the gateway says so during
	// V.42 detection, and dial repeats it with the scheme to use (it said
	// "V.42 detection: lapm: detection: EOF" before).
	p = startDialProc(t, []string{"DIALGATE_PASSWORD=pw-bob"}, "--user", "bob", "--tofu", "--known-hosts", kh, "telnet://"+telnetsAddr)
	if code := p.wait(t); code != exitNoCarrier ||
		!strings.Contains(p.stderr.String(), "the gateway hung up before V.42: NO CARRIER (this line speaks TLS only") ||
		!strings.Contains(p.stderr.String(), "telnets://host:port") {
		t.Errorf("TLS listener in the clear: exit %d; stderr:\n%s", code, p.stderr)
	}
	// The same as a text call: the gateway's words reach the terminal
	// once the typing fills a TLS record header, and the call did not
	// connect (exit 0 before).
	p = startDialProc(t, nil, "--text", "telnet://"+telnetsAddr)
	io.WriteString(p.stdin, "hello\r")
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), "NO CARRIER (this line speaks TLS only") })
	if code := p.wait(t); code != exitNoCarrier || !strings.Contains(p.stderr.String(), "telnets://host:port") {
		t.Errorf("text call to the TLS listener in the clear: exit %d; stderr:\n%s", code, p.stderr)
	}
}
