package bridge

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// TestTelnetBackendWindow: a telnet caller's terminal type and window
// size reach a telnet backend (RFC 1091, RFC 1073), and so does a resize.
func TestTelnetBackendWindow(t *testing.T) {
	testutil.CheckGoroutines(t)
	bbs, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bbs.Close()
	c := testConfig(t, config.Backend{Name: "bbs", Type: config.BackendTelnet, Address: config.HostPort(strings.TrimPrefix(bbs.Addr(), "telnet://"))})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"n": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, err := tcp.Dial(ctx, strings.TrimPrefix(g.Addr("test"), "telnet://"), tcp.Options{Telnet: true, TermType: "ANSI-BBS", Window: transport.WindowSize{Cols: 100, Rows: 40}})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	login(t, caller, "n", "pw")
	back, err := bbs.AcceptLine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	// The backend's line learns what the peer announces as it reads.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		io.Copy(io.Discard, back)
	}()
	defer func() { back.Close(); <-readDone }()
	waitFor := func(what string, ok func(transport.LineInfo) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(back.Info()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("backend never saw %s: %+v", what, back.Info())
			}
		}
	}
	waitFor("the window size", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 100, Rows: 40} })
	waitFor("the terminal type", func(i transport.LineInfo) bool { return strings.EqualFold(i.TermType, "ANSI-BBS") })
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 132, Rows: 60}); err != nil {
		t.Fatal(err)
	}
	waitFor("the resize", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 132, Rows: 60} })
	io.WriteString(back, "welcome to the bbs")
	expect(t, caller, "welcome to the bbs")
}
