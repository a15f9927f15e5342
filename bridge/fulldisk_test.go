package bridge

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// fullDiskStore is a store on a full disk: each block of 64 session
// numbers fails to be reserved (store.File goes on with numbers from
// memory and tells SetReserveFailed), the first keep records are kept
// in memory (store.ErrRecordKept) and every later one is lost.
type fullDiskStore struct {
	keep int

	mu                   sync.Mutex
	next                 uint64
	failed               func(error)
	failures, kept, lost int
}

func (s *fullDiskStore) NextSession() (uint64, error) {
	s.mu.Lock()
	s.next++
	n, report := s.next, s.failed
	if n%64 == 1 {
		s.failures++
	} else {
		report = nil
	}
	s.mu.Unlock()
	if report != nil {
		report(fmt.Errorf("store: reserve session numbers: write session.next.tmp: %w", syscall.ENOSPC))
	}
	return n, nil
}

func (s *fullDiskStore) AppendRecord(store.CallRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept < s.keep {
		s.kept++
		return fmt.Errorf("%w (%d kept): store: append record: write calls.jsonl: %w", store.ErrRecordKept, s.kept, syscall.ENOSPC)
	}
	s.lost++
	return fmt.Errorf("store: append record: write calls.jsonl: %w (%d records kept in memory already)", syscall.ENOSPC, s.keep)
}

func (s *fullDiskStore) SetReserveFailed(f func(error)) { s.mu.Lock(); s.failed = f; s.mu.Unlock() }
func (s *fullDiskStore) Close() error                   { return nil }

// TestFullDiskLogsSummed: on a full disk, the records kept in memory,
// the records lost and the failed reservations of session numbers are
// each logged at most once a second, with their count, as BUSY floods
// are: each kind's first at once, none left out. Operator trial: a 5 s
// connect-and-close flood from one address on a full state directory
// (31,555 connections) wrote 7.7 MB of log: 20,345 "call record lost"
// lines, 4,096 "call record not written yet" and 383 "session numbers
// not reserved on disk"; the same flood with room on the disk writes a
// few lines.
func TestFullDiskLogsSummed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.WarnLevel)
		st := &fullDiskStore{keep: 100}
		s, err := New(Options{Config: testConfig(t), Store: st, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		// A caller that hangs up at once every 5 ms, for 5 s.
		calls := 0
		ln := newFeedListener(func(ctx context.Context) (transport.Line, error) {
			time.Sleep(5 * time.Millisecond)
			calls++
			if calls > 1000 {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			a, b := linesim.NewPair(linesim.Config{Seed: int64(calls), Name: "flood"})
			a.Close()
			return b, nil
		})
		served := make(chan error, 1)
		go func() { served <- s.Serve("test", ln) }()
		time.Sleep(5*time.Second + 2*burstlog.Window)
		synctest.Wait()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-served
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.kept != st.keep || st.lost < 500 || st.failures < 10 {
			t.Fatalf("the flood made %d kept records, %d lost, %d failed reservations: too few to tell", st.kept, st.lost, st.failures)
		}
		for _, c := range []struct {
			msg, key string
			want     int
		}{
			{"call record not written yet: kept in memory until the state directory has room", "records", st.kept},
			{"call record lost", "records", st.lost},
			{"session numbers not reserved on disk; calls go on with numbers from memory", "reservations", st.failures},
		} {
			var sum int64
			lines := 0
			for _, e := range logs.FilterMessage(c.msg).All() {
				lines++
				n, ok := e.ContextMap()[c.key].(int64)
				if !ok {
					n = 1
				}
				sum += n
			}
			if sum != int64(c.want) {
				t.Errorf("%q: the log counts %d in %d line(s), want %d", c.msg, sum, lines, c.want)
			}
			if lines > 8 {
				t.Errorf("%q: %d lines in about 5 s, want at most one a second", c.msg, lines)
			}
		}
	})
}
