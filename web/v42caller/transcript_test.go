package v42caller

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript.golden")

// tape records the octets a Line sends.
type tape struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tape) add(p []byte) {
	t.mu.Lock()
	t.buf.Write(p)
	t.mu.Unlock()
}

func (t *tape) snapshot() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf.Bytes())
}

func seeded(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// TestTranscript runs a call with seeded randomness against a test gateway
// and compares the octets on the line with testdata/transcript.golden:
// from the caller, the parameter negotiation, INITIATE, RESPONSE, SABME
// and one sealed I-frame; from the gateway, its replies up to UA. The
// same test compiled to WebAssembly (TestTranscriptWasm) must produce the
// same octets, so the browser's caller speaks exactly as the native one.
func TestTranscript(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	const t401 = 20 * time.Second // no retransmission in a slow test run

	var fromCaller, fromGateway tape
	var c, g *Line
	c = NewLine(func(p []byte) error { fromCaller.add(p); return g.Feed(p) }, func() { g.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
	g = NewLine(func(p []byte) error { fromGateway.add(p); return c.Feed(p) }, func() { c.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})

	key, err := auth.GenerateHostKey(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	gotHello := make(chan []byte, 1)
	gwDone := make(chan error, 1)
	go func() {
		gwDone <- func() error {
			defer g.Close()
			link, err := lapm.Open(ctx, g, nil, lapm.Config{Role: lapm.Answerer, T401: t401, Now: now})
			if err != nil {
				return err
			}
			defer link.Close()
			first, err := link.AcceptXID(ctx)
			if err != nil {
				return err
			}
			res, err := auth.Answer(ctx, link, first, auth.AnswererConfig{
				HostKey: key, Name: "transcript", Rand: seeded(2), Now: now,
				Verify: func(_ context.Context, user, _ string) (auth.User, error) {
					return auth.User{ID: user}, nil
				},
				AllocateSession: func() (uint64, error) { return 7, nil },
			})
			if err != nil {
				return err
			}
			link.SetTransform(res.Transform)
			if err := link.Establish(ctx); err != nil {
				return err
			}
			hello := make([]byte, 5)
			if _, err := io.ReadFull(link, hello); err != nil {
				return err
			}
			gotHello <- hello
			_, err = io.Copy(io.Discard, link)
			return err
		}()
	}()

	s, err := Call(ctx, c, Config{UserID: "alice", Password: []byte("transcript-pw"), Host: "gw:1",
		SkipDetection: true, Rand: seeded(3), Now: now, T401: t401,
		CheckHostKey: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	gatewaySide := fromGateway.snapshot() // up to UA: the caller is in the data phase
	if _, err := s.Link.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-gotHello:
		if string(h) != "hello" {
			t.Fatalf("gateway read %q", h)
		}
	case err := <-gwDone:
		t.Fatalf("gateway ended: %v", err)
	}
	callerSide := fromCaller.snapshot()
	s.Link.Close()
	<-gwDone

	got := fmt.Sprintf("# caller -> gateway (%d octets)\n%s# gateway -> caller (%d octets)\n%s",
		len(callerSide), hexLines(callerSide), len(gatewaySide), hexLines(gatewaySide))
	golden := filepath.Join("testdata", "transcript.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestTranscript -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s/%s transcript differs from %s (run with -update if the protocol changed on purpose):\n%s", runtime.GOOS, runtime.GOARCH, golden, firstDiff(got, string(want)))
	}
}

func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

// TestTranscriptWasm runs TestTranscript compiled for GOOS=js GOARCH=wasm
// under node (Go's go_js_wasm_exec), the runtime of the browser's caller.
func TestTranscriptWasm(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("already running as WebAssembly")
	}
	if testing.Short() {
		t.Skip("compiles the package for js/wasm")
	}
	testutil.NeedBinary(t, "node")
	goTool := testutil.NeedBinary(t, "go")
	goroot, err := exec.Command(goTool, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execWasm := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "go_js_wasm_exec")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "test", "-count=1", "-exec="+execWasm, "-run=^TestTranscript$", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("js/wasm: go test: %v\n%s", err, out)
	}
	t.Logf("js/wasm: %s", bytes.TrimSpace(out))
}
