package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNextSessionDiskFull: when the next block of session numbers cannot
// be reserved (ENOSPC writing session.next.tmp), calls still get numbers,
// from memory past the block; the failure is reported once per failed
// reservation, not per call; the reservation is retried after another
// block or reserveRetry; Health says since when; and once the disk has
// room, the reservation covers every number handed out. Trial: a full
// state disk refused every call ("no session number; refusing the
// call") once the block was used up.
func TestNextSessionDiskFull(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	var failures []error
	f.SetReserveFailed(func(err error) { failures = append(failures, err) })
	var last uint64
	next := func() uint64 {
		t.Helper()
		n, err := f.NextSession()
		if err != nil {
			t.Fatalf("NextSession: %v", err)
		}
		if n <= last {
			t.Fatalf("session %d after %d", n, last)
		}
		last = n
		return n
	}
	next() // reserves 1..4
	if err := f.Health(); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	full := true
	f.reserveHook = func(uint64) error {
		if full {
			return syscall.ENOSPC
		}
		return nil
	}
	for range 7 { // 2..8: the reservation at 5 fails
		next()
	}
	if len(failures) != 1 || !errors.Is(failures[0], syscall.ENOSPC) {
		t.Fatalf("failures after one failed reservation: %v", failures)
	}
	next() // 9: a block later, tried again
	if len(failures) != 2 {
		t.Fatalf("%d failures after the retry a block later; want 2", len(failures))
	}
	h := f.Health()
	if h == nil || !errors.Is(h, syscall.ENOSPC) || !strings.Contains(h.Error(), "not writable since 2026-11-23T00:00:00Z") {
		t.Fatalf("Health = %v", h)
	}
	now = now.Add(reserveRetry)
	next() // 10: tried again after reserveRetry
	if len(failures) != 3 {
		t.Fatalf("%d failures after the retry in time; want 3", len(failures))
	}
	full = false
	now = now.Add(reserveRetry)
	n := next() // 11: reserved beyond every number handed out
	if len(failures) != 3 || f.Health() != nil {
		t.Fatalf("after the disk has room: failures %d, Health %v", len(failures), f.Health())
	}
	if got, err := f.readCounter(); err != nil || got <= n {
		t.Fatalf("session.next %d (%v) after handing out %d", got, err, n)
	}
}

// TestOpenStartsAboveRecordedSessions: numbers handed out from memory
// while their reservation failed, whose calls left a record in
// calls.jsonl or an open-call note, are not handed out again after a
// restart. TestNextSessionDiskFull's numbers past session.next were
// otherwise reused by the next gateway.
func TestOpenStartsAboveRecordedSessions(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NextSession(); err != nil { // session.next: 5
		t.Fatal(err)
	}
	if err := f.AppendRecord(CallRecord{Session: 40, Result: ResultCompleted}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = Open(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.NextSession(); err != nil || n != 41 {
		t.Fatalf("after a record of session 40: %d, %v; want 41", n, err)
	}
	if err := f.OpenCall(CallRecord{Session: 90, Start: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = Open(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.NextSession(); err != nil || n != 91 {
		t.Fatalf("after an open note of session 90: %d, %v; want 91", n, err)
	}
}

// TestHighestInTail: only whole records in the scanned tail count.
func TestHighestInTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	var b strings.Builder
	b.WriteString(`{"session":999999,"result":"completed"}` + "\n")
	for b.Len() < tailScan {
		b.WriteString(`{"session":7,"result":"busy","reason":"all lines busy"}` + "\n")
	}
	b.WriteString(`{"session":12,"result":"completed"}` + "\n" + `{"session":5` + "\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := highestInTail(r); got != 12 {
		t.Errorf("highestInTail = %d, want 12", got)
	}
}

// TestHealthRecordLost: a call record the disk refused makes Health say
// so until a record is written again.
func TestHealthRecordLost(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.now = func() time.Time { return time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC) }
	f.writeHook = func([]byte) (int, error) { return 0, syscall.ENOSPC }
	if err := f.AppendRecord(CallRecord{Session: 1, Result: ResultCompleted}); err == nil {
		t.Fatal("AppendRecord on a full disk: no error")
	}
	if h := f.Health(); !errors.Is(h, syscall.ENOSPC) || !strings.Contains(h.Error(), "not writable since 2026-11-23T01:02:03Z") {
		t.Errorf("Health after a lost record: %v", h)
	}
	f.writeHook = nil
	if err := f.AppendRecord(CallRecord{Session: 2, Result: ResultCompleted}); err != nil {
		t.Fatal(err)
	}
	if h := f.Health(); h != nil {
		t.Errorf("Health after a record was written again: %v", h)
	}
}

// TestNextSessionRefusesUnlessDiskFull: numbers are handed out from
// memory only when the reservation fails for a full disk (ENOSPC) or a
// used-up quota (EDQUOT); any other failure (a read-only file system, a
// permission denied, like the planted link and FIFO of
// TestWritesDoNotFollowLinks and TestReserveRefusesFIFO) refuses the
// call as before the fallback existed, on every call until the
// reservation succeeds, and Health says why. Security review: the
// fallback had made every such failure fail open.
func TestNextSessionRefusesUnlessDiskFull(t *testing.T) {
	for _, c := range []struct {
		err      error
		fallback bool
	}{
		{syscall.ENOSPC, true},
		{syscall.EDQUOT, true},
		{syscall.EROFS, false},
		{syscall.EACCES, false},
		{syscall.EIO, false},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			f, err := Open(t.TempDir(), 4)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.reserveHook = func(uint64) error { return c.err }
			var told []error
			f.SetReserveFailed(func(err error) { told = append(told, err) })
			for i := range 3 {
				n, err := f.NextSession()
				if c.fallback && (err != nil || n != uint64(i+1)) {
					t.Fatalf("NextSession %d: %d, %v; want %d from memory", i, n, err, i+1)
				}
				if !c.fallback && !errors.Is(err, c.err) {
					t.Fatalf("NextSession %d: %d, %v; want the call refused with %v", i, n, err, c.err)
				}
			}
			if h := f.Health(); !errors.Is(h, c.err) {
				t.Errorf("Health = %v, want %v", h, c.err)
			}
			if want := map[bool]int{true: 1, false: 0}[c.fallback]; len(told) != want {
				t.Errorf("SetReserveFailed's function told %d times, want %d", len(told), want)
			}
			f.reserveHook = nil
			later := time.Now().Add(reserveRetry) // a full disk's retry is due
			f.now = func() time.Time { return later }
			if n, err := f.NextSession(); err != nil || f.Health() != nil {
				t.Fatalf("once the reservation can be written: %d, %v, Health %v", n, err, f.Health())
			}
		})
	}
}

// TestOpenIgnoresSessionsPastMax: a session number no gateway hands out
// (above maxSession) in the tail of calls.jsonl or in an open-call note
// is corrupt and passed over, and one in session.next refuses Open with
// ErrCorrupt; numbers do not wrap round to 0. Review: a record of
// session 18446744073709551615 made the next gateway start at 0.
func TestOpenIgnoresSessionsPastMax(t *testing.T) {
	const huge = "18446744073709551615"
	for _, where := range []string{"record", "note"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			f, err := Open(dir, 4)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.AppendRecord(CallRecord{Session: 7, Result: ResultCompleted}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			path, text := filepath.Join(dir, recordsFile), `{"session":`+huge+`,"result":"completed"}`+"\n"
			if where == "note" {
				path, text = filepath.Join(dir, openDir, huge+".json"), `{"session":`+huge+`}`
			}
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteString(text); err != nil {
				t.Fatal(err)
			}
			w.Close()
			f, err = Open(dir, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, want := range []uint64{8, 9} {
				if n, err := f.NextSession(); err != nil || n != want {
					t.Errorf("NextSession = %d, %v; want %d", n, err, want)
				}
			}
		})
	}
	t.Run("session.next", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, sessionFile), []byte(huge+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f, err := Open(dir, 4); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				f.Close()
			}
			t.Errorf("Open with session.next %s: %v, want ErrCorrupt", huge, err)
		}
	})
}
