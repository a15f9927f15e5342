package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// e2ePassword is the test user's password; it travels in the child's
// environment, never in a URL or an argument list.
const e2ePassword = "correct horse battery staple"

// gatewayConfig is the daemon's configuration for the browser test: one
// line at a time over both listeners (the second caller hears BUSY), no
// hold-off, one login try, a shell on a pty; on the ws listener V.42
// detection first as in the demo (text login after T400), on the wss
// listener (self-signed certificate) the text login at once.
const gatewayConfig = `gateway_name = "e2e"
state_dir = %[1]q
users_file = %[2]q
default_backend = "sh"
[log]
level = "debug"
[lines]
max_concurrent = 1
per_source = 0
holdoff = "0s"
drain_timeout = "2s"
[security]
login_tries = 1
argon2_time = 1
argon2_memory_kib = 8192
throttle_base = "10ms"
throttle_max = "20ms"
[[listener]]
name = "web"
address = "ws://%[3]s/line"
v42 = "detect"
text_login = "allow"
[[listener]]
name = "webs"
address = "wss://%[5]s/line"
tls_cert = %[6]q
tls_key = %[7]q
v42 = "off"
[[backend]]
name = "sh"
type = "pty"
command = ["/bin/sh"]
env = ["PS1=$ ", "HOME=%[4]s", "LANG=C.UTF-8"]
term = "xterm"
`

// TestE2EBrowser runs the page in headless Chromium against a real
// `gateway serve` (built from this tree): text login, a command's output
// read from the terminal buffer, a ZMODEM download from lrzsz's sz on the
// pty (and one cancelled) and an upload to its rz, resize seen by the pty
// (stty size), CP437 and UTF-8, paste and copy, busy, hang-up, reconnect,
// denied, and a login with the page over https and the line over wss, the
// page served by the daemon's own ws and wss listeners. Screenshots are
// left in $DIALGATE_ARTIFACTS (default: the test's temporary directory,
// logged).
func TestE2EBrowser(t *testing.T) {
	node, chromium := needBrowser(t)
	testutil.NeedBinary(t, "sz") // the ZMODEM steps' sender and receiver (lrzsz)
	testutil.NeedBinary(t, "rz")
	testutil.CheckGoroutines(t)

	dir := t.TempDir()
	artifacts := artifactsDir(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	lineAddr, secureAddr := freeAddr(t), freeAddr(t)
	certFile, keyFile := writeCert(t, dir)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(gatewayConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), lineAddr, home, secureAddr, certFile, keyFile)
	gw := newDaemon(t, ctx, dir, conf, lineAddr, secureAddr)
	gw.addUser(t, ctx, "alice", e2ePassword)
	if err := gw.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer gw.stop()
	defer func() {
		if t.Failed() {
			gw.stop()
			t.Logf("gateway log:\n%s", gw.log())
		}
	}()

	pageURL, secureURL := "http://"+lineAddr+"/", "https://"+secureAddr+"/"
	// The daemon serves the page at / of its ws and wss listeners, next
	// to the line (bridge.OpenListener).
	for _, u := range []string{pageURL, secureURL} {
		if !servesPage(t, u) {
			t.Fatalf("gateway serve does not serve the terminal page at %s", u)
		}
	}

	// The stall hook: SIGSTOP and SIGCONT to the daemon (the page's
	// keepalive must show the call stalled, then connected again); the
	// drain hook: SIGTERM (the page must show the drain's notice), then
	// the daemon started again.
	hooks := http.NewServeMux()
	hooks.HandleFunc("/stall", gw.stallHook)
	hooks.HandleFunc("/drain", gw.drainHook)
	hook := httptest.NewServer(hooks)
	defer hook.Close()

	e2e := exec.CommandContext(ctx, node, "e2e/e2e.mjs")
	e2e.Dir = "ui"
	e2e.Env = append(os.Environ(),
		"DIALGATE_E2E_URL="+pageURL,
		"DIALGATE_E2E_SECURE_URL="+secureURL,
		"DIALGATE_E2E_USER=alice",
		"DIALGATE_E2E_PASSWORD="+e2ePassword,
		"DIALGATE_E2E_OUT="+artifacts,
		"DIALGATE_E2E_CHROMIUM="+chromium,
		"DIALGATE_E2E_STALL_URL="+hook.URL+"/stall",
		"DIALGATE_E2E_DRAIN_URL="+hook.URL+"/drain",
	)
	out, err := e2e.CombinedOutput()
	t.Logf("browser steps:\n%s", out)
	if err != nil {
		t.Fatalf("e2e.mjs: %v", err)
	}
	for _, want := range []string{"ok text login", "ok ZMODEM: sz on the host downloads a file in the browser (text login)", "ok ZMODEM: a batch of three files is three downloads; keys typed meanwhile are not sent", "ok ZMODEM: Cancel stops sz, keys typed meanwhile are not sent, the shell answers after", "ok ZMODEM: rz on the host receives a file chosen in the browser (text login)", "ok Break interrupts the program behind the gateway (text login)", "ok a stopped gateway shows as stalled, then connected again", "ok a paste over 1 MiB arrives whole", "ok a 320x200 window leaves the terminal its rows", "ok keyboard: Ctrl+Shift+F leaves the terminal for the toolbar", "ok screen-reader mode gives assistive technology the output", "ok resize reaches the pty", "ok output with DEL in it shows without console errors", "ok second caller hears busy", "ok reconnect, wrong password is denied", "ok a gateway shutting down says so in the status line", "ok login and command over wss"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("browser run lacks %q", want)
		}
	}
	for _, shot := range []string{"terminal.png", "busy.png", "denied.png"} {
		if fi, err := os.Stat(filepath.Join(artifacts, shot)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)

	gw.stop()
	checkCallRecords(t, filepath.Join(dir, "state", "calls.jsonl"))
}

// artifactsDir is where the browser tests leave their screenshots:
// $DIALGATE_ARTIFACTS/web-e2e, else dir/artifacts.
func artifactsDir(dir string) string {
	if a := os.Getenv("DIALGATE_ARTIFACTS"); a != "" {
		return filepath.Join(a, "web-e2e")
	}
	return filepath.Join(dir, "artifacts")
}

// checkCallRecords checks that the daemon recorded the browser's calls
// like any other line's: two bridged sessions, one busy, one denied, one
// ended by the drain, two hung up by the page.
func checkCallRecords(t *testing.T, path string) {
	t.Helper()
	results := map[string]int{}
	for _, rec := range readCallRecords(t, path) {
		if rec.Line != "ws" && rec.Line != "wss" {
			t.Errorf("call record %+v: line %q, want ws or wss", rec, rec.Line)
		}
		results[rec.Result]++
	}
	// abandoned: the call hung up with the Hang up button at login:;
	// shutdown: the call in session when the drain hook stopped the
	// daemon, and the one whose close waited behind a paste that `sleep`
	// never read, which the gateway held until its stop; or completed
	// (caller hung up) for the latter, when the drain's notice, written
	// to it as the stop began, found the page's socket gone.
	ended := results["shutdown"] + results["completed"]
	if results["busy"] != 1 || results["denied"] != 1 || results["completed"] < 2 || results["shutdown"] < 1 || ended != 4 || results["abandoned"] != 1 || len(results) > 5 {
		t.Errorf("call results %v, want two completed, one busy, one denied, one abandoned, one shutdown (the drain), one shutdown (or completed)", results)
	}
}

// servesPage reports whether the daemon serves the terminal page itself.
func servesPage(t *testing.T, u string) bool {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test's self-signed certificate
	}}
	defer c.CloseIdleConnections()
	r, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	return r.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`<meta name="dialgate-line"`))
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.WriteCert(t, certFile, keyFile, "dialgate e2e", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	return certFile, keyFile
}
