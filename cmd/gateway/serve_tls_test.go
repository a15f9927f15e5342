package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// writeCert writes a certificate for 127.0.0.1 named cn, valid for a
// day, replacing certFile and keyFile as a renewal does.
func writeCert(t *testing.T, certFile, keyFile, cn string) {
	testutil.WriteCert(t, certFile, keyFile, cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// servedName is the common name of the certificate a TLS server at addr
// presents.
func servedName(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestServeSIGHUPRenewsCertificates: a certificate renewed in place (new
// contents at the same paths, as certbot does) is served by the TLS
// telnet and the wss listener after SIGHUP; a broken renewal keeps the
// certificate served before, logs why, and does not keep the users file
// from reloading; TLS 1.2 offers no CBC suites.
func TestServeSIGHUPRenewsCertificates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "first")
	tlsAddr, wssAddr := freePort(t), freePort(t)
	extra := fmt.Sprintf(`[[listener]]
name = "tls"
address = "telnet://%s"
text_login = "allow"
tls_cert = %q
tls_key = %q
[[listener]]
name = "wss"
address = "wss://%s/line"
tls_cert = %q
tls_key = %q
`, tlsAddr, certFile, keyFile, wssAddr, certFile, keyFile)
	g := newGateway(t, gwOpts{extraConfig: extra})
	g.waitLog(`"msg":"serving TLS certificate","listener":"wss"`)
	for _, a := range []string{tlsAddr, wssAddr} {
		if got := servedName(t, a); got != "first" {
			t.Fatalf("%s serves %q at start", a, got)
		}
	}
	// No CBC suite in TLS 1.2.
	c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
	if err == nil {
		c.Close()
		t.Error("the TLS listener agreed to a CBC suite")
	}

	writeCert(t, certFile, keyFile, "renewed")
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"certificates_changed":2`)
	for _, a := range []string{tlsAddr, wssAddr} {
		if got := servedName(t, a); got != "renewed" {
			t.Errorf("%s serves %q after the renewal and SIGHUP", a, got)
		}
	}

	// A broken renewal: the certificate stays, the new user gets in.
	if err := os.WriteFile(certFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeUsers(map[string]string{"alice": "sh", "bob": "echo", "dave": "down", "erin": "sh"})
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"users_added":1`)
	if !strings.Contains(g.log.String(), `"msg":"reload: TLS certificate not loaded; still serving the one loaded before"`) {
		t.Errorf("no error for the broken certificate:\n%s", g.log)
	}
	for _, a := range []string{tlsAddr, wssAddr} {
		if got := servedName(t, a); got != "renewed" {
			t.Errorf("%s serves %q after a broken renewal", a, got)
		}
	}
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	readUntilLine(t, conn, "login: ")
	fmt.Fprint(conn, "erin\r\n")
	readUntilLine(t, conn, "assword: ")
	fmt.Fprint(conn, "pw-erin\r\n")
	readUntilLine(t, conn, "hello erin")
}
