package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestTLSFilesLoaded: a listener's tls_cert and tls_key that form a key
// pair pass; swapped (the key as the certificate) they are one problem.
func TestTLSFilesLoaded(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.WriteCert(t, certFile, keyFile, "localhost", time.Now(), time.Now().Add(time.Hour))
	conf := func(cert, key string) []byte {
		return []byte("[[listener]]\nname = \"w\"\naddress = \"wss://127.0.0.1:8443/line\"\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n")
	}
	if _, err := Parse("x.toml", conf(certFile, keyFile)); err != nil {
		t.Errorf("a valid key pair: %v", err)
	}
	_, err := Parse("x.toml", conf(keyFile, certFile))
	if ps, ok := err.(Problems); !ok || len(ps) != 1 || ps[0].Key != "listener[0].tls_cert" {
		t.Errorf("swapped files: %v", err)
	}
}

// TestTLSFilesOnWSRefused: TLS files on a ws:// listener, which would be
// served in clear while the text-login policy took them for TLS, are a
// problem; and such a listener is not Secure.
func TestTLSFilesOnWSRefused(t *testing.T) {
	conf := "[[listener]]\nname = \"w\"\naddress = \"ws://0.0.0.0:8080/line\"\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n"
	_, err := loadSettingsData(t, conf)
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("ws:// with TLS files: %v", err)
	}
	found := false
	for _, p := range ps {
		found = found || p.Key == "listener[0].address"
	}
	if !found {
		t.Errorf("no problem about the ws:// address: %v", err)
	}
	if (Listener{Address: "ws://0.0.0.0:8080/line", TLSCert: "c", TLSKey: "k"}).Secure() {
		t.Error("a ws:// listener counts as encrypted")
	}
	if !(Listener{Address: "telnet://0.0.0.0:23", TLSCert: "c", TLSKey: "k"}).Secure() || !(Listener{Address: "wss://0.0.0.0:443/line"}).Secure() {
		t.Error("TLS telnet or wss does not count as encrypted")
	}
}

// TestLoadSettingsSkipsTLSFiles: LoadSettings (the tools, a reload) does
// not read the listeners' TLS files; Load does.
func TestLoadSettingsSkipsTLSFiles(t *testing.T) {
	conf := "[[listener]]\nname = \"t\"\naddress = \"telnet://127.0.0.1:992\"\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n"
	if _, err := loadSettingsData(t, conf); err != nil {
		t.Errorf("LoadSettings: %v", err)
	}
	if _, err := Parse("x.toml", []byte(conf)); err == nil {
		t.Error("Load accepted TLS files that do not exist")
	}
}

// loadSettingsData runs LoadSettings on conf written to a file.
func loadSettingsData(t *testing.T, conf string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadSettings(p)
}

// TestBackendEcho: echo is "service" or "caller", on tcp backends only.
func TestBackendEcho(t *testing.T) {
	base := "[[listener]]\nname = \"l\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\n"
	for _, tc := range []struct {
		backend string
		ok      bool
	}{
		{"type = \"tcp\"\naddress = \"127.0.0.1:1\"\necho = \"caller\"\n", true},
		{"type = \"tcp\"\naddress = \"127.0.0.1:1\"\necho = \"service\"\n", true},
		{"type = \"tcp\"\naddress = \"127.0.0.1:1\"\necho = \"both\"\n", false},
		{"type = \"telnet\"\naddress = \"127.0.0.1:1\"\necho = \"caller\"\n", false},
	} {
		_, err := Parse("e.toml", []byte(base+tc.backend))
		if ps, isPs := err.(Problems); tc.ok != (err == nil) || !tc.ok && (!isPs || ps[0].Key != "backend[0].echo") {
			t.Errorf("%q: %v", tc.backend, err)
		}
	}
}
