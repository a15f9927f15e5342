package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// testRecord is a completed call's record numbered n.
func testRecord(n uint64) CallRecord {
	return CallRecord{Session: n, Listener: "modem", Result: ResultCompleted, Reason: "caller hung up"}
}

// sessionsIn is the session numbers of the records in the file at path,
// in file order.
func sessionsIn(t *testing.T, path string) []uint64 {
	t.Helper()
	got, err := ReadRecordsFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var s []uint64
	for _, r := range got {
		s = append(s, r.Session)
	}
	return s
}

// TestReopenAfterRename: logrotate's `create` renames calls.jsonl (and
// may put an empty one in its place); after Reopen the next records go
// to the file by the name, none is lost, and a second Reopen with
// nothing rotated is a no-op.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.AppendRecord(testRecord(1)); err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(dir, "calls.jsonl.1")
	if err := os.Rename(f.RecordsPath(), rotated); err != nil {
		t.Fatal(err)
	}
	// Written after the rename, before the reload: still the old file.
	if err := f.AppendRecord(testRecord(2)); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reopen(); !ok || err != nil {
		t.Fatalf("Reopen after a rename = %v, %v; want true, nil", ok, err)
	}
	if err := f.AppendRecord(testRecord(3)); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reopen(); ok || err != nil {
		t.Fatalf("Reopen with nothing rotated = %v, %v; want false, nil", ok, err)
	}
	if err := f.AppendRecord(testRecord(4)); err != nil {
		t.Fatal(err)
	}
	if got := sessionsIn(t, rotated); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("rotated file holds %v, want [1 2]", got)
	}
	if got := sessionsIn(t, f.RecordsPath()); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("new file holds %v, want [3 4]", got)
	}
	st, err := os.Stat(f.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("new records file mode %o, want 600", m)
	}
}

// TestReopenKeepsTornNewFile: a file put in place that ends in part of a
// line gets a newline first, so that the next record is not glued to it.
func TestReopenKeepsTornNewFile(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Rename(f.RecordsPath(), filepath.Join(dir, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.RecordsPath(), []byte(`{"session":7,"res`), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reopen(); !ok || err != nil {
		t.Fatalf("Reopen = %v, %v", ok, err)
	}
	if err := f.AppendRecord(testRecord(8)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecordsFile(f.RecordsPath())
	if !errors.Is(err, ErrCorrupt) || len(got) != 1 || got[0].Session != 8 {
		t.Errorf("read back %v, %v; want record 8 and the torn line reported", got, err)
	}
}

// TestReopenRefusesSymlink: a symbolic link put where calls.jsonl was is
// not followed; the records go on to the file open before.
func TestReopenRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := filepath.Join(dir, "old")
	if err := os.Rename(f.RecordsPath(), old); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(elsewhere, f.RecordsPath()); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reopen(); ok || !errors.Is(err, ErrSymlink) {
		t.Fatalf("Reopen onto a symlink = %v, %v; want false and ErrSymlink", ok, err)
	}
	if err := f.AppendRecord(testRecord(1)); err != nil {
		t.Fatal(err)
	}
	if got := sessionsIn(t, old); len(got) != 1 || got[0] != 1 {
		t.Errorf("old file holds %v, want [1]", got)
	}
	if _, err := os.Stat(elsewhere); !os.IsNotExist(err) {
		t.Errorf("the link's target was created (%v)", err)
	}
}

// TestReopenSyncFailure: the old file's fsync failing at Reopen is told
// to Health and to the appenders whose records it covered.
func TestReopenSyncFailure(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(f.RecordsPath()); err != nil {
		t.Fatal(err)
	}
	f.syncHook = func() error { return syscall.EIO }
	if ok, err := f.Reopen(); !ok || err != nil {
		t.Fatalf("Reopen = %v, %v", ok, err)
	}
	if err := f.Health(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Health after the failed fsync = %v, want EIO", err)
	}
	f.syncHook = nil
	if err := f.AppendRecord(testRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Health(); err != nil {
		t.Errorf("Health after a record was written = %v", err)
	}
}

// TestReopenWhileAppending: records appended from many goroutines while
// the file is rotated and reopened again and again all land in one of
// the files, whole (run with -race).
func TestReopenWhileAppending(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := f.AppendRecord(testRecord(uint64(w*each + i + 1))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var rotated []string
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			name := filepath.Join(dir, "calls.jsonl."+strconv.Itoa(i))
			if err := os.Rename(f.RecordsPath(), name); err == nil {
				rotated = append(rotated, name)
			}
			if _, err := f.Reopen(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	seen := map[uint64]bool{}
	for _, p := range append(rotated, f.RecordsPath()) {
		for _, s := range sessionsIn(t, p) {
			if seen[s] {
				t.Errorf("record %d twice", s)
			}
			seen[s] = true
		}
	}
	if len(seen) != writers*each {
		t.Errorf("%d records read back, want %d", len(seen), writers*each)
	}
}
