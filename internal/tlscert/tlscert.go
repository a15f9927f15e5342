// Package tlscert serves a listener's TLS certificate from its PEM files
// and reads them again on demand, so that a certificate renewed in place
// (certbot, acme.sh: new contents at the same paths) is served without a
// restart; and it says what an operator should know about the files (a
// private key others can read, a certificate that has expired or soon
// will).
package tlscert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// expiryWarning is how long before its end a certificate is warned about.
const expiryWarning = 14 * 24 * time.Hour

// Cert is a certificate and key loaded from a pair of PEM files.
type Cert struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads certFile (the PEM certificate chain) and keyFile (its
// private key).
func Load(certFile, keyFile string) (*Cert, error) {
	c := &Cert{certFile: certFile, keyFile: keyFile}
	cert, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	return c, nil
}

func load(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s and tls_key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls_cert %s: %w", certFile, err)
		}
	}
	return &cert, nil
}

// Reload reads the files again. A pair that does not load leaves the
// certificate served before in place (err says why); changed tells
// whether the certificate served is now another one.
func (c *Cert) Reload() (changed bool, err error) {
	cert, err := load(c.certFile, c.keyFile)
	if err != nil {
		return false, err
	}
	old := c.cur.Swap(cert)
	return !bytes.Equal(old.Certificate[0], cert.Certificate[0]), nil
}

// Leaf is the certificate served now.
func (c *Cert) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

// ServerConfig is a TLS server configuration that serves the current
// certificate (as Reload leaves it) to every handshake: TLS 1.2 and 1.3,
// and in TLS 1.2 only ECDHE key exchange with AEAD ciphers (no CBC
// suites, which testssl flags as obsolete).
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// Describe names a certificate for a log line: its subject and when it
// expires.
func Describe(leaf *x509.Certificate) string {
	name := leaf.Subject.CommonName
	if name == "" && len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	if name == "" {
		name = leaf.Subject.String()
	}
	return fmt.Sprintf("%q, valid until %s", name, leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
}

// warnings are what an operator should hear about a certificate served
// at now: expired, not valid yet, or ending within expiryWarning.
func warnings(leaf *x509.Certificate, now time.Time) []string {
	var ws []string
	switch {
	case now.After(leaf.NotAfter):
		ws = append(ws, fmt.Sprintf("the certificate %s has expired: callers' TLS clients refuse it; renew it and send SIGHUP", Describe(leaf)))
	case now.Before(leaf.NotBefore):
		ws = append(ws, fmt.Sprintf("the certificate %s is not valid before %s", Describe(leaf), leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST")))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		ws = append(ws, fmt.Sprintf("the certificate %s expires in %d day(s): renew it and send SIGHUP", Describe(leaf), int(leaf.NotAfter.Sub(now).Hours()/24)))
	}
	return ws
}

// FileWarnings are what an operator should hear about the files of a
// pair that loads: a private key file that any user may read, or that
// its group may write (on Unix: Windows files have no such mode; a key
// owned by root and readable by the gateway's group, mode 0640, is the
// usual way to let the service read it), and the certificate's own
// warnings at now. A pair that does not load gives no warnings (its
// error is reported where it is loaded).
func FileWarnings(certFile, keyFile string, now time.Time) []string {
	cert, err := load(certFile, keyFile)
	if err != nil {
		return nil
	}
	var ws []string
	if st, err := os.Stat(keyFile); err == nil && runtime.GOOS != "windows" && st.Mode().Perm()&0o027 != 0 {
		ws = append(ws, fmt.Sprintf("tls_key %s is open to other users (mode %#o): chmod 600 %s, or 640 with the gateway's group owning it", keyFile, st.Mode().Perm(), shellQuote(keyFile)))
	}
	return append(ws, warnings(cert.Leaf, now)...)
}

// shellQuote quotes a path for a command the operator may paste.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
