package lapm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// ack delivers the peer's RR (F=1 if final) acknowledging up to nr at now.
func ack(m *machine, now time.Time, nr uint8, final bool) {
	m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindRR, NR: nr, PF: final})
	m.flush(now)
}

// TestMachineT401FollowsRoundTrip: T401 is the configured value or the
// measured round trip's timeout (smoothed round trip plus four times its
// variation), whichever is longer, at most MaxAdaptiveT401; frames
// acknowledged after a recovery (T401 expiry, REJ, RNR) give no sample.
func TestMachineT401FollowsRoundTrip(t *testing.T) {
	t.Run("lengthened", func(t *testing.T) {
		m := soloConnected(t, defaultLinkParams(), 3)
		at := t0.Add(3 * time.Second)
		ack(m, at, 1, false) // sample 3 s: srtt 3 s, rttvar 1.5 s
		if got, want := m.t401(), 9*time.Second; got != want {
			t.Fatalf("T401 %v after a 3 s round trip, want %v", got, want)
		}
		if got, want := m.t401At, at.Add(9*time.Second); !got.Equal(want) {
			t.Errorf("T401 restarted to expire at %v, want %v", got, want)
		}
		ack(m, t0.Add(100*time.Second), 2, false)
		if got := m.t401(); got != MaxAdaptiveT401 {
			t.Errorf("T401 %v after a 100 s round trip, want the bound %v", got, MaxAdaptiveT401)
		}
	})
	t.Run("never shorter than configured", func(t *testing.T) {
		m := soloConnected(t, defaultLinkParams(), 3)
		ack(m, t0.Add(10*time.Millisecond), 3, false)
		if !m.rtt.valid || m.t401() != time.Second {
			t.Errorf("T401 %v (sample taken %v), want the configured 1s", m.t401(), m.rtt.valid)
		}
	})
	for _, tc := range []struct {
		name    string
		recover func(m *machine) time.Time // returns when it ended
	}{
		{"after a T401 poll", func(m *machine) time.Time {
			now := m.deadline()
			m.timeout(now)
			m.flush(now)
			return now
		}},
		{"after a REJ", func(m *machine) time.Time {
			now := t0.Add(2 * time.Second)
			m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindREJ, NR: 0})
			m.flush(now)
			return now
		}},
		{"after an RNR", func(m *machine) time.Time {
			now := t0.Add(2 * time.Second)
			m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindRNR, NR: 0})
			m.flush(now)
			return now
		}},
	} {
		t.Run("no sample "+tc.name, func(t *testing.T) {
			m := soloConnected(t, defaultLinkParams(), 3)
			end := tc.recover(m)
			ack(m, end.Add(3*time.Second), 3, true)
			if m.rtt.valid || m.t401() != time.Second {
				t.Errorf("T401 %v (sample taken %v): a late acknowledgement after a recovery lengthened it", m.t401(), m.rtt.valid)
			}
		})
	}
}

// TestMachineRecoveryProgressKeepsLink: while our poll waits behind the
// frames queued before it, the peer's acknowledgements (F=0) move V(A);
// each one starts the poll count again, so the link outlives N400 polls
// as long as the line moves, and fails N400 polls after it stops.
func TestMachineRecoveryProgressKeepsLink(t *testing.T) {
	p := defaultLinkParams()
	p.kTx = 40
	m := soloConnected(t, p, 40)
	for nr := uint8(1); nr <= 40; nr++ {
		now := m.deadline()
		m.timeout(now) // a poll goes out (or is repeated)
		m.flush(now)
		if m.st != stateConnected {
			t.Fatalf("link %s (%v) with the peer acknowledging frame %d", m.st, m.err, nr)
		}
		now = now.Add(500 * time.Millisecond)
		ack(m, now, nr, false)
	}
	if !m.timerRecovery || m.stats.T401Expiries != 40 {
		t.Fatalf("recovery %v after %d expiries, want 40 with the poll still outstanding", m.timerRecovery, m.stats.T401Expiries)
	}
	for range m.cfg.n400 + 1 {
		m.timeout(m.deadline())
	}
	if m.st != stateFailed || !errors.Is(m.err, ErrLinkFailure) {
		t.Fatalf("state %s err %v after N400 polls with no progress, want a link failure", m.st, m.err)
	}
}

// TestSimSlowLinePause: a 256 kbit/s line whose own queue holds a full
// window of 4,096-octet frames (k 127, about 20 s of it) and a receiver
// that stops reading for a while, as a browser tab or a congested mobile
// link does. With a fixed 1 s T401 the sender's poll waited behind its own
// queue and ten unanswered polls failed the link ("10 polls unanswered");
// now the call goes on, early in the transfer (before round-trip samples,
// the poll count starts again as acknowledgements come) and later (T401
// has grown to the round trip and does not expire at all).
func TestSimSlowLinePause(t *testing.T) {
	for _, tc := range []struct {
		name      string
		at, pause time.Duration
		expiries  bool
	}{
		{"early", 500 * time.Millisecond, 5 * time.Second, true},
		{"late", 12 * time.Second, 1500 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				a, b := linesim.NewPair(linesim.Config{Seed: 9, Buffer: 1 << 20,
					Impairments: linesim.Impairments{BitRate: 256_000, Latency: 40 * time.Millisecond}})
				cfg := Config{Params: LinkParams{N401: 4096, K: 127, FCS32: true}}
				pb := &pausingLine{ReadWriteCloser: b, at: time.Now().Add(tc.at), pause: tc.pause}
				la, lb := openPair(t, ctx, a, pb, cfg, cfg)
				establishPair(t, ctx, la, lb)
				data := pattern(1 << 20)
				errc := make(chan error, 1)
				go func() {
					_, err := la.Write(data)
					errc <- err
				}()
				got := make([]byte, len(data))
				if _, err := io.ReadFull(lb, got); err != nil {
					t.Fatalf("read: %v (sender: %+v)", err, la.Stats())
				}
				if err := <-errc; err != nil {
					t.Fatalf("write: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("received data differs from what was sent")
				}
				st := la.Stats()
				if !pb.paused || (st.T401Expiries > 0) != tc.expiries {
					t.Errorf("paused %v, %d T401 expiries (want some: %v)", pb.paused, st.T401Expiries, tc.expiries)
				}
				t.Logf("T401 %v at the end, %d expiries, %d retransmitted", st.T401, st.T401Expiries, st.Retransmitted)
				la.Close()
				lb.Close()
			})
		})
	}
}

// pausingLine stops reading once, for pause, at the first Read after at.
type pausingLine struct {
	io.ReadWriteCloser
	at     time.Time
	pause  time.Duration
	paused bool
}

func (p *pausingLine) Read(b []byte) (int, error) {
	if !p.paused && time.Now().After(p.at) {
		p.paused = true
		time.Sleep(p.pause)
	}
	return p.ReadWriteCloser.Read(b)
}
