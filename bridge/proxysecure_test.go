package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/ws"
)

// TestTextLoginSecureBehindProxy: a ws listener on 127.0.0.1 behind a
// trusted reverse proxy, with text_login = "secure". Its loopback
// exemption is for callers on this machine: a caller the proxy forwards
// from elsewhere is refused the text login unless the proxy says it came
// over https (X-Forwarded-Proto), and one the proxy forwards from
// loopback is allowed. Regression: every proxied caller was allowed,
// because the listener is on loopback, so a password typed into a page
// served over plain http by the proxy crossed the network in clear.
func TestTextLoginSecureBehindProxy(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	c.Listeners[0].TextLogin = config.TextLoginSecure
	c.Listeners[0].TrustedProxies = []string{"127.0.0.1"}
	c.Security.HandshakeDeadline.Duration = 3 * time.Second // a refusal that fails to come fails fast
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"t": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	cases := []struct {
		name, xff, proto string
		allowed          bool
	}{
		{"plain http from elsewhere", "203.0.113.7", "http", false},
		{"no X-Forwarded-Proto, from elsewhere", "203.0.113.8", "", false},
		{"https from elsewhere", "203.0.113.9", "https", true},
		{"plain http from this machine", "127.0.0.1", "http", true},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		h := http.Header{"X-Forwarded-For": {tc.xff}}
		if tc.proto != "" {
			h.Set("X-Forwarded-Proto", tc.proto)
		}
		line, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{Header: h})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.allowed {
			login(t, line, "t", "pw")
			expect(t, line, "Choice: ")
			io.WriteString(line, "g\r\n")
			expect(t, line, "Goodbye")
		} else if out := readAll(line); !strings.Contains(out, "does not offer a text login") {
			t.Errorf("%s: heard %q", tc.name, out)
		}
		line.Close()
		cancel()
	}
	recs := waitRecords(t, g.Store, len(cases))
	if len(recs) != len(cases) {
		t.Fatalf("records: %+v", recs)
	}
	// Records are written as calls end, not in the order they began.
	byRemote := map[string]store.CallRecord{}
	for _, r := range recs {
		byRemote[r.Remote] = r
	}
	for _, tc := range cases {
		want := store.ResultRefused
		if tc.allowed {
			want = store.ResultCompleted
		}
		if r, ok := byRemote[tc.xff+":0"]; !ok || r.Result != want {
			t.Errorf("%s: record %+v, want result %s from %s", tc.name, r, want, tc.xff)
		}
	}
}

// TestProxyProtocolWSForwardedPortZero: a WebSocket caller behind a
// trusted proxy reaches a proxy_protocol backend under the address from
// X-Forwarded-For, with source port 0 (the proxy does not pass the
// caller's port on), and the listener's own address as the destination,
// as docs/operators.md says.
func TestProxyProtocolWSForwardedPortZero(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := make(chan []byte, 1)
	addr := tcpBackendServer(t, func(c net.Conn) {
		b := make([]byte, 28)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.ReadFull(c, b)
		got <- b
	})
	c := testConfig(t, config.Backend{Name: "p", Type: config.BackendTCP, Address: config.HostPort(addr), ProxyProtocol: true})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "ws://127.0.0.1:0/line"
	c.Listeners[0].TrustedProxies = []string{"127.0.0.1"}
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"e": "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line, err := ws.Dial(ctx, g.Addr("test"), ws.DialOptions{Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	login(t, line, "e", "pw")
	var b []byte
	select {
	case b = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("the backend got no PROXY header")
	}
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(g.Addr("test"), "ws://"), "/line"))
	lport, _ := strconv.Atoi(port)
	src, _ := netip.AddrFromSlice(b[16:20])
	dst, _ := netip.AddrFromSlice(b[20:24])
	if !bytes.Equal(b[:12], proxyV2Sig) || b[12] != 0x21 || b[13] != 0x11 ||
		src != netip.MustParseAddr("203.0.113.7") || binary.BigEndian.Uint16(b[24:26]) != 0 ||
		dst != netip.MustParseAddr("127.0.0.1") || int(binary.BigEndian.Uint16(b[26:28])) != lport {
		t.Errorf("backend got PROXY header %x, want 203.0.113.7:0 -> 127.0.0.1:%d", b, lport)
	}
}
