package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// v42GatewayConfig is the daemon's configuration for the browser's V.42
// test: one line at a time (the second caller hears BUSY), no hold-off,
// cheap argon2id, a shell on a pty. Listener "v42" answers with LAPM at
// once (v42 = "lapm": its page logs in with V.42 and Access Security);
// listener "detect" runs V.42 detection first (its page defaults to the
// text login; ?mode=v42 selects the V.42 login); listener "v42s" is
// "v42" over wss (the page over https), as docs/browser.md recommends.
const v42GatewayConfig = `gateway_name = "e2e-v42"
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
argon2_time = 1
argon2_memory_kib = 8192
throttle_base = "10ms"
throttle_max = "20ms"
[[listener]]
name = "v42"
address = "ws://%[3]s/line"
v42 = "lapm"
security = "required"
[[listener]]
name = "detect"
address = "ws://%[4]s/line"
v42 = "detect"
[[listener]]
name = "v42s"
address = "wss://%[6]s/line"
tls_cert = %[7]q
tls_key = %[8]q
v42 = "lapm"
security = "required"
[[backend]]
name = "sh"
type = "pty"
command = ["/bin/sh"]
env = ["PS1=$ ", "HOME=%[5]s", "LANG=C.UTF-8"]
term = "xterm"
`

// TestE2EBrowserV42 runs the page's V.42 login (the Go caller compiled to
// WebAssembly, web/wasm) in headless Chromium against a real `gateway
// serve` built from this tree, with a users file from `gateway user add`
// and a host key from `gateway keygen`: first-use pin of the host key, a
// command, a ZMODEM download and upload (lrzsz's sz and rz) and a resize
// on the pty behind a sealed link, a second caller hearing busy, a wrong
// password denied, the V.42 login on a listener
// with v42 = "detect" and over wss, then the daemon restarted with a new
// key (`gateway keygen --force`): the page refuses the call before the
// password is sent, and after "Forget host key" pins the new key. The
// call records must say how each call went, with no password checked for
// the refused one. Screenshots and the daemon's log are left in
// $DIALGATE_ARTIFACTS/web-e2e (default: the test's temporary directory,
// logged).
func TestE2EBrowserV42(t *testing.T) {
	node, chromium := needBrowser(t)
	testutil.NeedBinary(t, "sz") // the ZMODEM steps' sender and receiver (lrzsz)
	testutil.NeedBinary(t, "rz")
	testutil.CheckGoroutines(t)

	dir := t.TempDir()
	artifacts := artifactsDir(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	lapmAddr, detectAddr, secureAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	certFile, keyFile := writeCert(t, dir)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(v42GatewayConfig, filepath.Join(dir, "state"), filepath.Join(dir, "users.toml"), lapmAddr, detectAddr, home, secureAddr, certFile, keyFile)
	gw := newDaemon(t, ctx, dir, conf, lapmAddr, detectAddr, secureAddr)
	gw.addUser(t, ctx, "alice", e2ePassword)
	firstKey, err := gw.keygen(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
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

	// The key rotation hook the browser script calls: stop the daemon,
	// give it a new host key, start it again on the same addresses, and
	// answer with the new fingerprint.
	var (
		keyMu  sync.Mutex
		newKey string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/stall" {
			gw.stallHook(w, r)
			return
		}
		gw.stop()
		fp, err := gw.keygen(r.Context(), true)
		if err == nil {
			err = gw.start(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keyMu.Lock()
		newKey = fp
		keyMu.Unlock()
		_, _ = io.WriteString(w, fp)
	}))
	defer hook.Close()

	pageURL, detectURL, secureURL := "http://"+lapmAddr+"/", "http://"+detectAddr+"/", "https://"+secureAddr+"/"
	for _, u := range []string{pageURL, detectURL, secureURL} {
		if !servesPage(t, u) {
			t.Fatalf("gateway serve does not serve the terminal page at %s", u)
		}
	}

	e2e := exec.CommandContext(ctx, node, "e2e/e2e.mjs")
	e2e.Dir = "ui"
	e2e.Env = append(os.Environ(),
		"DIALGATE_E2E_SCENARIO=v42",
		"DIALGATE_E2E_URL="+pageURL,
		"DIALGATE_E2E_DETECT_URL="+detectURL,
		"DIALGATE_E2E_SECURE_URL="+secureURL,
		"DIALGATE_E2E_FINGERPRINT="+firstKey,
		"DIALGATE_E2E_ROTATE_URL="+hook.URL+"/rotate",
		"DIALGATE_E2E_STALL_URL="+hook.URL+"/stall",
		"DIALGATE_E2E_USER=alice",
		"DIALGATE_E2E_PASSWORD="+e2ePassword,
		"DIALGATE_E2E_OUT="+artifacts,
		"DIALGATE_E2E_CHROMIUM="+chromium,
	)
	out, err := e2e.CombinedOutput()
	t.Logf("browser steps:\n%s", out)
	if err != nil {
		t.Fatalf("e2e.mjs: %v", err)
	}
	for _, want := range []string{
		"ok V.42 call with Access Security; host key pinned on first use",
		"ok command over the sealed link",
		"ok ZMODEM: sz on the host downloads a file in the browser (V.42)",
		"ok ZMODEM: rz on the host receives a file chosen in the browser (V.42)",
		"ok Break interrupts the program behind the gateway",
		"ok a paste over 1 MiB arrives whole over V.42",
		"ok keys typed while the gateway is stalled all arrive",
		"ok a stopped gateway shows as stalled over V.42, then connected again",
		"ok resize reaches the pty over V.42",
		"ok second caller hears busy",
		"ok wrong password is denied",
		"ok V.42 login on a listener with v42 = detect",
		"ok the gateway ending a V.42 call leaves the keyboard in the terminal",
		"ok V.42 login over wss",
		"ok changed host key is refused before the password is sent",
		"ok forget the key, call again, new key pinned",
		"ok no page errors",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("browser run lacks %q", want)
		}
	}
	keyMu.Lock()
	if newKey == "" || newKey == firstKey {
		t.Errorf("host key not rotated: %q then %q", firstKey, newKey)
	}
	keyMu.Unlock()
	for _, shot := range []string{"v42.png", "busy-v42.png", "denied-v42.png", "hostkey.png"} {
		if fi, err := os.Stat(filepath.Join(artifacts, shot)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)

	gw.stop()
	log := gw.log()
	if err := os.WriteFile(filepath.Join(artifacts, "gateway-v42.log"), []byte(log), 0o600); err != nil {
		t.Error(err)
	}
	recs := readCallRecords(t, filepath.Join(dir, "state", "calls.jsonl"))
	if !checkV42CallRecords(t, recs) {
		return
	}
	// The call that met the new host key ended before RESPONSE (user ID
	// and password): the daemon was still waiting for it, never learnt
	// the user, and so never checked a password. The record says so in
	// words; the protocol detail is in the debug log.
	refused := recs[5]
	if refused.Reason != "caller hung up during the V.42 login" {
		t.Errorf("refused call's record: reason %q, want the caller hung up during the V.42 login", refused.Reason)
	}
	if !strings.Contains(log, "waiting for RESPONSE") {
		t.Error("the log does not say the gateway was waiting for RESPONSE")
	}
	if line := callEndedLine(log, refused.Session); line == "" || strings.Contains(line, `"user"`) {
		t.Errorf("log of the refused call (session %d): %q, want a call ended line without a user", refused.Session, line)
	}
}

// callEndedLine returns the daemon's "call ended" log line of a session.
func callEndedLine(log string, session uint64) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "\tcall ended\t") && strings.Contains(line, fmt.Sprintf(`"session": %d,`, session)) {
			return line
		}
	}
	return ""
}

// checkV42CallRecords checks the daemon's records of the browser's V.42
// calls, in the order the script places them; false if their number is
// wrong.
func checkV42CallRecords(t *testing.T, recs []callRecord) bool {
	t.Helper()
	type want struct {
		listener, result, user string
		sealed                 bool // V.42 with Access Security, sealed data phase
	}
	line := map[string]string{"v42": "ws", "detect": "ws", "v42s": "wss"}
	wants := []want{
		{"v42", "completed", "alice", true}, // pin, command, resize
		{"v42", "busy", "", false},          // the second page, while the first holds the line
		{"v42", "denied", "alice", false},   // wrong password
		{"detect", "completed", "alice", true},
		{"v42s", "completed", "alice", true},
		{"v42", "abandoned", "", false}, // the new host key refused: no RESPONSE, no user, no password check
		{"v42", "completed", "alice", true},
	}
	if len(recs) != len(wants) {
		t.Errorf("%d call records, want %d: %+v", len(recs), len(wants), recs)
		return false
	}
	for i, w := range wants {
		r := recs[i]
		sealed := r.LAPM != nil && r.LAPM.Sealed
		ok := r.Listener == w.listener && r.Result == w.result && r.User == w.user && sealed == w.sealed && r.Line == line[w.listener]
		// WebAssembly has no AES hardware: the page never offers
		// AES-256-GCM (docs/access-security.md §3).
		if sealed && r.LAPM.Cipher != "chacha20-poly1305" {
			t.Errorf("call %d (session %d): data cipher %q, want chacha20-poly1305 from the page", i+1, r.Session, r.LAPM.Cipher)
		}
		if w.result != "busy" && r.Mode != "v42" {
			ok = false
		}
		if !ok {
			t.Errorf("call %d (session %d): listener %s, result %s (%s), user %q, mode %q, sealed %v; want listener %s, result %s, user %q, mode v42, sealed %v",
				i+1, r.Session, r.Listener, r.Result, r.Reason, r.User, r.Mode, sealed, w.listener, w.result, w.user, w.sealed)
		}
	}
	return true
}
