package web

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// needUI returns node's path once web/ui's packages are installed (npm ci
// in web/ui); otherwise the test is skipped locally and fails under CI.
func needUI(t *testing.T) string {
	t.Helper()
	node := testutil.NeedBinary(t, "node")
	if _, err := os.Stat(filepath.Join("ui", "node_modules", "@xterm", "xterm", "package.json")); err != nil {
		testutil.Missing(t, "web/ui/node_modules (run: cd web/ui && npm ci)")
	}
	return node
}

func runNode(t *testing.T, timeout time.Duration, node string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = "ui"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %v: %v\n%s", args, err, out)
	}
	return out
}

// TestEmbeddedCurrent rebuilds the page from web/ui (and the V.42 caller
// from web/wasm) into a temporary directory and compares it with the
// embedded web/static: a change to the sources, the lock file, or the Go
// packages the caller is built from, without `node build.mjs`, fails here.
func TestEmbeddedCurrent(t *testing.T) {
	node := needUI(t)
	out := t.TempDir()
	runNode(t, 2*time.Minute, node, "build.mjs", out)

	built := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		b, err := os.ReadFile(p)
		built[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string][]byte{}
	err = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		embedded[p[len("static/"):]] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range built {
		names = append(names, n)
	}
	for n := range embedded {
		if _, ok := built[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b, inBuild := built[n]
		e, inEmbed := embedded[n]
		switch {
		case !inEmbed:
			t.Errorf("%s is built but not in web/static (run: cd web/ui && node build.mjs)", n)
		case !inBuild:
			t.Errorf("web/static/%s is not built any more (delete it)", n)
		case !bytes.Equal(b, e) && n == "dialgate.wasm":
			t.Errorf("web/static/dialgate.wasm is stale: %d bytes embedded, %d built; it compiles web/wasm with lapm, auth and transport, so a change there needs a rebuild too (run: cd web/ui && node build.mjs)", len(e), len(b))
		case !bytes.Equal(b, e):
			t.Errorf("web/static/%s is stale: %d bytes embedded, %d built (run: cd web/ui && node build.mjs)", n, len(e), len(b))
		}
	}
	if len(built) == 0 {
		t.Fatal("build produced no files")
	}
}

// TestUIUnit runs the page's own unit tests (status line, charsets, line
// URL) under node's test runner.
func TestUIUnit(t *testing.T) {
	node := needUI(t)
	out := runNode(t, time.Minute, node, "--test", "test/")
	if !bytes.Contains(out, []byte("# fail 0")) {
		t.Fatalf("node --test:\n%s", out)
	}
	t.Logf("%s", out[bytes.LastIndex(out, []byte("# tests")):])
}

// TestWasmCaller runs web/wasm's own tests (the V.42 caller's status
// words) compiled for js/wasm under node, as the page runs them.
func TestWasmCaller(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles web/wasm for js/wasm")
	}
	testutil.NeedBinary(t, "node")
	goTool := testutil.NeedBinary(t, "go")
	goroot, err := exec.Command(goTool, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execWasm := filepath.Join(string(bytes.TrimSpace(goroot)), "lib", "wasm", "go_js_wasm_exec")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "test", "-count=1", "-exec="+execWasm, "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("js/wasm: go test ./wasm: %v\n%s", err, out)
	}
	t.Logf("js/wasm: %s", bytes.TrimSpace(out))
}
