package auth

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func TestFingerprintFormat(t *testing.T) {
	// SHA-256 of 32 zero octets is 66687aad...0d5f2925 (computed with Python hashlib).
	if got, want := Fingerprint(make([]byte, 32)), "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU"; got != want {
		t.Errorf("Fingerprint(zero key) = %s, want %s", got, want)
	}
}

func TestHostKeyCreateAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k, err := CreateHostKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := curve25519.X25519(k.Private, curve25519.Basepoint)
	if err != nil || !bytes.Equal(pub, k.Public) || len(k.Private) != 32 {
		t.Fatalf("key pair inconsistent: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v, mode %v", err, fi.Mode())
	}
	path := filepath.Join(dir, HostKeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v, mode %v", err, fi.Mode())
	}
	got, err := LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Private, k.Private) || !bytes.Equal(got.Public, k.Public) {
		t.Error("loaded key differs from the created one")
	}
	before, _ := os.ReadFile(path)
	if _, err := CreateHostKey(dir, false); !errors.Is(err, ErrHostKeyExists) {
		t.Errorf("second create without overwrite: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("refused create changed the key file")
	}
	k2, err := CreateHostKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k2.Public, k.Public) {
		t.Error("overwrite produced the same key")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten key mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("state dir holds %d entries, want only the key", len(ents))
	}
	k2.Wipe()
	if !bytes.Equal(k2.Private, make([]byte, 32)) {
		t.Error("Wipe left key material")
	}
}

func TestHostKeyRefusesLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateHostKey(dir, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, HostKeyFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadHostKey(dir)
		if !errors.Is(err, ErrHostKeyPerm) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrHostKeyPerm", mode, err)
		}
		if _, _, err := LoadOrCreateHostKey(dir); !errors.Is(err, ErrHostKeyPerm) {
			t.Errorf("LoadOrCreate with mode %04o: %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadOrCreateHostKey(t *testing.T) {
	dir := t.TempDir()
	k, created, err := LoadOrCreateHostKey(dir)
	if err != nil || !created {
		t.Fatalf("first: created=%v, %v", created, err)
	}
	k2, created, err := LoadOrCreateHostKey(dir)
	if err != nil || created || !bytes.Equal(k.Public, k2.Public) {
		t.Fatalf("second: created=%v, same=%v, %v", created, bytes.Equal(k.Public, k2.Public), err)
	}
	if _, err := LoadHostKey(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}

func TestParseHostKeyFile(t *testing.T) {
	good := "# comment\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	k, err := parseHostKey([]byte(good))
	if err != nil || k.Private[31] != 31 {
		t.Fatalf("good file: %v", err)
	}
	for _, bad := range []string{
		"",
		"# only a comment\n",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",  // unpadded
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", // 31 octets
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		"not base64 at all\n",
	} {
		if _, err := parseHostKey([]byte(bad)); !errors.Is(err, ErrBadHostKey) {
			t.Errorf("%q: %v, want ErrBadHostKey", bad, err)
		}
	}
}

// TestLoadHostKeyTooLong: a file longer than LoadHostKey reads is refused,
// not read in part (a second key past the limit went unseen).
func TestLoadHostKeyTooLong(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, HostKeyFile)
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	data := key + "#" + strings.Repeat("x", maxHostKeyFile) + "\n" + key
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); !errors.Is(err, ErrBadHostKey) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("LoadHostKey of %d octets: %v, want a refusal", len(data), err)
	}
}

// TestParseHostKeyLongLine: a line longer than the scanner takes ends
// the scan with an error, which refuses the file (it ended the file, so
// what came after went unread).
func TestParseHostKeyLongLine(t *testing.T) {
	data := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n#" + strings.Repeat("x", 70000) + "\ngarbage\n"
	if _, err := parseHostKey([]byte(data)); !errors.Is(err, ErrBadHostKey) {
		t.Fatalf("a key, a 70000-octet line, garbage: %v, want ErrBadHostKey", err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/lib/xdg")
	if d, err := DefaultStateDir(); err != nil || d != "/var/lib/xdg/dialgate" {
		t.Errorf("with XDG_STATE_HOME: %q, %v", d, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/op")
	if d, err := DefaultStateDir(); err != nil || d != "/home/op/.local/state/dialgate" {
		t.Errorf("without XDG_STATE_HOME: %q, %v", d, err)
	}
}
