//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenRefusesNonRegular: a FIFO or a directory where the store opens
// a file is refused at once, naming it and what it is. Trial: with
// mkfifo state/session.next, gateway serve hung in open(2) before the
// check of the file's type.
func TestOpenRefusesNonRegular(t *testing.T) {
	for _, name := range []string{recordsFile, sessionFile, lockFile} {
		for _, kind := range []string{"FIFO", "directory"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "state")
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, name)
				mk := func() error { return unix.Mkfifo(p, 0o600) }
				if kind == "directory" {
					mk = func() error { return os.Mkdir(p, 0o700) }
				}
				if err := mk(); err != nil {
					t.Fatal(err)
				}
				err := openPromptly(t, dir)
				want := "store: " + p + " is not a regular file but a " + kind
				if !errors.Is(err, ErrNotRegular) || !strings.HasPrefix(errString(err), want) {
					t.Errorf("Open with %s a %s: %v, want %q", name, kind, err, want)
				}
			})
		}
	}
}

// TestOpenSkipsFIFONote: a FIFO in open/ named like a note is not read
// (Open does not block on it).
func TestOpenSkipsFIFONote(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(dir, openDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, openDir, "7.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openPromptly(t, dir); err != nil {
		t.Errorf("Open with a FIFO in open/: %v", err)
	}
}

// TestReserveRefusesFIFO: a FIFO at the session counter's temporary
// name, which is opened for writing only, is refused as not a regular
// file (the open fails with ENXIO when no one reads the FIFO), not with a
// bare "no such device or address", and not waited on.
func TestReserveRefusesFIFO(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	f, err := Open(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := filepath.Join(dir, sessionFile+".tmp")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.NextSession()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(errString(err), p+" is not a regular file but a FIFO") {
			t.Errorf("NextSession with a FIFO at %s: %v", p, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NextSession blocked on a FIFO")
	}
}
