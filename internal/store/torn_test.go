package store

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestAppendTornTwice: a torn record that could not be cut off, then a
// second failed write that could, must not let the next record be glued
// to the first torn one. Regression: a successful cut-back cleared the
// "torn" mark although the file still ended in the first torn record.
func TestAppendTornTwice(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := func(n uint64) CallRecord {
		return CallRecord{Session: n, Listener: "modem", Result: ResultCompleted, Reason: "caller hung up"}
	}
	if err := f.AppendRecord(rec(1)); err != nil {
		t.Fatal(err)
	}
	// Record 2: half written, the cut-back fails.
	f.truncHook = func(int64) error { return syscall.EIO }
	shortWriter(t, f)
	if err := f.AppendRecord(rec(2)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("record 2: %v, want ENOSPC", err)
	}
	// Record 3: half written, the cut-back works.
	f.truncHook = nil
	shortWriter(t, f)
	if err := f.AppendRecord(rec(3)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("record 3: %v, want ENOSPC", err)
	}
	if err := f.AppendRecord(rec(4)); err != nil {
		t.Fatalf("record 4: %v", err)
	}
	got, _ := ReadRecordsFile(f.RecordsPath())
	var sessions []uint64
	for _, r := range got {
		sessions = append(sessions, r.Session)
	}
	if !slices.Equal(sessions, []uint64{1, 2, 3, 4}) {
		t.Errorf("sessions read back %v, want [1 2 3 4] (2 and 3 kept, written before 4)", sessions)
	}
}

// TestAppendTornAfterExternalTruncate: the records file cut to nothing
// by someone else (logrotate's copytruncate) and then a failed write:
// cutting back must not extend the file with NUL octets to the length
// it had, which glued the next record to them.
func TestAppendTornAfterExternalTruncate(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n := uint64(1); n <= 3; n++ {
		if err := f.AppendRecord(CallRecord{Session: n, Listener: "modem", Result: ResultCompleted, Reason: "caller hung up"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(f.RecordsPath(), 0); err != nil { // copytruncate
		t.Fatal(err)
	}
	shortWriter(t, f)
	if err := f.AppendRecord(CallRecord{Session: 4, Result: ResultBusy}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("record 4: %v, want ENOSPC", err)
	}
	if err := f.AppendRecord(CallRecord{Session: 5, Result: ResultBusy}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := ReadRecordsFile(f.RecordsPath())
	if len(got) != 2 || got[0].Session != 4 || got[1].Session != 5 || rerr != nil {
		t.Errorf("records %+v (%v), want sessions 4 (kept) and 5; file %q", got, rerr, data)
	}
}

// TestReadRecordsSkipsLongLine: a line over maxRecordLine is skipped as
// a torn one is, and the records after it are read (fuzz campaign: the
// reading ended there with "token too long").
func TestReadRecordsSkipsLongLine(t *testing.T) {
	rec := `{"session":1,"listener":"m","remote":"192.0.2.1:1","line":"telnet","start":"2026-11-24T01:00:00Z","end":"2026-11-24T01:00:01Z","result":"completed","bytes_in":0,"bytes_out":0}`
	in := rec + "\n" + strings.Repeat("x", 2<<20) + "\n" + strings.Replace(rec, `"session":1`, `"session":2`, 1) + "\n"
	got, err := ReadRecords(strings.NewReader(in))
	if len(got) != 2 || got[1].Session != 2 {
		t.Fatalf("read %d records (%+v), want both", len(got), got)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "record line 2: longer than") {
		t.Errorf("error %v, want line 2 named", err)
	}
}
