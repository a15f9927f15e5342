package main

import (
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// TestWaitQuietOverLinkWaitsForAcks: after stdin ended on a V.42 link,
// the quiet that hangs up counts only once what dial wrote is
// acknowledged and no frames arrive, and lasts at least 2 x T401.
// Before, a link recovering a lost frame (T401 >= 1 s, as long as the
// default --drain) was taken for quiet: the output in flight was cut and
// dial exited 0 (soak trial through a line that flips bits: 11 of 40
// calls short).
func TestWaitQuietOverLinkWaitsForAcks(t *testing.T) {
	cases := []struct {
		name      string
		drain     time.Duration
		unacked   time.Duration // own payloads unacknowledged until then
		lineBusy  time.Duration // frames arrive until then
		t401      time.Duration
		wantAtLst time.Duration // the link is asked every 50 ms: the end of the busy time is seen up to 50 ms early
	}{
		{"own data unacknowledged", 100 * time.Millisecond, 700 * time.Millisecond, 0, 10 * time.Millisecond, 750 * time.Millisecond},
		{"frames still arriving", 100 * time.Millisecond, 0, 500 * time.Millisecond, 10 * time.Millisecond, 550 * time.Millisecond},
		{"twice T401", 100 * time.Millisecond, 0, 0, time.Second, 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var lineIn uint64
				s := &session{conn: nopConn{}, stdout: io.Discard, notice: io.Discard, drain: tc.drain}
				s.lastDown.Store(start.UnixNano()) // the last output came just before
				s.linkState = func() (int, time.Duration, uint64) {
					el := time.Since(start)
					unacked := 0
					if el < tc.unacked {
						unacked = 3
					}
					if el < tc.lineBusy {
						lineIn += 100
					}
					return unacked, tc.t401, lineIn
				}
				ended, _ := s.waitQuiet(t.Context(), make(chan error))
				if ended {
					t.Fatal("ended, want quiet")
				}
				if got := time.Since(start); got < tc.wantAtLst {
					t.Errorf("quiet after %v, want at least %v", got, tc.wantAtLst)
				}
			})
		})
	}
}

// TestWaitQuietCountsFromEndOfInput: output that came long before stdin
// ended does not make the wait shorter than --drain.
func TestWaitQuietCountsFromEndOfInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &session{conn: nopConn{}, stdout: io.Discard, notice: io.Discard, drain: 300 * time.Millisecond}
		s.linkState = func() (int, time.Duration, uint64) { return 0, 10 * time.Millisecond, 0 }
		start := time.Now()
		if ended, _ := s.waitQuiet(t.Context(), make(chan error)); ended {
			t.Fatal("ended, want quiet")
		}
		if got := time.Since(start); got < 300*time.Millisecond {
			t.Errorf("quiet after %v, want at least the drain, 300ms", got)
		}
	})
}

type nopConn struct{}

func (nopConn) Read(p []byte) (int, error)  { select {} }
func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
func (nopConn) Close() error                { return nil }
