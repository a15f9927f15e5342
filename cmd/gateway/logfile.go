package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// logFile is the daemon's log when [log] file names one: appended to
// (O_APPEND, so a copytruncate leaves no run of NUL octets), and opened
// again by its name on SIGHUP once a rotation renamed or removed it, so
// that logrotate's default `create` with a reload in postrotate works as
// it does for calls.jsonl. It is the zap core's WriteSyncer: zap writes
// one whole line per Write.
type logFile struct {
	path string

	mu sync.Mutex
	f  *os.File
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
	return &logFile{path: path, f: f}, nil
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

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
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
	l.f = nf
	return true, old.Close()
}

// Close closes the file; later writes fail.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
