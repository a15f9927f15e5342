package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	o, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: open call: %w", err)
	}
	_, err = o.Write(escapeTerminalControls(b))
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("store: open call: %w", err)
	}
	f.mu.Lock()
	f.open[r.Session] = r.Start
	f.mu.Unlock()
	return nil
}

// closeCall removes the note of the open call r, whose record is now on
// disk. A session has two calls when the gateway calls back: the one that
// asked for the callback (never bridged, so never noted) and the callback;
// the first's record may come after the callback's note, so a note goes
// only with the record of the call it was made for (the same start). A
// note left behind by a crash between the two is read back by the next
// Open, which then writes an interrupted record for a call that has its
// record already (the only duplicate a crash can make).
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
func (f *File) Interrupted() int { return f.interrupted }

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
	var last uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		notes = append(notes, path)
		r, ok := readOpenCall(path)
		if !ok {
			continue
		}
		highest = max(highest, r.Session)
		r.End = now
		r.Result = ResultInterrupted
		r.Reason = "the gateway stopped during the call (crash or kill); it ended before the gateway started again"
		if last, err = f.append(r); err != nil {
			return 0, fmt.Errorf("store: record of interrupted call %d: %w", r.Session, err)
		}
		f.interrupted++
	}
	if last > 0 {
		if err := f.syncThrough(last); err != nil {
			return 0, err
		}
	}
	for _, path := range notes {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("store: %w", err)
		}
	}
	return highest, syncDir(dir)
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
