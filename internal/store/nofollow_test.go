package store

import (
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
