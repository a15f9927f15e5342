package store

import (
	"errors"
	"slices"
	"syscall"
	"testing"
)

// shortWriter makes the records file behave like a full disk for the next
// append: the file system takes the first half of the record, then
// refuses the rest with ENOSPC.
func shortWriter(t *testing.T, f *File) {
	t.Helper()
	f.writeHook = func(b []byte) (int, error) {
		f.writeHook = nil // the disk has room again afterwards
		n, err := f.records.Write(b[:len(b)/2])
		if err != nil {
			t.Fatal(err)
		}
		return n, syscall.ENOSPC
	}
}

// TestAppendDiskFullTornRecord: a record the disk had room for only in
// part is reported kept (ErrRecordKept), and it and the records after it
// (once there is room again) are whole and readable. Regression: on a full file system the
// torn half stayed in calls.jsonl without a newline, the next record was
// appended to it, and that record, reported written, was unreadable too.
// Found by filling a 64 KiB tmpfs under a running gateway.
func TestAppendDiskFullTornRecord(t *testing.T) {
	for _, truncFails := range []bool{false, true} {
		name := "cut back"
		if truncFails {
			name = "cannot cut back"
		}
		t.Run(name, func(t *testing.T) {
			f, err := Open(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if truncFails {
				f.truncHook = func(int64) error { return syscall.EIO }
			}
			rec := func(n uint64) CallRecord {
				return CallRecord{Session: n, Listener: "modem", Remote: "192.0.2.1:4000", Result: ResultCompleted, Reason: "caller hung up"}
			}
			if err := f.AppendRecord(rec(1)); err != nil {
				t.Fatal(err)
			}
			shortWriter(t, f)
			if err := f.AppendRecord(rec(2)); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrRecordKept) {
				t.Fatalf("append on a full disk: %v, want ENOSPC and ErrRecordKept", err)
			}
			for n := uint64(3); n <= 4; n++ {
				if err := f.AppendRecord(rec(n)); err != nil {
					t.Fatalf("record %d after the disk had room again: %v", n, err)
				}
			}
			got, err := ReadRecordsFile(f.RecordsPath())
			if truncFails != errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadRecords error %v (the torn line is left only when it cannot be cut off)", err)
			}
			var sessions []uint64
			for _, r := range got {
				sessions = append(sessions, r.Session)
			}
			if !slices.Equal(sessions, []uint64{1, 2, 3, 4}) {
				t.Errorf("sessions read back %v, want [1 2 3 4] (2 kept, written before 3)", sessions)
			}
		})
	}
}

// TestOpenAfterTornRecordAppends: after a crash left a torn record, the
// size the store counts from is the repaired file's, so that cutting back
// a later failed write never removes a whole record.
func TestOpenAfterTornRecordAppends(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AppendRecord(CallRecord{Session: 1, Result: ResultBusy}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.records.Write([]byte(`{"session":2,"res`)); err != nil { // crash mid-record
		t.Fatal(err)
	}
	f.Close()
	f, err = Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	shortWriter(t, f)
	if err := f.AppendRecord(CallRecord{Session: 3, Result: ResultBusy}); err == nil {
		t.Fatal("short write not reported")
	}
	if err := f.AppendRecord(CallRecord{Session: 4, Result: ResultBusy}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecordsFile(f.RecordsPath())
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("the crash's torn record is not reported: %v", err)
	}
	if len(got) != 3 || got[0].Session != 1 || got[1].Session != 3 || got[2].Session != 4 {
		t.Errorf("records %+v, want sessions 1, 3 (kept through the short write) and 4", got)
	}
}
