package config

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/transport"
	_ "github.com/dialgate/dialgate/transport/tcp" // registers tcp:// and telnet://
	"github.com/dialgate/dialgate/transport/ws"
)

// FuzzListenerAgrees writes arbitrary listener addresses, allowed
// origins and trusted proxies into a configuration and checks that what
// Parse accepts is what the gateway can then use: the address passes
// transport.Parse, a ws or wss listener's origins and proxies pass
// ws.NewHandler, and each allowed origin is one the listener accepts (an
// entry no Origin header can ever match would be a silent no-op).
func FuzzListenerAgrees(f *testing.F) {
	for _, s := range [][3]string{
		{"ws://127.0.0.1:8080/line", "https://bbs.example.org", "10.0.0.0/8"},
		{"ws://127.0.0.1:8080/line", "https://BBS.example.org/", "::ffff:10.0.0.0/104"},
		{"wss://[::1]:8443/x", "*", "fe80::1%eth0"},
		{"ws://127.0.0.1:8080/line", "http://bbs.example.org:8080", " 192.0.2.1"},
		{"telnet://127.0.0.1:2323", "", ""},
		{"tcp://0.0.0.0:23/", "", ""},
		{"ws://127.0.0.1:8080/line", "https://bbs.example.org/line", ""},
		{"ws://127.0.0.1:8080/line", "https://u@bbs.example.org", ""},
		{"ws://127.0.0.1:8080/line", "https://bbs.example.org?", ""},
		{"ws://127.0.0.1:8080/line", "https://bbs.example.org#", ""},
		{"ws://127.0.0.1:8080/line", "https://bbs.example.org//", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	quote := func(s string) (string, bool) {
		for _, c := range []byte(s) {
			if c < ' ' || c == '"' || c == '\\' || c == 0x7f {
				return "", false
			}
		}
		return `"` + s + `"`, true
	}
	f.Fuzz(func(t *testing.T, address, origin, proxy string) {
		qa, ok1 := quote(address)
		qo, ok2 := quote(origin)
		qp, ok3 := quote(proxy)
		if !ok1 || !ok2 || !ok3 {
			return
		}
		text := "[[listener]]\nname = \"w\"\naddress = " + qa + "\n"
		if origin != "" {
			text += "allowed_origins = [" + qo + "]\n"
		}
		if proxy != "" {
			text += "trusted_proxies = [" + qp + "]\n"
		}
		c, err := Parse("f.toml", []byte(text))
		if err != nil {
			return
		}
		l := c.Listeners[0]
		if _, err := transport.Parse(l.Address); err != nil {
			t.Fatalf("address %q accepted by Parse, refused by transport.Parse: %v", l.Address, err)
		}
		if !isWeb(l.Scheme()) {
			return
		}
		h, err := ws.NewHandler(ws.Options{AllowedOrigins: l.AllowedOrigins, TrustedProxies: l.TrustedProxies})
		if err != nil {
			t.Fatalf("origins %q and proxies %q accepted by Parse, refused by ws.NewHandler: %v", l.AllowedOrigins, l.TrustedProxies, err)
		}
		defer h.Close()
		for _, o := range l.AllowedOrigins {
			r := httptest.NewRequest("GET", "http://gw.invalid/line", nil)
			r.Header.Set("Origin", o)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == http.StatusForbidden {
				t.Fatalf("allowed origin %q accepted by Parse, but a call with that Origin is refused: %s", o, strings.TrimSpace(w.Body.String()))
			}
		}
	})
}
