package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCertPair writes a self-signed certificate for 127.0.0.1 named cn,
// and its key, to certFile and keyFile (replacing them in place, as a
// renewal does).
func writeCertPair(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
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
	writeCertPair(t, certFile, keyFile, "first")
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

	writeCertPair(t, certFile, keyFile, "renewed")
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
