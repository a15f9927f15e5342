package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// openDir, inside the state directory, holds one file per bridged call in
// progress (OpenCall): the call's record as it stood when it was
// bridged, named <session>.json.
const openDir = "open"

// maxOpenRecord bounds a file in openDir that Open reads back.
const maxOpenRecord = 64 << 10

// OpenCall notes that the call r (bridged, not ended) is in progress: if
// the gateway dies before the call's record is appended (a crash, kill
// -9, the OOM killer), the next Open writes the record for it, with
// result interrupted. AppendRecord of the same session removes the note
// once the record is on disk. The note is not fsync'd: it outlives the
// process, not the machine, so a power cut or a kernel crash loses the
// records of the calls then in progress. An fsync'd note cost two fsyncs
// per call and more than doubled the time to set up 10,000 sessions
// (docs/BENCHMARKS.md). It must have returned before AppendRecord of the
// session is called.
func (f *File) OpenCall(r CallRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode open call: %w", err)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return ErrClosed
	}
	dir := filepath.Join(f.dir, openDir)
	path := filepath.Join(dir, strconv.FormatUint(r.Session, 10)+".json")
	err = f.writeNote(path, escapeTerminalControls(b))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		// The state directory is in trouble: Health says so, and its
		// retry (or the next note) finds when it is over.
		if f.journalErr == nil {
			f.journalSince = f.now()
			if f.reserveErr == nil && f.appendErr == nil {
				f.retryTime = f.journalSince.Add(reserveRetry)
			}
		}
		f.journalErr = err
		f.publishHealth()
		return fmt.Errorf("store: open call: %w", err)
	}
	if f.journalErr != nil {
		f.journalErr = nil
		f.publishHealth()
	}
	f.open[r.Session] = r.Start
	return nil
}

// probeJournal writes and removes a note that is no call's (not named
// *.json, so Open never reads one left behind), for Health's retry.
func (f *File) probeJournal() error {
	path := filepath.Join(f.dir, openDir, "probe.tmp")
	if err := f.writeNote(path, []byte("{}")); err != nil {
		return err
	}
	return os.Remove(path)
}

// writeNote writes a call's note to path; a note that could not be
// written whole is removed.
func (f *File) writeNote(path string, b []byte) error {
	if f.journalHook != nil {
		if err := f.journalHook(); err != nil {
			return err
		}
	}
	o, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = o.Write(b)
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// closeCall removes the note of the open call r, whose record is now on
// disk. A session has two calls when the gateway calls back: the one that
// asked for the callback (never bridged, so never noted) and the callback;
// the first's record may come after the callback's note, so a note goes
// only with the record of the call it was made for (the same start). A
// note left behind (a crash between the two, a removal that failed) is
// read back by the next Open, which finds the call's record in the
// records file and only removes it (a record rotated away meanwhile is
// not found: the call gets an interrupted record too).
func (f *File) closeCall(r CallRecord) {
	f.mu.Lock()
	start, open := f.open[r.Session]
	open = open && start.Equal(r.Start)
	if open {
		delete(f.open, r.Session)
	}
	f.mu.Unlock()
	if open {
		_ = os.Remove(filepath.Join(f.dir, openDir, strconv.FormatUint(r.Session, 10)+".json"))
	}
}

// Interrupted is how many calls' records Open wrote for calls a previous
// gateway left open (see OpenCall).
func (f *File) Interrupted() int { return len(f.interrupted) }

// InterruptedRecords are the records Interrupted counts, in the order
// they were written, for the metrics of the calls they end.
func (f *File) InterruptedRecords() []CallRecord { return slices.Clone(f.interrupted) }

// recoverOpenCalls appends an interrupted record for every call a previous
// gateway left open in openDir, then removes the notes. A note that cannot
// be read (torn) is removed without a record. highest is the highest
// session number among the notes read.
func (f *File) recoverOpenCalls(now time.Time) (highest uint64, err error) {
	dir := filepath.Join(f.dir, openDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return 0, fmt.Errorf("store: %s is not a directory (a symbolic link is not followed): remove it", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	// The records first, with one fsync for all of them; then the notes
	// go (a crash in between writes the records again next time).
	var notes []string
	var calls []CallRecord
	var callNotes []string // calls[i]'s note
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		notes = append(notes, path)
		if r, ok := readOpenCall(path); ok {
			calls = append(calls, r)
			callNotes = append(callNotes, path)
		}
	}
	// A note whose call has its record already (the note could not be
	// removed: a state directory made read-only during the call, a crash
	// between the record and the removal) gets no second one.
	var recorded map[uint64][]time.Time
	if len(calls) > 0 {
		recorded = f.recordedStarts(calls)
	}
	var last uint64
	keep := map[string]bool{} // notes whose records wait in memory
	for i, r := range calls {
		highest = max(highest, r.Session)
		if slices.ContainsFunc(recorded[r.Session], r.Start.Equal) {
			continue
		}
		r.End = now
		r.Result = ResultInterrupted
		r.Reason = "the gateway stopped during the call without recording its end (a crash, a kill, or a full disk); it ended before the gateway started again"
		k, err := encodeRecord(r)
		var upto uint64
		switch {
		case err != nil:
		case len(f.kept) > 0 && len(f.kept) < maxKept:
			// One waits already (the disk is full): the rest wait
			// behind it, in order, and no write is tried that could
			// take kept ones out of this loop's bookkeeping.
			f.kept = append(f.kept, k)
			err = ErrRecordKept
		default:
			upto, _, err = f.append(&k)
		}
		last = max(last, upto)
		switch {
		case errors.Is(err, ErrRecordKept):
			// A full disk: the gateway starts all the same, the
			// record waits in memory, and its note stays until it is
			// written (commit removes it, as this call's own).
			f.open[r.Session] = r.Start
			keep[callNotes[i]] = true
		case err != nil:
			return 0, fmt.Errorf("store: record of interrupted call %d: %w", r.Session, err)
		}
		f.interrupted = append(f.interrupted, r)
	}
	if last > 0 {
		if err := f.syncThrough(last); err != nil {
			return 0, err
		}
	}
	for _, path := range notes {
		if keep[path] {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("store: %w", err)
		}
	}
	return highest, syncDir(dir)
}

// recordedStarts scans the records file for the records of the sessions
// of calls and returns their start times (a session that called back
// has two records). It reads the whole file, which only a start-up with
// notes left behind does.
func (f *File) recordedStarts(calls []CallRecord) map[uint64][]time.Time {
	want := map[uint64]bool{}
	for _, c := range calls {
		want[c.Session] = true
	}
	found := map[uint64][]time.Time{}
	r := bufio.NewReaderSize(io.NewSectionReader(f.records, 0, math.MaxInt64), 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Not a record: skip the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			line = nil
		}
		// Most lines are other calls' records: their session number,
		// read from where the store writes it, is enough to pass them
		// over (decoding each in full cost 9.8 s for 1.19 million
		// records). A line laid out otherwise is decoded.
		if s, ok := lineSession(line); ok && !want[s] {
			line = nil
		}
		var rec struct {
			Session uint64    `json:"session"`
			Start   time.Time `json:"start"`
		}
		if len(line) > 0 && f.decodeHook != nil {
			f.decodeHook()
		}
		if len(line) > 0 && json.Unmarshal(line, &rec) == nil && want[rec.Session] {
			found[rec.Session] = append(found[rec.Session], rec.Start)
		}
		if err != nil {
			return found
		}
	}
}

// recordPrefix is how each record line the store writes begins
// (encodeRecord: Session is CallRecord's first field).
const recordPrefix = `{"session":`

// lineSession reads the session number at the start of a record line
// laid out as the store writes it, without decoding the rest; ok is
// false for a line that begins otherwise (edited by hand, torn), which
// only a full decode can tell.
func lineSession(line []byte) (session uint64, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte(recordPrefix))
	if !ok {
		return 0, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i == len(rest) || (rest[i] != ',' && rest[i] != '}') {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// readOpenCall reads a note written by OpenCall; a session number of 0
// or above maxSession makes it corrupt, like one torn.
func readOpenCall(path string) (CallRecord, bool) {
	var r CallRecord
	b, err := readFile(path, maxOpenRecord)
	if err != nil || json.Unmarshal(b, &r) != nil || r.Session == 0 || r.Session > maxSession {
		return r, false
	}
	return r, true
}
