package main

import (
	"errors"
	"io"
	"strings"
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
				s.lastDown.Store(&start) // the last output came just before
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

// TestLastOutputIsMonotonic: the time of the call's last output, from
// which waitQuiet counts the quiet after stdin ended, keeps its
// monotonic clock reading, so a step of the wall clock (NTP setting a
// Raspberry Pi's clock after boot) neither cuts the output short (a step
// forward: the quiet looked long enough at once) nor holds the call up
// for as long as the step (a step back: the quiet looked negative). It
// was kept as wall-clock nanoseconds.
func TestLastOutputIsMonotonic(t *testing.T) {
	s := &session{conn: &onceConn{data: []byte("output")}, stdout: io.Discard, notice: io.Discard}
	if err := s.copyDown(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if got := s.lastOutput(); got.IsZero() || !strings.Contains(got.String(), " m=") {
		t.Errorf("lastOutput() = %v: no monotonic clock reading", got)
	}
}

// onceConn reads data once, then EOF.
type onceConn struct {
	nopConn
	data []byte
}

func (c *onceConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}
