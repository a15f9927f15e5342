package web

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// TestE2EBrowserStatus drives the page in headless Chromium against lines
// that fail in the ways a browser hides from a page: a line that closes
// with 1009 (a message over its read limit: 16 KiB here, so that one
// 32 KiB piece of a paste exceeds it), a wrong line path (HTTP 404), an
// origin the listener refuses (HTTP 403: a name that resolves to the
// loopback address, DNS rebinding as transport/ws sees it), and a line
// that accepts the TCP connection and never answers the upgrade. The
// page's status line must say which, not "could not be reached" for all.
// Two more lines turn every call away as the gateway does
// (bridge/admit.go busyMessage): ./busy-reason says why, then BUSY,
// ./busy-bare says BUSY alone; the page, in both logins (the text one
// and V.42 in dialgate.wasm), shows busy with the reason, or with its
// generic words.
func TestE2EBrowserStatus(t *testing.T) {
	node, chromium := needBrowser(t)
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	line, err := ws.NewHandler(ws.Options{ReadLimit: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	page, err := Handler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines sync.WaitGroup
	lines.Go(func() {
		for {
			l, err := line.Accept(ctx)
			if err != nil {
				return
			}
			lines.Go(func() {
				defer l.Close()
				_, _ = l.Write([]byte("line-ready\r\n"))
				_, _ = io.Copy(io.Discard, l)
			})
		}
	})
	// The busy lines: what the gateway says to a call it has no line
	// for, then the hang-up.
	busy := map[string]string{
		"/busy-reason": "\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n",
		"/busy-bare":   "BUSY\r\n",
	}
	busyLines := make(map[string]*ws.Listener)
	for path, said := range busy {
		l, err := ws.NewHandler(ws.Options{})
		if err != nil {
			t.Fatal(err)
		}
		busyLines[path] = l
		lines.Go(func() {
			for {
				c, err := l.Accept(ctx)
				if err != nil {
					return
				}
				lines.Go(func() {
					_, _ = c.Write([]byte(said))
					c.Close()
				})
			}
		})
	}
	var (
		heldMu sync.Mutex
		held   []net.Conn // /hang's connections, closed at the end
	)
	mux := http.NewServeMux()
	mux.Handle("/line", line)
	for path, l := range busyLines {
		mux.Handle(path, l)
	}
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		// Accept the connection, never answer the upgrade.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		heldMu.Lock()
		held = append(held, conn)
		heldMu.Unlock()
	})
	mux.Handle("/", page)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	defer func() {
		srv.Close()
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
		line.Close()
		for _, l := range busyLines {
			l.Close()
		}
		cancel()
		lines.Wait()
	}()

	e2e := exec.CommandContext(ctx, node, "e2e/e2e.mjs")
	e2e.Dir = "ui"
	e2e.Env = append(os.Environ(),
		"DIALGATE_E2E_SCENARIO=status",
		"DIALGATE_E2E_URL="+srv.URL+"/",
		"DIALGATE_E2E_OUT="+artifactsDir(t.TempDir()),
		"DIALGATE_E2E_CHROMIUM="+chromium,
		"DIALGATE_E2E_WAIT_MS=45000", // the page gives up connecting after 20 s
	)
	out, err := e2e.CombinedOutput()
	t.Logf("browser steps:\n%s", out)
	if err != nil {
		t.Fatalf("e2e.mjs: %v", err)
	}
	for _, want := range []string{
		"ok a message over the line's limit: hung up with the close code",
		"ok a wrong line path: refused, HTTP 404",
		"ok a refused origin: refused, not unreachable",
		"ok a line that never answers: given up",
		"ok busy with the gateway's reason (text login)",
		"ok a bare BUSY is still busy (text login)",
		"ok busy with the gateway's reason (V.42)",
		"ok a bare BUSY is still busy (V.42)",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("browser run lacks %q", want)
		}
	}
}
