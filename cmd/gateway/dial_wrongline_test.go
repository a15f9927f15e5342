package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/tcp"
	"github.com/dialgate/dialgate/web"
)

// TestDialWrongListenerKind: a call to a listener of the other kind
// says what answered and what to dial, exit 13. New-user trial: ws://
// to a telnet listener said `malformed HTTP response "\xff\xfb…"`;
// ws:// to the browser page quoted its HTML as a refused handshake; and
// telnet:// to a ws listener showed its "400 Bad Request" as the
// gateway's text and exited 0.
func TestDialWrongListenerKind(t *testing.T) {
	testutil.CheckGoroutines(t)
	page, err := web.Handler(web.Options{LinePath: "/line"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page) // a ws listener's HTTP server and page
	defer srv.Close()
	web := strings.TrimPrefix(srv.URL, "http://")

	tl, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	telnet := strings.TrimPrefix(tl.Addr(), "telnet://")
	go func() {
		for {
			line, err := tl.Accept(t.Context())
			if err != nil {
				return
			}
			go func() {
				// The telnet options, then a banner and a prompt as
				// the gateway's, and what the caller sends (a
				// WebSocket upgrade, taken for a login) until it
				// hangs up.
				_, _ = line.Write([]byte("\r\ngw: session 1\r\nlogin: "))
				buf := make([]byte, 512)
				for {
					if _, err := line.Read(buf); err != nil {
						line.Close()
						return
					}
				}
			}()
		}
	}()

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ws://" + telnet + "/line"}, "answers with telnet, not WebSocket: it is a telnet listener; dial telnet://" + telnet},
		{[]string{"ws://" + web + "/"}, "is the gateway's browser page, not its line: dial ws://" + web + "/line"},
		{[]string{"ws://" + web}, "dial ws://" + web + "/line"},
		{[]string{"--text", "telnet://" + web}, "a web server answered (HTTP/1.1 400 Bad Request), not a telnet or tcp line"},
	} {
		r := startDial(t, nil, c.args...)
		go func() {
			// A line typed: what makes an HTTP server answer 400.
			_, _ = r.stdin.Write([]byte("x\r\n"))
			r.stdin.Close()
		}()
		if code := r.wait(t); code != exitNoCarrier {
			t.Errorf("dial %q: exit %d, want %d; stderr:\n%s", c.args, code, exitNoCarrier, r.stderr)
		}
		if s := r.stderr.String(); !strings.Contains(s, c.want) {
			t.Errorf("dial %q: stderr %q, want %q", c.args, s, c.want)
		}
	}
}
