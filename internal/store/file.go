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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// File names inside the state directory.
const (
	sessionFile = "session.next"
	recordsFile = "calls.jsonl"
	lockFile    = "store.lock"
)

// DefaultBlock is how many session numbers File reserves per disk write.
const DefaultBlock = 64

// maxSession is the highest session number the store takes from its
// files. A larger one (18446744073709551615 in calls.jsonl) is corrupt:
// no gateway handed it out, and starting above it, or a block past it,
// would wrap round to 0 and hand out numbers again.
const maxSession = math.MaxInt64

// File is the embedded Store: files in one state directory.
type File struct {
	dir   string
	block uint64

	mu       sync.Mutex
	next     uint64 // next number to hand out
	reserved uint64 // numbers below this are reserved on disk
	records  *os.File
	lock     *os.File
	closed   bool
	written  uint64 // records written to the file (not necessarily synced)
	// torn is set when a failed write left part of a record at the end
	// of the records file that could not be cut off (see AppendRecord).
	torn bool

	// syncMu serialises fsync of the records file. Appenders that wrote
	// while another fsync ran share the next one (group commit), so a
	// burst of calls ending at once costs a few fsyncs, not one each.
	syncMu  sync.Mutex
	synced  uint64 // records known to be on disk
	syncErr error  // error of the last fsync, for those it covered
	// syncHook replaces records.Sync in tests; writeHook replaces
	// records.Write and truncHook records.Truncate.
	syncHook  func() error
	writeHook func([]byte) (int, error)
	truncHook func(int64) error

	// kept holds, in order, the records that could not be written
	// (ErrRecordKept), at most maxKept; under mu. lateWritten is told
	// how many of them got to disk (SetLateWritten).
	kept        []keptRecord
	lateWritten func(n int)

	// open holds the sessions with a note in openDir (OpenCall), under
	// mu; interrupted holds the records Open wrote for a previous
	// gateway's open calls.
	open        map[uint64]time.Time // the noted call's start
	interrupted []CallRecord

	// The reservation of session numbers, when it fails (disk full):
	// numbers are handed out past reserved from memory (see NextSession)
	// and the reservation is retried once retryAt numbers or retryTime
	// is reached. reserveErr is the last failure, since when the
	// failures started; nil once a reservation succeeded. Under mu.
	reserveErr   error
	reserveSince time.Time
	// appendErr is the error of the last record that could not be
	// written, since when records failed; nil once one was written, or
	// a reservation succeeded. tries numbers the records' writes in
	// their order; appendNoted is the one whose outcome appendErr
	// tells, so that an outcome learned late (an fsync's) does not
	// overrule a later write's. Under mu.
	appendErr   error
	appendSince time.Time
	// journalErr is the error of the last call note (OpenCall) that
	// could not be written, since when notes failed; nil once one was
	// written, or a reservation succeeded. Under mu. (Operator trial:
	// notes failed on a full disk for 26 s while Health said ok.)
	journalErr   error
	journalSince time.Time
	tries        uint64
	appendNoted  uint64
	retryAt      uint64
	retryTime    time.Time
	// health is what Health says, published under mu whenever the
	// above changes, read without it; probing is set while a retry
	// Health started runs, probes counts those (tests wait for them).
	health  atomic.Pointer[healthState]
	probing atomic.Bool
	probes  sync.WaitGroup
	// reserveFailed is told each failed reservation (SetReserveFailed);
	// now is the clock (time.Now) and reserveHook replaces the disk
	// write of a reservation in tests.
	reserveFailed func(error)
	now           func() time.Time
	reserveHook   func(upto uint64) error
	// journalHook, in tests, fails OpenCall's write; decodeHook, in
	// tests, is told each record line recordedStarts decodes in full.
	journalHook func() error
	decodeHook  func()
}

// reserveRetry is how long after a failed reservation of session numbers
// the next call tries again, even if fewer than a block's numbers have
// been handed out since; and how long after the state directory could
// not be written Health tries a reservation itself. A load balancer
// keeps a gateway out while Health reports the trouble, so it is short:
// a retry costs a small write and two fsyncs.
const reserveRetry = 10 * time.Second

// healthState is a published answer of Health: err (nil: none) and
// when Health may try the reservation again.
type healthState struct {
	err   error
	retry time.Time
}

var _ Store = (*File)(nil)

// Open opens (creating if needed, mode 0700) the state directory and takes
// its lock. block is the session-number reservation size (0: DefaultBlock;
// 1 writes the counter for every call). The store opens its files in dir
// only if they are regular files, never through a symbolic link (an
// error matching ErrSymlink, naming it: see openFile); who may create
// files in dir is judged by the caller (auth's check of the state
// directory, at gateway start).
func Open(dir string, block int) (*File, error) { return open(dir, block, nil) }

// open is Open; setup, if not nil, sees the File before Open uses it
// (tests set its hooks: a full disk at start-up).
func open(dir string, block int, setup func(*File)) (*File, error) {
	if block <= 0 {
		block = DefaultBlock
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lk, err := openFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if busy, err := tryLock(lk); err != nil {
		lk.Close()
		if busy {
			return nil, fmt.Errorf("%w: %s: stop the other gateway, or give this one another state_dir", ErrLocked, dir)
		}
		return nil, fmt.Errorf("store: lock %s: %w", dir, err)
	}
	f := &File{dir: dir, block: uint64(block), lock: lk, now: time.Now}
	if setup != nil {
		setup(f)
	}
	n, err := f.readCounter()
	if err != nil {
		lk.Close()
		return nil, err
	}
	f.next, f.reserved = n, n
	// Read and write: repairTail reads the last octet through the same
	// descriptor, not through the name again.
	rec, err := openFile(filepath.Join(dir, recordsFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		lk.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := repairTail(rec); err != nil {
		rec.Close()
		lk.Close()
		return nil, err
	}
	f.records = rec
	f.open = map[uint64]time.Time{}
	highest, err := f.recoverOpenCalls(time.Now())
	if err != nil {
		rec.Close()
		lk.Close()
		return nil, err
	}
	// Numbers handed out while their reservation failed (disk full) are
	// above session.next: those of the calls whose records or notes got
	// to disk are not handed out again.
	if tail := highestInTail(rec); tail > highest {
		highest = tail
	}
	if highest >= f.next {
		f.next = highest + 1
	}
	return f, nil
}

// tailScan is how much of the end of the records file Open reads for the
// highest session number recorded.
const tailScan = 64 << 10

// highestInTail is the highest session number among the whole records in
// the last tailScan octets of the records file r; 0 if none. Lines that
// are not records, and records with a number above maxSession, are
// passed over as corrupt (ReadRecords reports the former).
func highestInTail(r *os.File) uint64 {
	st, err := r.Stat()
	if err != nil || st.Size() == 0 {
		return 0
	}
	off := max(st.Size()-tailScan, 0)
	b := make([]byte, st.Size()-off)
	n, _ := r.ReadAt(b, off)
	b = b[:n]
	if off > 0 {
		// The first line is likely a part of a record.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			return 0
		}
	}
	var highest uint64
	for line := range bytes.Lines(b) {
		var rec struct {
			Session uint64 `json:"session"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Session > highest && rec.Session <= maxSession {
			highest = rec.Session
		}
	}
	return highest
}

// Dir is the state directory.
func (f *File) Dir() string { return f.dir }

// RecordsPath is the call-record file.
func (f *File) RecordsPath() string { return filepath.Join(f.dir, recordsFile) }

func (f *File) readCounter() (uint64, error) {
	b, err := readFile(filepath.Join(f.dir, sessionFile), 64)
	if errors.Is(err, fs.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 || n > maxSession {
		return 0, fmt.Errorf("%w: %s: %q", ErrCorrupt, sessionFile, bytes.TrimSpace(b))
	}
	return n, nil
}

// NextSession implements Store.
//
// When the next block of numbers cannot be reserved because the state
// directory's file system is full (ENOSPC) or its user's quota used up
// (EDQUOT), the call goes on: numbers are handed out from memory past the last
// reservation, the failure is told to the function SetReserveFailed
// gave (once per failed reservation) and reported by Health, and the
// reservation is tried again after another block of numbers or
// reserveRetry, whichever comes first. Once it succeeds, it reserves
// beyond every number handed out. A gateway that restarts meanwhile
// starts above the highest session number in its open-call notes and in
// the last 64 KiB of calls.jsonl (Open); a number whose call left no
// trace there (its record lost to the full disk as well) may be handed
// out again after such a restart.
//
// Any other failure of the reservation (a symbolic link or a FIFO
// planted at session.next.tmp, a permission denied, a read-only file
// system) refuses the call with its error, and the next call tries
// again: numbers are handed out from memory only while the disk is
// full, not while someone else decides what the store writes. Health
// reports either.
func (f *File) NextSession() (uint64, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return 0, ErrClosed
	}
	var failed error
	if f.next >= f.reserved && f.retryDue() {
		err := f.reserve(f.next + f.block)
		f.noteReserve(err)
		if err != nil && !outOfSpace(err) {
			f.mu.Unlock()
			return 0, err
		}
		failed = err
	}
	n := f.next
	f.next++
	report := f.reserveFailed
	f.mu.Unlock()
	if failed != nil && report != nil {
		report(failed)
	}
	return n, nil
}

// retryDue reports whether NextSession, out of reserved numbers, tries
// the reservation again: always, unless the last one failed for a full
// disk less than a block of numbers and reserveRetry ago. f.mu is held.
func (f *File) retryDue() bool {
	return f.reserveErr == nil || !outOfSpace(f.reserveErr) ||
		f.next >= f.retryAt || !f.now().Before(f.retryTime)
}

// SetReserveFailed makes NextSession call fn (outside the store's lock)
// with the error of each reservation of session numbers that failed for
// a full disk: the call was given a number from memory. nil: none.
func (f *File) SetReserveFailed(fn func(error)) {
	f.mu.Lock()
	f.reserveFailed = fn
	f.mu.Unlock()
}

// Health is nil while the store can write its state directory, else an
// error saying since when it could not and why: the last reservation of
// session numbers failed (on a full disk calls go on with numbers from
// memory, else they are refused; see NextSession), or the last call
// record could not be written (it is lost). The earlier of the two
// troubles is named. For a gateway's health check, which may ask as
// often as it likes: Health does not wait for the store's lock or its
// disk.
//
// The trouble clears once a reservation or a record is written again.
// So that it clears when no calls come (a load balancer that took the
// gateway out on the trouble sends none), Health itself starts a
// reservation in the background once reserveRetry has passed since the
// last failure, at most one at a time; the call of Health after it
// ended sees its outcome.
func (f *File) Health() error {
	h := f.health.Load()
	if h == nil {
		return nil
	}
	if !f.now().Before(h.retry) && f.probing.CompareAndSwap(false, true) {
		f.probes.Add(1)
		go f.probe()
	}
	return h.err
}

// probe tries, for Health, the reservation that NextSession would: past
// every number handed out when they ran past the reservation, else the
// reservation as it stands written again, which shows the state
// directory can be written.
//
// When that works, the records kept in memory (ErrRecordKept) are
// written.
func (f *File) probe() {
	defer f.probes.Done()
	defer f.probing.Store(false)
	if f.probeReserve() {
		_ = f.commit(nil)
	}
}

// probeReserve is probe's reservation; it reports whether it was made
// and records are kept to be written.
func (f *File) probeReserve() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || (f.reserveErr == nil && f.appendErr == nil && f.journalErr == nil) || f.now().Before(f.retryTime) {
		return false
	}
	upto := f.reserved
	if f.next >= f.reserved {
		upto = f.next + f.block
	}
	err := f.reserve(upto)
	if err == nil && f.journalErr != nil {
		// The reservation shows the directory can be written, not
		// that open/ can: a note is tried there too, or Health would
		// say ok until the next bridged call failed again (review).
		if jerr := f.probeJournal(); jerr != nil {
			f.journalErr = jerr
		} else {
			f.journalErr = nil
		}
	}
	f.noteReserve(err)
	return err == nil && len(f.kept) > 0
}

// noteReserve keeps the outcome of a reservation for Health and
// NextSession's retries: a success clears the troubles of the state
// directory, records' included unless some are still kept in memory.
// f.mu is held.
func (f *File) noteReserve(err error) {
	if err == nil {
		// Records kept in memory keep their trouble until written
		// (Health's retry writes them, reserveRetry from now: not at
		// every scrape).
		f.reserveErr = nil
		if len(f.kept) == 0 {
			f.appendErr = nil
		} else {
			f.retryTime = f.now().Add(reserveRetry)
		}
		f.publishHealth()
		return
	}
	now := f.now()
	if f.reserveErr == nil {
		f.reserveSince = now
	}
	f.reserveErr = err
	f.retryAt, f.retryTime = f.next+f.block, now.Add(reserveRetry)
	f.publishHealth()
}

// noteAppend keeps the outcome of the record write numbered try (tries)
// for Health, unless that of a later write is known already: a success
// clears a failure only if the failed write came before it. f.mu is
// held.
func (f *File) noteAppend(try uint64, err error) {
	if errors.Is(err, ErrClosed) || try < f.appendNoted || (err == nil && try == f.appendNoted) {
		return
	}
	f.appendNoted = try
	switch {
	case err == nil:
		f.appendErr = nil
	case f.appendErr == nil:
		now := f.now()
		f.appendErr, f.appendSince = err, now
		if f.reserveErr == nil {
			f.retryTime = now.Add(reserveRetry)
		}
	default:
		f.appendErr = err
		if f.reserveErr == nil {
			f.retryTime = f.now().Add(reserveRetry)
		}
	}
	f.publishHealth()
}

// publishHealth makes Health say what reserveErr and appendErr say.
// f.mu is held.
func (f *File) publishHealth() {
	err, since := f.reserveErr, f.reserveSince
	if f.appendErr != nil && (err == nil || f.appendSince.Before(since)) {
		err, since = f.appendErr, f.appendSince
	}
	if f.journalErr != nil && (err == nil || f.journalSince.Before(since)) {
		err, since = f.journalErr, f.journalSince
	}
	if err == nil {
		f.health.Store(nil)
		return
	}
	f.health.Store(&healthState{
		err:   fmt.Errorf("store: state_dir %s not writable since %s: %w", f.dir, since.UTC().Format(time.RFC3339), err),
		retry: f.retryTime,
	})
}

// reserve durably moves the high-water mark to upto. The rename puts a
// new file in place of a link named session.next, but the temporary
// file is opened by name, and so not through a link (openFile).
func (f *File) reserve(upto uint64) error {
	if f.reserveHook != nil {
		if err := f.reserveHook(upto); err != nil {
			return fmt.Errorf("store: reserve session numbers: %w", err)
		}
	}
	tmp := filepath.Join(f.dir, sessionFile+".tmp")
	w, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: reserve session numbers: %w", err)
	}
	_, err = fmt.Fprintf(w, "%d\n", upto)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(f.dir, sessionFile))
	}
	if err == nil {
		err = syncDir(f.dir)
	}
	if err != nil {
		return fmt.Errorf("store: reserve session numbers: %w", err)
	}
	f.reserved = upto
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// AppendRecord implements Store: one JSON line, written with a single
// write(2) and fsync'd before returning. Concurrent appends share fsyncs.
//
// A write that fails part-way (disk full: the file system took the
// first octets of the record and refused the rest) would leave a torn
// line that the next record, once there is room again, is glued to, and
// both would be unreadable. So the octets the write took are cut off
// again (cutBack); if even that fails, the next record starts on a new
// line, and only the torn one is lost (ReadRecords reports it).
//
// A record that could not be written is kept in memory (the error
// wraps ErrRecordKept), up to maxKept of them, and written before the
// next record, when Health's retry finds the directory writable again,
// or at Close; only a record beyond maxKept, or one still kept when the
// store closes, is lost.
func (f *File) AppendRecord(r CallRecord) error {
	k, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return f.commit(&k)
}

// encodeRecord is r as a line of the records file.
func encodeRecord(r CallRecord) (keptRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return keptRecord{}, fmt.Errorf("store: encode record: %w", err)
	}
	return keptRecord{r, append(escapeTerminalControls(b), '\n')}, nil
}

// keptRecord is a record and its line.
type keptRecord struct {
	r    CallRecord
	line []byte
}

// maxKept bounds the records kept in memory while none can be written:
// about 2 MiB of them.
const maxKept = 4096

// commit writes the kept records and then rec (nil: only the kept ones),
// fsyncs them, and removes the notes of their calls. Its error is rec's
// (ErrRecordKept: kept), or the fsync's.
func (f *File) commit(rec *keptRecord) error {
	upto, late, err := f.append(rec)
	var serr error
	if upto > 0 {
		serr = f.syncThrough(upto)
	}
	if serr == nil {
		for _, k := range late {
			f.closeCall(k.r)
		}
		if rec != nil && err == nil {
			f.closeCall(rec.r)
		}
		if len(late) > 0 {
			f.mu.Lock()
			fn := f.lateWritten
			f.mu.Unlock()
			if fn != nil {
				fn(len(late))
			}
		}
	}
	if err != nil {
		return err
	}
	return serr
}

// SetLateWritten makes the store call fn (outside its lock) with the
// number of kept records (ErrRecordKept) each time some of them got to
// disk. nil: none.
func (f *File) SetLateWritten(fn func(n int)) {
	f.mu.Lock()
	f.lateWritten = fn
	f.mu.Unlock()
}

// append writes the kept records and then rec (if not nil) to the
// records file (not yet synced) and returns the number of the last among
// the records written, for syncThrough (0: none), the kept ones written,
// and rec's error. A failed write is noted for Health here, in the order
// of the writes; rec is then kept if there is room.
func (f *File) append(rec *keptRecord) (uint64, []keptRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, nil, ErrClosed
	}
	var late []keptRecord
	var err error
	for len(f.kept) > 0 && err == nil {
		if err = f.writeLine(f.kept[0].line); err == nil {
			late = append(late, f.kept[0])
			f.kept = f.kept[1:]
		}
	}
	if len(f.kept) == 0 {
		f.kept = nil
	}
	if err == nil && rec != nil {
		err = f.writeLine(rec.line)
	}
	var upto uint64
	if len(late) > 0 || (rec != nil && err == nil) {
		upto = f.written
	}
	switch {
	case err == nil, rec == nil:
		return upto, late, err
	case len(f.kept) < maxKept:
		f.kept = append(f.kept, *rec)
		return upto, late, fmt.Errorf("%w (%d kept): %w", ErrRecordKept, len(f.kept), err)
	}
	return upto, late, fmt.Errorf("%w (%d records kept in memory already)", err, len(f.kept))
}

// writeLine writes one record line, cutting back what a failed write
// left, and notes the outcome for Health. f.mu is held.
func (f *File) writeLine(line []byte) error {
	f.tries++
	b := line
	if f.torn {
		b = append([]byte{'\n'}, line...)
	}
	n, err := f.write(b)
	if err != nil {
		if n > 0 {
			f.cutBack(n)
		}
		err = fmt.Errorf("store: append record: %w", err)
		f.noteAppend(f.tries, err)
		return err
	}
	f.torn = false
	f.written++
	return nil
}

// escapeTerminalControls rewrites, in JSON text, the characters that
// encoding/json leaves raw but a terminal or viewer acts on: the C1
// controls U+0080..U+009F (U+009B is CSI, U+009D OSC) and the
// bidirectional formatting characters (U+061C, U+200E, U+200F,
// U+202A..U+202E, U+2066..U+2069), as \uXXXX escapes. Records hold
// what callers sent (a user name claimed in a failed login, reasons
// quoting the peer); `tail calls.jsonl` must not hand it to the
// operator's terminal. Outside strings JSON is ASCII, so only string
// contents change, and a decoder reads back the same characters.
func escapeTerminalControls(b []byte) []byte {
	var out []byte // nil until the first rewrite
	last := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if IsTerminalControl(r) {
			out = append(out, b[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, r)
			last = i + n
		}
		i += n
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// IsTerminalControl reports whether r, outside ASCII, is a terminal
// control (a C1 control) or a bidirectional formatting character that
// reorders what a terminal shows (Trojan Source): the records escape
// them, and `gateway calls` masks them.
func IsTerminalControl(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f, r == 0x61c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// syncRecords fsyncs the records file (syncHook in tests).
func (f *File) syncRecords() error {
	sync := f.records.Sync
	if f.syncHook != nil {
		sync = f.syncHook
	}
	if err := sync(); err != nil {
		return fmt.Errorf("store: sync records: %w", err)
	}
	return nil
}

func (f *File) write(b []byte) (int, error) {
	if f.writeHook != nil {
		return f.writeHook(b)
	}
	return f.records.Write(b)
}

// cutBack removes the n octets a failed write appended, counted from
// the file's end as it is now: the file may have been cut short by
// someone else since it was opened (logrotate's copytruncate), so no
// length remembered from before is trusted (cutting to it would pad the
// file with NUL octets). If the octets stay, the next record starts on
// a new line; if they go, the file is as before the write, torn or not.
// f.mu must be held.
func (f *File) cutBack(n int) {
	st, err := f.records.Stat()
	if err == nil && st.Size() >= int64(n) {
		err = f.truncate(st.Size() - int64(n))
	} else if err == nil {
		err = errors.New("file shorter than the write")
	}
	if err != nil {
		f.torn = true
	}
}

func (f *File) truncate(size int64) error {
	if f.truncHook != nil {
		return f.truncHook(size)
	}
	return f.records.Truncate(size)
}

// syncThrough returns once record number n (1-based, in write order) is
// on disk: either an fsync that started after it was written covered it,
// or this call runs one for every record written so far. The fsync's
// outcome is noted for Health before another can start.
func (f *File) syncThrough(n uint64) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	if f.synced >= n {
		return f.syncErr
	}
	f.mu.Lock()
	upto, tries, closed := f.written, f.tries, f.closed
	f.mu.Unlock()
	if closed {
		return ErrClosed
	}
	err := f.syncRecords()
	f.synced, f.syncErr = upto, err
	f.mu.Lock()
	f.noteAppend(tries, err)
	f.mu.Unlock()
	return err
}

// Reopen opens the records file again by its name when the file open is
// no longer there (a rotation renamed it: logrotate's `create`), so that
// the next records go to the new calls.jsonl, created if missing. The
// records written to the old file are fsync'd first, and appenders
// waiting for that fsync are told its outcome. It reports whether it
// reopened; if the new file cannot be opened the records go on to the
// old one, and the error says why. The gateway calls it on SIGHUP.
func (f *File) Reopen() (bool, error) {
	f.syncMu.Lock() // no fsync runs on the file being swapped
	defer f.syncMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, ErrClosed
	}
	path := f.RecordsPath()
	cur, err := f.records.Stat()
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	if st, err := os.Lstat(path); err == nil && os.SameFile(cur, st) {
		return false, nil
	}
	nf, err := openFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("store: reopen records: %w", err)
	}
	if err := repairTail(nf); err != nil {
		nf.Close()
		return false, fmt.Errorf("store: reopen records: %w", err)
	}
	err = f.syncRecords()
	f.synced, f.syncErr = f.written, err
	f.noteAppend(f.tries, err)
	f.records.Close()
	f.records, f.torn = nf, false
	return true, nil
}

// Close implements Store. Unused reserved numbers are given up.
//
// The records still kept in memory (ErrRecordKept) get a last try; those
// that cannot be written are lost, and the error says how many.
func (f *File) Close() error {
	kerr := f.commit(nil)
	f.syncMu.Lock() // no fsync runs on the file being closed
	defer f.syncMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	lost := len(f.kept)
	f.kept = nil
	err := f.records.Close()
	if lerr := f.lock.Close(); err == nil {
		err = lerr
	}
	switch {
	case lost > 0:
		if kerr == nil {
			kerr = errors.New("kept after the last try")
		}
		return fmt.Errorf("store: %d call records could not be written and are lost: %w", lost, kerr)
	case kerr != nil && !errors.Is(kerr, ErrClosed):
		// Written, their fsync failed.
		return fmt.Errorf("store: the records kept in memory: %w", kerr)
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// repairTail makes sure the record file f (open for reading and
// appending) ends in a newline, so that a
// record torn by a crash (power loss mid-write) cannot swallow the next
// one. The torn line stays, and ReadRecords reports it.
func repairTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if st.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := f.Write([]byte("\n")); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return f.Sync()
}

// ReadRecords decodes a call-record file (for tools and tests). Lines that
// are not records (a record torn by a crash, a line of more than
// maxRecordLine octets) are skipped; the first one is reported as an
// ErrCorrupt-wrapping error naming its line number, with every good
// record returned.
func ReadRecords(r io.Reader) ([]CallRecord, error) {
	var out []CallRecord
	br := bufio.NewReaderSize(r, 64<<10)
	var bad error
	for n := 1; ; n++ {
		line, long, err := readRecordLine(br)
		if err != nil && err != io.EOF {
			return out, fmt.Errorf("store: read records: %w", err)
		}
		line = bytes.TrimSpace(line)
		var rec CallRecord
		switch {
		case long:
			// Skipped as a torn line is: the records after it count
			// (fuzz campaign: a line over 1 MiB ended the reading).
			if bad == nil {
				bad = fmt.Errorf("%w: record line %d: longer than %d octets", ErrCorrupt, n, maxRecordLine)
			}
		case len(line) == 0:
		default:
			if jerr := json.Unmarshal(line, &rec); jerr != nil {
				if bad == nil {
					bad = fmt.Errorf("%w: record line %d: %v", ErrCorrupt, n, jerr)
				}
			} else {
				out = append(out, rec)
			}
		}
		if err == io.EOF {
			return out, bad
		}
	}
}

// maxRecordLine bounds a line ReadRecords decodes; a record is far
// shorter.
const maxRecordLine = 1 << 20

// readRecordLine reads one line of br, its newline included, or reports
// it long (and reads past it) when it holds more than maxRecordLine
// octets.
func readRecordLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > maxRecordLine {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err != bufio.ErrBufferFull {
			return line, long, err
		}
	}
}

// ReadRecordsFile is ReadRecords on a file.
func ReadRecordsFile(path string) ([]CallRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	return ReadRecords(f)
}
