package bridge

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPageTLSPortRedirectsPlainHTTP: a browser that asks the page of a
// wss:// listener over plain http:// is redirected to https:// on the
// same port (net/http answered a bare 400), with one log line saying
// so, and the page is still served over TLS on that port.
func TestPageTLSPortRedirectsPlainHTTP(t *testing.T) {
	testutil.CheckGoroutines(t)
	certFile, keyFile := selfSigned(t)
	core, logs := observer.New(zap.DebugLevel)
	ln, err := OpenListener(config.Listener{Name: "web", Address: "wss://127.0.0.1:0/line", TLSCert: certFile, TLSKey: keyFile}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "wss://"), "/line")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /?mode=v42 HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if want := "https://" + addr + "/?mode=v42"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain GET of the page: %d, Location %q; want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the redirect: read %d, %v; want EOF", n, err)
	}
	for deadline := time.Now().Add(5 * time.Second); logs.Len() == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if n := logs.FilterMessageSnippet("GET redirected to https").Len(); n != 1 || logs.Len() != 1 {
		t.Errorf("%d log lines about the redirect, want 1 and nothing else (logged: %v)", n, logs.All())
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	page, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="dialgate-line"`) {
		t.Errorf("https GET of the page: %d, %.200q", page.StatusCode, body)
	}
}
