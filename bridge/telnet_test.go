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
	bbs := telnetBBS(t)
	c := testConfig(t, config.Backend{Name: "bbs", Type: config.BackendTelnet, Address: config.HostPort(strings.TrimPrefix(bbs.Addr(), "telnet://"))})
	g, _ := startTelnetGateway(t, c, &fakeVerifier{users: map[string]string{"n": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller := telnetCall(t, ctx, g, tcp.Options{TermType: "ANSI-BBS", Window: transport.WindowSize{Cols: 100, Rows: 40}}, "n", "pw")
	back := acceptBackendLine(t, ctx, bbs)
	waitLineInfo(t, back, "the window size", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 100, Rows: 40} })
	waitLineInfo(t, back, "the terminal type", func(i transport.LineInfo) bool { return strings.EqualFold(i.TermType, "ANSI-BBS") })
	if err := caller.SetWindowSize(transport.WindowSize{Cols: 132, Rows: 60}); err != nil {
		t.Fatal(err)
	}
	waitLineInfo(t, back, "the resize", func(i transport.LineInfo) bool { return i.Window == transport.WindowSize{Cols: 132, Rows: 60} })
	io.WriteString(back, "welcome to the bbs")
	expect(t, caller, "welcome to the bbs")
}
