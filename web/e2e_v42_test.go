package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport/ws"
)

// v42Gateway answers WebSocket lines with LAPM at once (no detection; as
// a listener with v42 = "lapm"), Access Security with its current host
// key, and a shell on a pty, the way the daemon's V.42 path will. It
// stands in for `gateway serve`, which does not answer V.42 yet.
type v42Gateway struct {
	t       *testing.T
	key     atomic.Pointer[auth.HostKey]
	keyGen  atomic.Int32
	session atomic.Uint64
	home    string

	mu       sync.Mutex
	verifies []string // "gen<N> <user> ok|denied", in order
	wg       sync.WaitGroup
}

func (g *v42Gateway) rotateKey() error {
	k, err := auth.GenerateHostKey(nil)
	if err != nil {
		return err
	}
	g.key.Store(&k)
	g.keyGen.Add(1)
	return nil
}

func (g *v42Gateway) serve(ctx context.Context, l *ws.Listener) {
	for {
		line, err := l.AcceptWS(ctx)
		if err != nil {
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.call(ctx, line); err != nil {
				g.t.Logf("test gateway: call ended: %v", err)
			}
		}()
	}
}

func (g *v42Gateway) call(ctx context.Context, line *ws.Line) error {
	defer line.Close()
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	link, err := lapm.Open(hctx, line, nil, lapm.Config{Role: lapm.Answerer})
	if err != nil {
		return err
	}
	defer link.Close()
	first, err := link.AcceptXID(hctx)
	if err != nil {
		return err
	}
	gen := g.keyGen.Load()
	res, err := auth.Answer(hctx, link, first, auth.AnswererConfig{
		HostKey: *g.key.Load(), Name: "e2e-v42",
		Verify: func(_ context.Context, user, pw string) (auth.User, error) {
			ok := user == "alice" && subtle.ConstantTimeCompare([]byte(pw), []byte(e2ePassword)) == 1
			g.mu.Lock()
			g.verifies = append(g.verifies, fmt.Sprintf("gen%d %s %v", gen, user, map[bool]string{true: "ok", false: "denied"}[ok]))
			g.mu.Unlock()
			if !ok {
				return auth.User{}, auth.ErrDenied
			}
			return auth.User{ID: user}, nil
		},
		AllocateSession: func() (uint64, error) { return g.session.Add(1), nil },
	})
	if err != nil {
		return err
	}
	link.SetTransform(res.Transform)
	if err := link.Establish(hctx); err != nil {
		return err
	}
	cancel()

	win := line.Info().Window
	cmd := exec.Command("/bin/sh")
	cmd.Env = []string{"PS1=$ ", "HOME=" + g.home, "TERM=xterm", "PATH=/usr/bin:/bin"}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(max(win.Cols, 1)), Rows: uint16(max(win.Rows, 1))})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var winWG sync.WaitGroup
	winWG.Add(1)
	go func() { // window changes reach the pty, as the bridge does
		defer winWG.Done()
		for {
			select {
			case w, ok := <-line.WindowChanges():
				if !ok {
					return
				}
				_ = pty.Setsize(ptmx, &pty.Winsize{Cols: uint16(w.Cols), Rows: uint16(w.Rows)})
			case <-done:
				return
			}
		}
	}()
	go func() { _, _ = io.Copy(ptmx, link); _ = cmd.Process.Kill() }()
	_, _ = io.Copy(link, ptmx) // until the shell exits or is killed
	close(done)
	winWG.Wait()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	ptmx.Close()
	return nil
}

// TestE2EBrowserV42 runs the page in V.42 mode in headless Chromium: the
// Go caller compiled to WebAssembly (web/wasm) runs LAPM and Access
// Security against a test gateway, pins its host key, reaches a shell,
// sees resizes, is denied with a wrong password, and refuses a changed
// host key without sending the password.
func TestE2EBrowserV42(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test skipped in -short mode")
	}
	node := needUI(t)
	if _, err := os.Stat(filepath.Join("ui", "node_modules", "playwright-core", "package.json")); err != nil {
		testutil.Missing(t, "playwright-core in web/ui/node_modules (run: cd web/ui && npm ci)")
	}
	chromium := testutil.NeedBinary(t, "chromium")
	testutil.CheckGoroutines(t)

	dir := t.TempDir()
	artifacts := os.Getenv("DIALGATE_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "artifacts")
	} else {
		artifacts = filepath.Join(artifacts, "web-e2e")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	g := &v42Gateway{t: t, home: dir}
	if err := g.rotateKey(); err != nil {
		t.Fatal(err)
	}
	lines, err := ws.NewHandler(ws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := Handler(Options{Mode: ModeV42})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/line", lines)
	mux.Handle("/", page)
	mux.HandleFunc("POST /test/rotate-key", func(w http.ResponseWriter, _ *http.Request) {
		if err := g.rotateKey(); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	srv := httptest.NewServer(mux)
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { g.serve(serveCtx, lines); close(served) }()
	defer func() {
		stopServe()
		<-served
		lines.Close()
		srv.Close()
		g.wg.Wait()
	}()

	e2e := exec.CommandContext(ctx, node, "e2e/e2e.mjs")
	e2e.Dir = "ui"
	e2e.Env = append(os.Environ(),
		"DIALGATE_E2E_SCENARIO=v42",
		"DIALGATE_E2E_URL="+srv.URL+"/",
		"DIALGATE_E2E_ROTATE_URL="+srv.URL+"/test/rotate-key",
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
	// The password was verified for the first key (right, then wrong)
	// and for the second key only after the pin was forgotten: the call
	// that met the changed key never sent it.
	g.mu.Lock()
	got := strings.Join(g.verifies, ", ")
	g.mu.Unlock()
	if want := "gen1 alice ok, gen1 alice denied, gen2 alice ok"; got != want {
		t.Errorf("password verifications: %s\nwant: %s", got, want)
	}
	for _, shot := range []string{"v42.png", "hostkey.png"} {
		if fi, err := os.Stat(filepath.Join(artifacts, shot)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)
}
