package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBannerFile: banner_file is read relative to the configuration
// file, with a bare LF as CR LF and every other octet as it is; a file
// that is missing or longer than MaxBanner is a problem at its line.
func TestBannerFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	conf := "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbanner_file = \"issue\"\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(b string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "issue"), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("\nA\r\nB\n\x1b[0m\xff")
	for _, load := range []func(string) (*Config, error){Load, LoadReload} {
		c, err := load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(c.Listeners[0].Banner), "\r\nA\r\nB\r\n\x1b[0m\xff"; got != want {
			t.Errorf("banner %q, want %q", got, want)
		}
		if want := filepath.Join(dir, "issue"); c.Listeners[0].BannerFile != want {
			t.Errorf("banner_file %q, want %q", c.Listeners[0].BannerFile, want)
		}
	}
	write(strings.Repeat("x", MaxBanner))
	if _, err := Load(path); err != nil {
		t.Errorf("a banner of MaxBanner octets: %v", err)
	}
	write(strings.Repeat("x", MaxBanner+1))
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), ":4:") || !strings.Contains(err.Error(), "longer than 4096 octets") {
		t.Errorf("a banner of MaxBanner+1 octets: %v, want a problem at line 4", err)
	}
	os.Remove(filepath.Join(dir, "issue"))
	// gateway user, keygen, calls: they serve no listener (review: a
	// missing banner stopped gateway user list).
	if c, err := LoadSettings(path); err != nil || c.Listeners[0].Banner != nil {
		t.Errorf("LoadSettings with the banner missing: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "issue"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as the banner: %v", err)
	}
	os.Remove(filepath.Join(dir, "issue"))
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "banner_file") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing banner: %v", err)
	}
	// At 300 bit/s 3,100 octets take 103 s of the login's 60.
	write(strings.Repeat("x", 3100))
	slow := strings.Replace(conf, "banner_file", "line_rate = 300\nbanner_file", 1)
	if err := os.WriteFile(path, []byte(slow), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, `listener "m": banner_file takes 1m43s at line_rate 300 bit/s`) {
		t.Errorf("a long banner on a slow line: warnings %q", w)
	}
	write("x")
	conf = strings.Replace(conf, "banner_file", "v42 = \"lapm\"\nbanner_file", 1)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, `listener "m": banner_file does nothing here`) {
		t.Errorf("a banner on a V.42-only listener: warnings %q", w)
	}
}

// TestAllowedSources: allowed_sources takes IP addresses and CIDR
// prefixes; anything else is a problem at its line.
func TestAllowedSources(t *testing.T) {
	c, err := Parse("a.toml", []byte("[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nallowed_sources = [\"192.168.0.0/16\", \"::1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Listeners[0].AllowedSources; len(got) != 2 {
		t.Fatalf("allowed_sources %v", got)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "allowed_origins") {
		t.Errorf("telnet listener with allowed_sources warned about origins: %s", w)
	}
	// On a ws listener the page by a DNS name then needs allowed_origins.
	for _, tc := range []struct {
		origins string
		warn    bool
	}{{"", true}, {"allowed_origins = [\"https://bbs.lan\"]\n", false}} {
		c, err := Parse("a.toml", []byte("[[listener]]\nname = \"w\"\naddress = \"ws://0.0.0.0:8080/line\"\nallowed_sources = [\"192.168.0.0/16\"]\n"+tc.origins))
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, `listener "w": with allowed_sources the browser page opened by a DNS name gets HTTP 403`) != tc.warn {
			t.Errorf("ws listener with allowed_sources and %q: warnings %q, want the allowed_origins warning: %v", tc.origins, w, tc.warn)
		}
	}
	_, err = Parse("a.toml", []byte("[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nallowed_sources = [\"lan\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "a.toml:4:") || !strings.Contains(err.Error(), `"lan": want an IP address or a CIDR prefix`) {
		t.Errorf("allowed_sources = [\"lan\"]: %v", err)
	}
}
