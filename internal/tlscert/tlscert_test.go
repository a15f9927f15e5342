package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

func served(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

// TestReload: a renewal at the same paths is served by a configuration
// made before it; a broken one leaves the certificate served before.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	now := time.Now()
	testutil.WriteCert(t, cf, kf, "one", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	c, err := Load(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ServerConfig()
	if got := served(t, cfg); got != "one" {
		t.Fatalf("serves %q", got)
	}
	if changed, err := c.Reload(); changed || err != nil {
		t.Errorf("reload of the same files: changed %v, %v", changed, err)
	}
	testutil.WriteCert(t, cf, kf, "two", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	if changed, err := c.Reload(); !changed || err != nil {
		t.Errorf("reload of a renewal: changed %v, %v", changed, err)
	}
	if got := served(t, cfg); got != "two" {
		t.Errorf("serves %q after the renewal", got)
	}
	if err := os.WriteFile(cf, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Reload(); changed || err == nil || !strings.Contains(err.Error(), cf) {
		t.Errorf("reload of a broken file: changed %v, %v", changed, err)
	}
	if got := served(t, cfg); got != "two" || !strings.Contains(Describe(c.Leaf()), `"two"`) {
		t.Errorf("serves %q after a broken renewal", got)
	}
	if _, err := Load(cf, kf); err == nil {
		t.Error("Load of a broken file")
	}
	for _, s := range cfg.CipherSuites {
		if !strings.Contains(tls.CipherSuiteName(s), "GCM") && !strings.Contains(tls.CipherSuiteName(s), "CHACHA20") {
			t.Errorf("suite %s is not an AEAD", tls.CipherSuiteName(s))
		}
	}
}

// TestWarnings: expired, not yet valid, ending soon, and a key file open
// to others are warned about; a fine pair is not.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	now := time.Now()
	for _, tc := range []struct {
		name              string
		notBefore, notAft time.Time
		want              string
	}{
		{"fine", now.Add(-time.Hour), now.Add(60 * 24 * time.Hour), ""},
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "has expired"},
		{"future", now.Add(24 * time.Hour), now.Add(60 * 24 * time.Hour), "not valid before"},
		{"soon", now.Add(-time.Hour), now.Add(3*24*time.Hour + time.Hour), "expires in 3 day(s)"},
	} {
		testutil.WriteCert(t, cf, kf, tc.name, tc.notBefore, tc.notAft)
		ws := FileWarnings(cf, kf, now)
		switch {
		case tc.want == "" && len(ws) != 0:
			t.Errorf("%s: warnings %q", tc.name, ws)
		case tc.want != "" && (len(ws) != 1 || !strings.Contains(ws[0], tc.want)):
			t.Errorf("%s: warnings %q, want one with %q", tc.name, ws, tc.want)
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	testutil.WriteCert(t, cf, kf, "fine", now.Add(-time.Hour), now.Add(60*24*time.Hour))
	for _, mode := range []os.FileMode{0o644, 0o660, 0o604} {
		if err := os.Chmod(kf, mode); err != nil {
			t.Fatal(err)
		}
		if ws := FileWarnings(cf, kf, now); len(ws) != 1 || !strings.Contains(ws[0], "chmod 600 "+kf) {
			t.Errorf("key mode %#o: warnings %q", mode, ws)
		}
	}
	// Readable by its group (the gateway's), as a key owned by root is.
	if err := os.Chmod(kf, 0o640); err != nil {
		t.Fatal(err)
	}
	if ws := FileWarnings(cf, kf, now); len(ws) != 0 {
		t.Errorf("key mode 0640: warnings %q", ws)
	}
	if ws := FileWarnings(filepath.Join(dir, "none"), kf, now); ws != nil {
		t.Errorf("a pair that does not load: warnings %q", ws)
	}
}
