package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allZero reports whether b is all zero octets.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestPasswordFileWiped: readPasswordFile reads the file into one buffer
// of which the password is a part: the rest of the file (the second line,
// the CR) is wiped at once, so wiping the password leaves nothing.
func TestPasswordFileWiped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(path, []byte("from-file\r\nsecond secret line\n"), 0o600)
	p, err := readPasswordFile(path, io.Discard)
	if err != nil || string(p) != "from-file" {
		t.Fatalf("readPasswordFile = %q, %v", p, err)
	}
	// The password is the start of the read buffer itself: a copy (say
	// through a string) would be a fresh allocation sized to the
	// password, zero past its end, and leave the buffer's octets behind.
	if cap(p) != maxPasswordFile+1 {
		t.Errorf("the password is not the read buffer (capacity %d, want %d): a copy was made", cap(p), maxPasswordFile+1)
	}
	if rest := p[len(p):cap(p)]; !allZero(rest) {
		t.Errorf("the buffer past the password holds %q", strings.Trim(string(rest), "\x00"))
	}
	clear(p)
	if !allZero(p[:cap(p)]) {
		t.Error("wiping the password left octets of the file behind")
	}
	// Too long: nothing is returned (the buffer was wiped).
	os.WriteFile(path, []byte(strings.Repeat("x", maxPasswordFile+1)), 0o600)
	if p, err := readPasswordFile(path, io.Discard); err == nil || p != nil {
		t.Errorf("an over-long file gave %d octets, %v", len(p), err)
	}
}

// TestTypedPasswordWiped: a password read from the terminal (here a
// pipe standing in for it) comes as the slice of term's one read buffer,
// the CR already wiped, so that wiping it leaves nothing behind.
func TestTypedPasswordWiped(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		io.WriteString(w, "typed-secret\r\n")
		w.Close()
	}()
	cs := credSource{user: "alice", getenv: func(string) string { return "" }, tty: r, prompt: io.Discard, warn: io.Discard}
	u, p, err := cs.get()
	if err != nil || u != "alice" || string(p) != "typed-secret" {
		t.Fatalf("get() = %q, %q, %v", u, p, err)
	}
	// The password is term's read buffer itself (ReadLineBytes reads
	// into one buffer of 1024 octets): a copy, through a string or
	// otherwise, would be a fresh allocation sized to the password.
	if cap(p) != 1024 {
		t.Errorf("the password is not term's read buffer (capacity %d, want 1024): a copy was made", cap(p))
	}
	if rest := p[len(p):cap(p)]; !allZero(rest) {
		t.Errorf("the buffer past the password holds %q", strings.Trim(string(rest), "\x00"))
	}
	clear(p)
	if !allZero(p[:cap(p)]) {
		t.Error("wiping the password left typed octets behind")
	}
}
