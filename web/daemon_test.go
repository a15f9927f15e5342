package web

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// daemon is `gateway serve` built from this tree and run as a child
// process, for the browser tests: the page and its line are the daemon's
// own, as in production. It can be stopped and started again (a new host
// key between runs); each run logs to its own file.
type daemon struct {
	bin, cfg, dir string
	addrs         []string // host:port of each listener, waited for at start

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited (then exitErr is set)
	exitErr error
	logs    []string // log file of each run
}

// newDaemon builds the gateway binary into dir and writes cfg (the
// configuration's text) as dir/gateway.toml. addrs are the listeners'
// host:ports.
func newDaemon(t *testing.T, ctx context.Context, dir, cfg string, addrs ...string) *daemon {
	t.Helper()
	goTool := testutil.NeedBinary(t, "go")
	d := &daemon{bin: filepath.Join(dir, "gateway"), cfg: filepath.Join(dir, "gateway.toml"), dir: dir, addrs: addrs}
	build := exec.CommandContext(ctx, goTool, "build", "-o", d.bin, "github.com/dialgate/dialgate/cmd/gateway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build gateway: %v\n%s", err, out)
	}
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// run runs a gateway subcommand with the test's configuration (stdin:
// input) and returns its standard output.
func (d *daemon) run(ctx context.Context, input string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.bin, append(args, "--config", d.cfg)...)
	cmd.Stdin = strings.NewReader(input)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// addUser adds a user with `gateway user add` (password on stdin, never
// in an argument).
func (d *daemon) addUser(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	if _, err := d.run(ctx, password+"\n", "user", "add", "--password-stdin", user); err != nil {
		t.Fatal(err)
	}
}

// keygen creates the host key with `gateway keygen` (replacing one with
// force) and returns the fingerprint it printed.
func (d *daemon) keygen(ctx context.Context, force bool) (string, error) {
	args := []string{"keygen"}
	if force {
		args = append(args, "--force")
	}
	out, err := d.run(ctx, "", args...)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(out) {
		if fp, ok := strings.CutPrefix(strings.TrimSpace(line), "fingerprint: "); ok {
			return fp, nil
		}
	}
	return "", fmt.Errorf("gateway keygen printed no fingerprint:\n%s", out)
}

// start starts `gateway serve` and waits until every listener answers.
func (d *daemon) start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("gateway already running")
	}
	logPath := filepath.Join(d.dir, fmt.Sprintf("gateway-%d.log", len(d.logs)+1))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(d.bin, "serve", "--config", d.cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile // files: no copying goroutines
	if err := cmd.Start(); err != nil {
		return err
	}
	d.logs = append(d.logs, logPath)
	done := make(chan struct{})
	d.cmd, d.done = cmd, done
	go func() {
		err := cmd.Wait()
		d.exitErr = err // read after done is closed
		close(done)
	}()
	for _, a := range d.addrs {
		if err := waitListening(ctx, a, done); err != nil {
			d.stopLocked()
			return fmt.Errorf("%w (exit status: %v)", err, d.exitStatus())
		}
	}
	return nil
}

// stop ends the daemon with SIGTERM (it drains its calls), killing it
// after 10 s. It does nothing when the daemon is not running.
func (d *daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *daemon) stopLocked() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

// signal sends sig to the running daemon (the V.42 test stalls it with
// SIGSTOP and SIGCONT).
func (d *daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return errors.New("gateway not running")
	}
	return d.cmd.Process.Signal(sig)
}

// stallHook is the browser scripts' stall hook (DIALGATE_E2E_STALL_URL):
// POST ?signal=stop sends the daemon SIGSTOP, ?signal=cont SIGCONT.
func (d *daemon) stallHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	sig := stallSignals[r.URL.Query().Get("signal")]
	if sig == 0 {
		http.Error(w, "signal=stop or signal=cont", http.StatusBadRequest)
		return
	}
	if err := d.signal(sig); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if sig == stallSignals["stop"] {
		// The stop takes effect a moment after kill(2) returns: keys the
		// script types next must find the daemon stopped (phone trial:
		// two of nine were echoed first, and the page named seven).
		d.mu.Lock()
		pid := d.cmd.Process.Pid
		d.mu.Unlock()
		if err := waitStopped(r.Context(), pid); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}

// drainHook is the browser script's drain hook (DIALGATE_E2E_DRAIN_URL):
// POST stops the daemon with SIGTERM, as systemd does, which drains its
// calls (a WebSocket caller in session is sent the drain's notice, and
// hung up at drain_timeout), then starts it again on the same
// addresses, and answers once it listens.
func (d *daemon) drainHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	d.stop()
	if err := d.start(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// exitStatus is how the last run ended, once it has.
func (d *daemon) exitStatus() error {
	select {
	case <-d.done:
		return d.exitErr
	default:
		return errors.New("still running")
	}
}

// log returns the logs of all runs so far.
func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var sb strings.Builder
	for i, p := range d.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			b = []byte(err.Error())
		}
		fmt.Fprintf(&sb, "--- gateway run %d (%s)\n%s", i+1, p, b)
	}
	return sb.String()
}

// callRecord is the part of a calls.jsonl record the browser tests check.
type callRecord struct {
	Session  uint64 `json:"session"`
	User     string `json:"user"`
	Listener string `json:"listener"`
	Line     string `json:"line"`
	Mode     string `json:"mode"`
	Result   string `json:"result"`
	Reason   string `json:"reason"`
	LAPM     *struct {
		Sealed bool   `json:"sealed"`
		Cipher string `json:"cipher"`
	} `json:"lapm"`
}

// readCallRecords reads the daemon's call records, by session number.
func readCallRecords(t *testing.T, path string) []callRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("call records: %v", err)
	}
	defer f.Close()
	var recs []callRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec callRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("call record %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(recs, func(a, b callRecord) int { return cmp.Compare(a.Session, b.Session) })
	return recs
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitListening waits until addr accepts TCP connections; it fails when
// exited is closed first (the process ended), or when ctx ends.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("gateway exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("gateway not answering on %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// needBrowser returns node and Debian's chromium for the browser tests,
// with playwright-core installed in web/ui; it skips in -short mode and,
// like every test with a real peer, fails under CI=true when one is
// missing.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end test skipped in -short mode")
	}
	node = needUI(t)
	if _, err := os.Stat(filepath.Join("ui", "node_modules", "playwright-core", "package.json")); err != nil {
		testutil.Missing(t, "playwright-core in web/ui/node_modules (run: cd web/ui && npm ci)")
	}
	return node, testutil.NeedBinary(t, "chromium")
}
