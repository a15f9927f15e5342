package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func policyPub(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKnownHostsPinned(t *testing.T) {
	good, other := policyPub(1), policyPub(2)
	path := filepath.Join(t.TempDir(), "known_hosts")
	text := "# pinned from the BBS list\n" +
		"BBS.Example.net:2323 " + Fingerprint(good) + "  # operator's key\n" +
		"\n" +
		"gw.example.org:23 " + base64.StdEncoding.EncodeToString(good) + "\n" +
		"[0:0::1]:2323 " + Fingerprint(good) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	// An IP address however written (IPv6 trial: [0:0:0:0:0:0:0:1]
	// was unknown with [::1] pinned).
	// And a name or a port however written (security trial:
	// 127.0.0.1:02423 was unknown with 127.0.0.1:2423 pinned, and the
	// clear-text fallback refused to a pinned gateway was allowed).
	for _, host := range []string{"bbs.example.net:2323", "BBS.EXAMPLE.NET:2323", "gw.example.org:23", "[::1]:2323", "[0:0:0:0:0:0:0:1]:2323",
		"bbs.example.net:02323", "bbs.example.net.:2323", "gw.example.org.:0023", "[::1]:002323"} {
		if n, err := kh.Check(host, good, false); n || err != nil {
			t.Errorf("%s with its pinned key: %v, %v", host, n, err)
		}
		if n, err := kh.Check(host, other, true); n || !errors.Is(err, ErrHostKeyChanged) {
			t.Errorf("%s with another key: %v, %v", host, n, err)
		}
	}
	n, err := kh.Check("bbs.example.net:2323", other, true)
	var ce *HostKeyChangedError
	if n || !errors.Is(err, ErrHostKeyChanged) || !errors.As(err, &ce) {
		t.Fatalf("changed key: %v, %v", n, err)
	}
	msg := err.Error()
	for _, want := range []string{
		"auth: ", "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!", "SOMEONE IS DOING SOMETHING NASTY",
		Fingerprint(other), Fingerprint(good), path + ":2", "Host key verification failed",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning lacks %q:\n%s", want, msg)
		}
	}
	// TOFU never overrides a pinned key, and nothing was appended.
	after, _ := os.ReadFile(path)
	if string(after) != text {
		t.Errorf("file changed after a mismatch:\n%s", after)
	}
	if _, err := kh.Check("unknown.example:1", other, false); !errors.Is(err, ErrHostUnknown) ||
		!strings.Contains(err.Error(), Fingerprint(other)) {
		t.Errorf("unknown host without TOFU: %v", err)
	}
}

func TestKnownHostsTOFU(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, KnownHostsFile)
	kh, err := LoadKnownHosts(path) // absent: empty
	if err != nil {
		t.Fatal(err)
	}
	key := policyPub(7)
	n, err := kh.Check("192.0.2.10:2323", key, true)
	if !n || err != nil {
		t.Fatalf("first use: %v, %v", n, err)
	}
	notice := NewHostNotice("192.0.2.10:2323", key, path)
	if !strings.Contains(notice, Fingerprint(key)) || !strings.Contains(notice, path) {
		t.Errorf("notice lacks the fingerprint or path:\n%s", notice)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known hosts file: %v, mode %v", err, fi.Mode())
	}
	data, _ := os.ReadFile(path)
	if string(data) != "192.0.2.10:2323 "+Fingerprint(key)+"\n" {
		t.Errorf("file after TOFU: %q", data)
	}
	if n, err := kh.Check("192.0.2.10:2323", key, true); n || err != nil {
		t.Errorf("second use, same list: %v, %v", n, err)
	}
	kh2, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := kh2.Check("192.0.2.10:2323", key, true); n || err != nil {
		t.Errorf("second use, reloaded: %v, %v", n, err)
	}
	if _, err := kh2.Check("192.0.2.10:2323", policyPub(8), true); !errors.Is(err, ErrHostKeyChanged) ||
		!strings.Contains(err.Error(), path+":1") {
		t.Errorf("changed after TOFU: %v", err)
	}
	if _, err := kh2.Check("192.0.2.10:2323", key[:31], true); err == nil {
		t.Error("short key accepted")
	}
}

func TestKnownHostsPinAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	// A hand-edited file without a final newline.
	if err := os.WriteFile(path, []byte("# mine\na.example:1 "+Fingerprint(policyPub(1))), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := kh.Pin("B.example:2", Fingerprint(policyPub(2))); err != nil {
		t.Fatal(err)
	}
	if err := kh.Pin("b.example:2", base64.StdEncoding.EncodeToString(policyPub(2))); err != nil {
		t.Fatal(err) // the same key again: nothing appended
	}
	if err := kh.Pin("b.example:2", "SHA256:short"); !errors.Is(err, ErrKnownHostsFile) {
		t.Errorf("bad fingerprint: %v", err)
	}
	if err := kh.Pin("b c", Fingerprint(policyPub(2))); !errors.Is(err, ErrKnownHostsFile) {
		t.Errorf("bad host: %v", err)
	}
	data, _ := os.ReadFile(path)
	want := "# mine\na.example:1 " + Fingerprint(policyPub(1)) + "\nb.example:2 " + Fingerprint(policyPub(2)) + "\n"
	if string(data) != want {
		t.Errorf("file:\n%q\nwant\n%q", data, want)
	}
	if fps := kh.Lookup("B.EXAMPLE:2"); len(fps) != 1 || fps[0] != Fingerprint(policyPub(2)) {
		t.Errorf("Lookup: %v", fps)
	}
	// Key rotation: a second entry for a host; either key matches, and the
	// warning for a third lists both with their lines.
	if err := kh.Pin("a.example:1", Fingerprint(policyPub(3))); err != nil {
		t.Fatal(err)
	}
	kh2, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []byte{1, 3} {
		if _, err := kh2.Check("a.example:1", policyPub(b), false); err != nil {
			t.Errorf("rotated key %d: %v", b, err)
		}
	}
	_, err = kh2.Check("a.example:1", policyPub(4), false)
	if err == nil || !strings.Contains(err.Error(), path+":2)") || !strings.Contains(err.Error(), path+":4)") {
		t.Errorf("warning should list lines 2 and 4: %v", err)
	}
}

func TestKnownHostsMalformed(t *testing.T) {
	fp := Fingerprint(policyPub(1))
	for _, c := range []struct {
		text string
		line string
	}{
		{"a:1 " + fp + "\nonlyhost\n", ":2: "},
		{"a:1 " + fp + " extra\n", ":1: "},
		{"# c\n\na:1 SHA256:abc\n", ":3: "},
		{"a:1 SHA256:" + strings.Repeat("A", 43) + "=\n", ":1: "},
		{"a:1 " + base64.StdEncoding.EncodeToString(policyPub(1)[:31]) + "\n", ":1: "},
		{"a\x01:1 " + fp + "\n", ":1: "},
	} {
		path := filepath.Join(t.TempDir(), "kh")
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKnownHosts(path)
		if !errors.Is(err, ErrKnownHostsFile) || !strings.Contains(err.Error(), path+c.line) ||
			!strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%q: %v, want ErrKnownHostsFile naming %s%s", c.text, err, path, c.line)
		}
	}
}

func TestKnownHostsConcurrentTOFU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	newly := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := kh.Check("h:1", policyPub(5), true)
			if err != nil {
				t.Error(err)
			}
			if n {
				mu.Lock()
				newly++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(path)
	if newly != 1 || strings.Count(string(data), "\n") != 1 {
		t.Errorf("%d callers were told the key is new; file %q", newly, data)
	}
}

// FuzzParseKnownHosts checks that the known-hosts parser never panics,
// that what it accepts is normalized, and that errors carry the sentinel.
func FuzzParseKnownHosts(f *testing.F) {
	f.Add([]byte("# c\nbbs.example.net:2323 SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU\n"))
	f.Add([]byte("h AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= # c\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseKnownHosts(data, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrKnownHostsFile) {
				t.Fatalf("error %v is not ErrKnownHostsFile", err)
			}
			return
		}
		for _, e := range entries {
			if h, err := normalizeHost(e.host); err != nil || h != e.host {
				t.Fatalf("host %q not normalized", e.host)
			}
			if fp, err := ParseHostKeyID(e.fp); err != nil || fp != e.fp || e.line < 1 {
				t.Fatalf("entry %+v not canonical", e)
			}
		}
	})
}

// TestForgetKnownHost: host:port removes that port's entries, a host
// alone those of every port and its own; comments and other hosts' lines
// stay, byte for byte, and what is left still parses.
func TestForgetKnownHost(t *testing.T) {
	a := "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	b := "SHA256:Cw3K8y2PZ3mY0f1Q2hN0c3y0o0eYwz2bQ3QbX1x0t9M"
	text := "# pinned by hand\r\n" +
		"bbs.example.net:2323 " + a + "\n" +
		"\n" +
		"BBS.example.net.:2324 " + b + " # second listener\n" +
		"bbs.example.net " + a + "\n" +
		"other.example:2323 " + a + "\n" +
		"[::1]:23 " + b
	path := filepath.Join(t.TempDir(), "kh")
	for _, c := range []struct {
		host    string
		removed []string
		left    string
	}{
		{"bbs.example.net:2323", []string{"line 2: bbs.example.net:2323 " + a},
			"# pinned by hand\r\n\nBBS.example.net.:2324 " + b + " # second listener\nbbs.example.net " + a + "\nother.example:2323 " + a + "\n[::1]:23 " + b},
		{"BBS.Example.NET", []string{"line 2: bbs.example.net:2323 " + a, "line 4: bbs.example.net:2324 " + b, "line 5: bbs.example.net " + a},
			"# pinned by hand\r\n\nother.example:2323 " + a + "\n[::1]:23 " + b},
		{"[0:0::1]:23", []string{"line 7: [::1]:23 " + b},
			"# pinned by hand\r\nbbs.example.net:2323 " + a + "\n\nBBS.example.net.:2324 " + b + " # second listener\nbbs.example.net " + a + "\nother.example:2323 " + a + "\n"},
		{"nobody.example", nil, text},
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		removed, err := ForgetKnownHost(path, c.host)
		if err != nil {
			t.Fatalf("%s: %v", c.host, err)
		}
		if !slices.Equal(removed, c.removed) {
			t.Errorf("%s: removed %q, want %q", c.host, removed, c.removed)
		}
		got, _ := os.ReadFile(path)
		if string(got) != c.left {
			t.Errorf("%s: file left\n%q\nwant\n%q", c.host, got, c.left)
		}
		if _, err := LoadKnownHosts(path); err != nil {
			t.Errorf("%s: what is left does not load: %v", c.host, err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", c.host, st.Mode())
		}
	}
	if r, err := ForgetKnownHost(filepath.Join(t.TempDir(), "none"), "x:1"); err != nil || r != nil {
		t.Errorf("no file: %q, %v", r, err)
	}
	if _, err := ForgetKnownHost(path, "bad host"); !errors.Is(err, ErrKnownHostsFile) {
		t.Errorf("a host with a space: %v", err)
	}
}
