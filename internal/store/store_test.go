package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestSessionNumbersIncreaseAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var last uint64
	for round := 0; round < 3; round++ {
		f, err := Open(dir, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			n, err := f.NextSession()
			if err != nil {
				t.Fatal(err)
			}
			if n <= last {
				t.Fatalf("round %d: session %d after %d", round, n, last)
			}
			last = n
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.NextSession(); !errors.Is(err, ErrClosed) {
			t.Errorf("NextSession after Close: %v", err)
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Open(dir, 0)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	// The message names the directory and says what to do, without the
	// system's "resource temporarily unavailable".
	msg := err.Error()
	for _, want := range []string{dir, "stop the other gateway", "another state_dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("second Open: %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "temporarily") {
		t.Errorf("second Open: %q repeats the system's EWOULDBLOCK text", msg)
	}
}

func TestConcurrentNextSessionUnique(t *testing.T) {
	f, err := Open(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				n, err := f.NextSession()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("session %d handed out twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCorruptCounterRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sessionFile), []byte("banana\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with corrupt counter: %v", err)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []CallRecord{
		{Session: 1, Listener: "modem", Remote: "127.0.0.1:5000", Start: start, End: start.Add(time.Second), Result: ResultBusy},
		{Session: 2, User: "alice", Listener: "modem", Remote: "[::1]:6000", Start: start, Answer: start.Add(2 * time.Second),
			End: start.Add(time.Minute), Result: ResultCompleted, Reason: "caller hung up", BytesIn: 10, BytesOut: 20,
			LAPM: &LAPMStats{N401: 128, K: 15, FramesSent: 3}, CallbackAttempts: 1},
	}
	for _, r := range want {
		if err := f.AppendRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	got, err := ReadRecordsFile(f.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].User != "alice" || got[1].LAPM.N401 != 128 || !got[1].Answer.Equal(want[1].Answer) || !got[0].Answer.IsZero() {
		t.Fatalf("records: %+v", got)
	}
	raw, _ := os.ReadFile(f.RecordsPath())
	if strings.Count(string(raw), "\n") != 2 || strings.Contains(strings.SplitN(string(raw), "\n", 2)[0], "answer") {
		t.Errorf("file:\n%s", raw)
	}
}

// TestTornRecordRepaired: a record torn by a crash does not swallow the
// next record.
func TestTornRecordRepaired(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, recordsFile), []byte(`{"session":1,"result":"completed"}`+"\n"+`{"session":2,"res`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AppendRecord(CallRecord{Session: 3, Result: ResultDenied}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := ReadRecordsFile(f.RecordsPath())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("torn line not reported: %v", err)
	}
	if len(got) != 2 || got[0].Session != 1 || got[1].Session != 3 {
		t.Fatalf("records: %+v", got)
	}
}

// TestCrash kills a process that holds the store (SIGKILL: no Close, no
// deferred code) and checks that its numbers are not reused and its
// finished records survive.
func TestCrash(t *testing.T) {
	if os.Getenv("STORE_CRASH_DIR") != "" {
		crashHelper()
		return
	}
	dir := t.TempDir()
	var used []uint64
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), "STORE_CRASH_DIR="+dir)
		out, _ := cmd.Output() // killed: the error is expected
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		got := 0
		for sc.Scan() {
			if n, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "session "), 10, 64); err == nil && strings.HasPrefix(sc.Text(), "session ") {
				used = append(used, n)
				got++
			}
		}
		if got != 5 {
			t.Fatalf("round %d: helper printed %d sessions:\n%s", round, got, out)
		}
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() {
			t.Fatalf("helper was not killed: %v", cmd.ProcessState)
		}
	}
	for i := 1; i < len(used); i++ {
		if used[i] <= used[i-1] {
			t.Fatalf("session numbers reused or decreasing across crashes: %v", used)
		}
	}
	f, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := f.NextSession()
	f.Close()
	if n <= used[len(used)-1] {
		t.Fatalf("after crashes NextSession = %d, last used %d", n, used[len(used)-1])
	}
	recs, err := ReadRecordsFile(filepath.Join(dir, recordsFile))
	if err != nil || len(recs) != 15 {
		t.Fatalf("records after crashes: %d, %v", len(recs), err)
	}
}

func crashHelper() {
	f, err := Open(os.Getenv("STORE_CRASH_DIR"), 3)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	for i := 0; i < 5; i++ {
		n, err := f.NextSession()
		if err != nil {
			fmt.Println("next:", err)
			os.Exit(2)
		}
		if err := f.AppendRecord(CallRecord{Session: n, Result: ResultCompleted}); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Printf("session %d\n", n)
	}
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestAppendGroupCommit: records appended while an fsync runs share the
// next fsync, every appender returns only after an fsync that covers its
// record, and every record is in the file once.
func TestAppendGroupCommit(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var syncs int
	gate := make(chan struct{})
	f.syncHook = func() error {
		syncs++ // under syncMu
		if syncs == 1 {
			<-gate
		}
		return f.records.Sync()
	}
	const n = 11
	errs := make(chan error, n)
	go func() { errs <- f.AppendRecord(CallRecord{Session: 1, Result: ResultBusy}) }()
	waitWritten := func(k uint64) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			f.mu.Lock()
			w := f.written
			f.mu.Unlock()
			if w >= k {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d records written", w)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitWritten(1)
	for i := 2; i <= n; i++ {
		go func() { errs <- f.AppendRecord(CallRecord{Session: uint64(i), Result: ResultBusy}) }()
	}
	waitWritten(n)
	select {
	case err := <-errs:
		t.Fatalf("an append returned before any fsync finished: %v", err)
	default:
	}
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if syncs != 2 {
		t.Errorf("%d fsyncs for %d records written during one fsync, want 2", syncs, n)
	}
	got, err := ReadRecordsFile(f.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, r := range got {
		seen[r.Session] = true
	}
	if len(got) != n || len(seen) != n {
		t.Errorf("%d records, %d distinct, want %d", len(got), len(seen), n)
	}
}

// TestAppendSyncErrorReported: an fsync failure reaches the appenders it
// covered, and a later append runs its own fsync.
func TestAppendSyncErrorReported(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fail := errors.New("disk on fire")
	f.syncHook = func() error { return fail }
	if err := f.AppendRecord(CallRecord{Session: 1}); !errors.Is(err, fail) || !strings.HasPrefix(err.Error(), "store: ") {
		t.Fatalf("err = %v, want the fsync error wrapped by store", err)
	}
	f.syncHook = nil
	if err := f.AppendRecord(CallRecord{Session: 2}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func BenchmarkAppendRecordParallel(b *testing.B) {
	f, err := Open(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := CallRecord{Session: 1, Listener: "modem", Remote: "127.0.0.1:5000", Result: ResultBusy, Reason: "all lines busy"}
	b.SetParallelism(benchPar)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.AppendRecord(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchPar is the goroutines per CPU of BenchmarkAppendRecordParallel
// (calls ending at once).
var benchPar = 16
