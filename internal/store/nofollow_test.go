package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenRefusesPlantedLinks: a symbolic link in the state directory
// where the store opens a file is refused, naming it, and the file it
// leads to is left as it was, whatever the directory's mode (the store
// does not judge directories: gateway serve's check does, and this holds
// even with it bypassed). Security trial: a calls.jsonl link planted by
// nobody in a 1777 state_dir had a root gateway append "\n" to a
// root-only file (repairTail), and would have appended every record.
// Runs as any user; as root the victim is root's own 0600 file.
func TestOpenRefusesPlantedLinks(t *testing.T) {
	for _, name := range []string{recordsFile, sessionFile, lockFile} {
		t.Run(name, func(t *testing.T) {
			top := t.TempDir()
			victim := filepath.Join(top, "victim")
			const content = "root:secret" // no newline: repairTail would add one
			if err := os.WriteFile(victim, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(top, "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, name)
			if err := os.Symlink(victim, link); err != nil {
				t.Fatal(err)
			}
			f, err := Open(dir, 1)
			if err == nil {
				f.Close()
			}
			want := "store: " + link + " is a symbolic link, which the gateway does not follow"
			if !errors.Is(err, ErrSymlink) || !strings.HasPrefix(errString(err), want) {
				t.Errorf("Open with %s a link: %v, want %q", name, err, want)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != content {
				t.Errorf("the file the link leads to is now %q (%v), want %q", b, err, content)
			}
		})
	}
}

// TestWritesDoNotFollowLinks: links planted after Open where the store
// writes by name: the session counter's temporary file (renamed over
// session.next, which a rename replaces rather than follows, but opened
// by name first) and an open call's note. Both writes fail naming the
// link, and the file it leads to is unchanged.
func TestWritesDoNotFollowLinks(t *testing.T) {
	top := t.TempDir()
	victim := filepath.Join(top, "victim")
	const content = "root:secret\n"
	if err := os.WriteFile(victim, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "state")
	f, err := Open(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := filepath.Join(dir, sessionFile+".tmp")
	note := filepath.Join(dir, openDir, "7.json")
	for _, p := range []string{tmp, note} {
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.NextSession(); !errors.Is(err, ErrSymlink) || !strings.Contains(errString(err), tmp+" is a symbolic link") {
		t.Errorf("NextSession with %s a link: %v", tmp, err)
	}
	r := CallRecord{Session: 7, Start: time.Unix(1, 0).UTC()}
	if err := f.OpenCall(r); !errors.Is(err, ErrSymlink) || !strings.Contains(errString(err), note+" is a symbolic link") {
		t.Errorf("OpenCall with %s a link: %v", note, err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != content {
		t.Errorf("the file the links lead to is now %q (%v), want %q", b, err, content)
	}
}

// TestOpenRefusesLinkedOpenDir: open/ as a symbolic link (to a directory
// of notes a user made up) is refused, not read.
func TestOpenRefusesLinkedOpenDir(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(top, "elsewhere"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "elsewhere"), filepath.Join(dir, openDir)); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, 1)
	if err == nil {
		f.Close()
		t.Fatal("Open with open/ a link: no error")
	}
	if !strings.Contains(err.Error(), "a symbolic link is not followed") {
		t.Errorf("Open with open/ a link: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// openPromptly runs Open(dir, 1) and fails the test if it has not
// returned within 5 s (a FIFO opened for reading blocks until a writer
// comes: the Open is then left behind).
func openPromptly(t *testing.T, dir string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := Open(dir, 1)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Open(%s) still blocked after 5 s", dir)
		return nil
	}
}

// TestReadFileBound: readFile takes a file of max octets and refuses one
// of max+1, which it would otherwise return cut short.
func TestReadFileBound(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, n := range []int{64, 65} {
		if err := os.WriteFile(p, bytes.Repeat([]byte("0"), n), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := readFile(p, 64)
		if n == 64 && (err != nil || len(b) != 64) {
			t.Errorf("readFile of 64 octets, max 64: %d octets, %v", len(b), err)
		}
		if n == 65 && (err == nil || !strings.Contains(err.Error(), "is larger than 64 octets")) {
			t.Errorf("readFile of 65 octets, max 64: %d octets, %v", len(b), err)
		}
	}
}

// TestOversizedSessionCounter: a session.next longer than its bound is
// refused, not read as its first 65 octets (here "000…0007", which
// would parse).
func TestOversizedSessionCounter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	counter := append(bytes.Repeat([]byte("0"), 100), "7\n"...)
	if err := os.WriteFile(filepath.Join(dir, sessionFile), counter, 0o600); err != nil {
		t.Fatal(err)
	}
	err := openPromptly(t, dir)
	if err == nil || !strings.Contains(err.Error(), sessionFile+" is larger than 64 octets") {
		t.Errorf("Open with a %d-octet %s: %v", len(counter), sessionFile, err)
	}
}

// TestOversizedOpenNote: an open/ note longer than maxOpenRecord is not
// read (here valid JSON padded with spaces, which cut short would still
// parse), and so records no interrupted call.
func TestOversizedOpenNote(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(dir, openDir), 0o700); err != nil {
		t.Fatal(err)
	}
	note := append([]byte(`{"session":7,"start":"2026-01-01T00:00:00Z"}`), bytes.Repeat([]byte(" "), maxOpenRecord)...)
	if err := os.WriteFile(filepath.Join(dir, openDir, "7.json"), note, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Interrupted() != 0 {
		t.Errorf("an oversized note was read: %d interrupted calls recorded", f.Interrupted())
	}
}
