package bridge

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// sizedReader returns, per Read, the next of its answers (octets, capped
// at len(p)) and records len(p).
type sizedReader struct {
	answers []int
	sizes   []int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if len(r.answers) == 0 {
		return 0, io.EOF
	}
	n := min(r.answers[0], len(p))
	r.answers = r.answers[1:]
	return n, nil
}

// TestCopyCountBuffers: a direction reads into its small buffer, takes a
// bulk buffer once a read fills the small one, and gives it back as soon
// as a read comes back short, so an idle session waits on the small one.
func TestCopyCountBuffers(t *testing.T) {
	r := &sizedReader{answers: []int{1, smallBufSize, bulkBufSize, bulkBufSize, 100, 3, smallBufSize, 10}}
	var out bytes.Buffer
	var n atomic.Int64
	if err := copyCount(&out, r, &n); err != io.EOF {
		t.Fatalf("copyCount: %v", err)
	}
	want := []int{smallBufSize, smallBufSize, bulkBufSize, bulkBufSize, bulkBufSize, smallBufSize, smallBufSize, bulkBufSize, smallBufSize}
	if !slicesEqual(r.sizes, want) {
		t.Errorf("read sizes %v, want %v", r.sizes, want)
	}
	if total := 1 + smallBufSize + 2*bulkBufSize + 100 + 3 + smallBufSize + 10; n.Load() != int64(total) || out.Len() != total {
		t.Errorf("copied %d (counted %d), want %d", out.Len(), n.Load(), total)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestIdleSessionGoroutines: an idle bridged session on a telnet line
// costs the gateway three goroutines (the call, one copy each way): no
// goroutine waits for window changes.
func TestIdleSessionGoroutines(t *testing.T) {
	testutil.CheckGoroutines(t)
	const calls = 8
	held := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) { <-held }) // one goroutine per backend connection
	defer close(held)
	c := testConfig(t, config.Backend{Name: "idle", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.MaxConcurrent = calls
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	g, err := Start(t.Context(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"i": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(t.Context())
	before := runtime.NumGoroutine()
	for range calls {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		login(t, conn, "i", "pw")
	}
	// Settle: every call bridged, the login's helpers gone (a fourth
	// goroutine per session in the gateway never goes).
	deadline := time.Now().Add(10 * time.Second)
	for g.ActiveCalls() != calls || runtime.NumGoroutine()-before > calls*4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls, %d goroutines more than before", g.ActiveCalls(), runtime.NumGoroutine()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if per := float64(runtime.NumGoroutine()-before) / calls; per > 4 {
		t.Errorf("%.2f goroutines per idle session (gateway and backend), want 4", per)
	}
}
