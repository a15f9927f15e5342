package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// logFile is the daemon's log when [log] file names one: appended to
// (O_APPEND, so a copytruncate leaves no run of NUL octets), and opened
// again by its name on SIGHUP once a rotation renamed or removed it, so
// that logrotate's default `create` with a reload in postrotate works as
// it does for calls.jsonl. It is the zap core's WriteSyncer: zap writes
// one whole line per Write.
//
// A line the file does not take (a full disk, a quota) is lost, not
// glued to the next: the part a write took is cut off again, as
// calls.jsonl's records are (or, if that fails, the next line starts on
// a new line). The loss is told to stderr (the journal under systemd)
// as it begins, and once the file takes a line again the log says how
// many were lost (lost, see fileLogger).
type logFile struct {
	path string

	mu sync.Mutex
	f  *os.File
	// torn: a failed write left part of a line at the end of the file
	// that could not be cut off.
	torn bool
	// lostLines counts the lines not written since the last one that
	// was; lostErr is the first one's error, lostSince when it failed.
	lostLines int
	lostErr   error
	lostSince time.Time
	// telling is the count a report is telling now: if a line fails
	// meanwhile (the report's own, on a disk that took one line), it is
	// counted again rather than lost with the report.
	telling int
	// lost is told, outside mu, the lines lost once a line is written
	// again (fileLogger logs them); stderr is told the first loss.
	lost   func(lines int, since time.Time, err error)
	stderr io.Writer
	// writeHook replaces f.Write in tests.
	writeHook func([]byte) (int, error)
}

// logFileMode is a new log file's mode (less the umask): the log names
// users and addresses, never passwords; the group may read it (adm-style
// log readers).
const logFileMode = 0o640

// openLogFile opens path for appending, creating it.
func openLogFile(path string) (*logFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("[log] file: %w", err)
	}
	return &logFile{path: path, f: f, stderr: os.Stderr}, nil
}

// openAppend opens path for appending, creating it. Only a regular file
// is taken: a directory or a device is no log, and opening a FIFO that
// nobody reads would block (and then every logging goroutine with it).
func openAppend(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	// Never through a symbolic link (oNoFollow), and a file with one
	// name only: below, a gateway started as root gives a root-owned
	// log file to the log directory's owner, and a link planted there by
	// the gateway's user (to /etc/shadow) made its target theirs
	// (pentest).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, logFileMode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: name the log file itself", path)
		}
		return nil, err
	}
	if !singleLink(f) {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file with a single name (a hard link to another file?)", path)
	}
	// Started as root by mistake (review): a log file of root's in the
	// gateway's log directory would keep every later start as the
	// gateway's user out.
	if fuid, _, ok := fileOwner(path); ok && fuid == 0 {
		takeDirOwner(f, filepath.Dir(path))
	}
	return f, nil
}

// Write writes one line. It never fails: a line the file does not take
// is counted as lost (see logFile), as zap's report of the failure would
// go to this same file.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	b := p
	if l.torn {
		b = append([]byte{'\n'}, p...)
	}
	n, err := l.write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 {
			l.cutBack(n)
		}
		first := l.lostLines == 0
		l.lostLines += 1 + l.telling
		l.telling = 0
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the file is named anyway
		}
		if first {
			l.lostErr, l.lostSince = err, time.Now()
		}
		l.mu.Unlock()
		if first && l.stderr != nil {
			fmt.Fprintf(l.stderr, "gateway serve: [log] file %s: %v: log lines are lost until it takes them again\n", l.path, err)
		}
		return len(p), nil
	}
	l.torn = false
	report := l.lost
	lines, since, lerr := l.lostLines, l.lostSince, l.lostErr
	if lines > 0 && report != nil && l.telling == 0 {
		l.lostLines, l.lostErr = 0, nil
		l.telling = lines
	} else {
		lines = 0
	}
	l.mu.Unlock()
	if lines > 0 {
		report(lines, since, lerr)
		l.mu.Lock()
		l.telling = 0
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *logFile) write(b []byte) (int, error) {
	if l.writeHook != nil {
		return l.writeHook(b)
	}
	return l.f.Write(b)
}

// cutBack removes the n octets a failed write appended, counted from the
// file's end as it is now (a copytruncate may have cut the file short
// since); if they stay, the next line starts on a new line. l.mu is held.
func (l *logFile) cutBack(n int) {
	st, err := l.f.Stat()
	if err == nil && st.Size() >= int64(n) {
		err = l.f.Truncate(st.Size() - int64(n))
	} else if err == nil {
		err = errors.New("file shorter than the write")
	}
	if err != nil {
		l.torn = true
	}
}

// Sync is zap's flush: the file has no buffer of ours, and an fsync per
// error line would stall the callers' goroutines on a busy disk.
func (l *logFile) Sync() error { return nil }

// Reopen opens the file by its name again when that name no longer names
// the open file (renamed or removed by a rotation), and says whether it
// did. On an error the log goes on to the file open until now.
func (l *logFile) Reopen() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, err := l.f.Stat()
	if err != nil {
		return false, err
	}
	if st, err := os.Stat(l.path); err == nil && os.SameFile(cur, st) {
		return false, nil
	}
	nf, err := openAppend(l.path)
	if err != nil {
		return false, err
	}
	old := l.f
	l.f, l.torn = nf, false
	return true, old.Close()
}

// Close closes the file; later writes fail. Lines lost and not yet
// told in the file are told to stderr.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.lostLines + l.telling; n > 0 && l.stderr != nil {
		fmt.Fprintf(l.stderr, "gateway serve: [log] file %s: %d log lines lost since %s (%v)\n", l.path, n, l.lostSince.Format(time.RFC3339), l.lostErr)
	}
	return l.f.Close()
}
