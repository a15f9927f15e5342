package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSFilesLoaded: a listener's tls_cert and tls_key that form a key
// pair pass; swapped (the key as the certificate) they are one problem.
func TestTLSFilesLoaded(t *testing.T) {
	dir := t.TempDir()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(cert, key string) []byte {
		return []byte("[[listener]]\nname = \"w\"\naddress = \"wss://127.0.0.1:8443/line\"\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n")
	}
	if _, err := Parse("x.toml", conf(certFile, keyFile)); err != nil {
		t.Errorf("a valid key pair: %v", err)
	}
	_, err = Parse("x.toml", conf(keyFile, certFile))
	if ps, ok := err.(Problems); !ok || len(ps) != 1 || ps[0].Key != "listener[0].tls_cert" {
		t.Errorf("swapped files: %v", err)
	}
}
