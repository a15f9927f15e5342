package lapm

import "time"

// Timer policy of the link (V.42 §8.2.5, §9.2). The machine keeps one
// deadline per timer and the Link arms a single OS timer at the earliest
// (machine.deadline). Every hook below is named after the event that moves
// a timer, so the whole policy reads in one place.

// Defaults (V.42 §9.2 leaves T401, T403 and N400 to the implementer; these
// are common vendor values, see V42.md).
const (
	DefaultT401 = time.Second
	DefaultT403 = 10 * time.Second
	DefaultN400 = 10
)

// T401ForRate returns an acknowledgement timer that scales with the line
// rate: the time to send a full window of frames of n401 octets each way at
// bitsPerSecond, plus a fixed 200 ms for the round trip and the peer's reply
// delay, and never less than DefaultT401. A rate of 0 (unknown) gives
// DefaultT401.
func T401ForRate(bitsPerSecond, n401, k int) time.Duration {
	if bitsPerSecond <= 0 {
		return DefaultT401
	}
	d := time.Duration(frameBits(n401, 8)*(k+1)) * time.Second / time.Duration(bitsPerSecond)
	d += 200 * time.Millisecond
	if d < DefaultT401 {
		d = DefaultT401
	}
	return d
}

// PacedWindowTime bounds the line time of the I frames a link whose
// line rate it knows (Config.LineRate) keeps outstanding: at least two
// frames (one on the line while the acknowledgement of the other comes
// back), more while they fit in it, at most the negotiated k. What the
// link has sent waits on the line ahead of everything it sends after,
// its acknowledgements of the peer's frames and the answers to the
// peer's polls included, and the peer does not know the line rate: with
// the paced defaults (N401 256, k 15) a window held 16 s of a 2,400
// bit/s line, and a caller with T401 1 s and N400 10 failed the link
// 11 s after it typed a key during a listing (slow-lines trial). It also
// bounds the output an interrupt at the backend cannot call back. Two
// frames of 256 octets take 2.3 s at 2,400 bit/s, ten take 2.8 s at
// 9,600; at 33,600 bit/s the window of 15 takes 1.2 s and is kept. Not
// 2 s: that cut the window of 31 of BenchmarkLinkGoodput33600 to 25, and
// one of its seeds fell from 95.8 to 86.4 % of the physical limit, below
// the 90 % target.
const PacedWindowTime = 3 * time.Second

// pacedWindow is the window a link on a line of bitsPerSecond keeps
// outstanding with I fields of n401 octets (see PacedWindowTime), in
// 10-bit start-stop characters (a paced telnet line carries the octets
// of the HDLC bit stream so).
func pacedWindow(bitsPerSecond, n401 int) int {
	frames := int64(PacedWindowTime/time.Second) * int64(bitsPerSecond) / int64(frameBits(n401, 10))
	return int(max(2, min(frames, MaxK)))
}

// frameBits is the line time, in bits, of an I frame of n401 octets
// with bitsPerOctet bits an octet: the field, 8 octets of address,
// control, FCS-32 and flag, plus about 1/62 for zero-bit insertion on
// random data.
func frameBits(n401, bitsPerOctet int) int {
	return (n401 + 8) * bitsPerOctet * 63 / 62
}

// timerStopped is the zero deadline: the timer is not running.
var timerStopped time.Time

// MaxAdaptiveT401 bounds how far the measured round trip lengthens T401.
const MaxAdaptiveT401 = 30 * time.Second

// The configured T401 is the shortest acknowledgement timer; the link
// lengthens it to the round trip it measures (RFC 6298's estimator: the
// smoothed round trip plus four times its variation). A line whose own queue is deep (a slow
// network link under a full window of 4,096-octet frames holds tens of
// seconds of them) otherwise sees T401 expire in every short pause of the
// peer's acknowledgements, and its poll then waits behind everything
// queued before it: ten unanswered polls of 1 s failed a 256 kbit/s
// browser session that merely paused for 1.5 s.
type rttEstimator struct {
	srtt, rttvar time.Duration
	valid        bool
}

// sample adds one measured round trip.
func (r *rttEstimator) sample(d time.Duration) {
	if !r.valid {
		r.srtt, r.rttvar, r.valid = d, d/2, true
		return
	}
	r.rttvar += (max(r.srtt-d, d-r.srtt) - r.rttvar) / 4
	r.srtt += (d - r.srtt) / 8
}

// t401 is the acknowledgement timer in force: the configured T401, or the
// measured round trip's timeout if that is longer (at most
// MaxAdaptiveT401).
func (m *machine) t401() time.Duration {
	d := m.cfg.t401
	if m.rtt.valid {
		d = max(d, min(m.rtt.srtt+4*m.rtt.rttvar, MaxAdaptiveT401))
	}
	return d
}

// A sample is taken only from a frame acknowledged with no recovery in
// between: no retransmission (Karn's rule: the acknowledgement may be for
// either copy), no T401 expiry and no RNR since it was sent. Frames held
// behind a gap, or waiting out a busy peer or our poll, are acknowledged
// late for reasons other than the line, and such samples would lengthen
// T401, which slows the next recovery, whose samples lengthen it again:
// under a bit error rate of 1e-4 that fed back until transfers stalled.
// recoveries counts those events; a sentFrame keeps its count at sending.

// noteRecovery marks the frames outstanding now as unfit for a sample.
func (m *machine) noteRecovery() { m.recoveries++ }

// ackedNew is called when N(R) acknowledged the n oldest outstanding
// frames. The newest of them gives a round-trip sample if no recovery
// happened since it was sent. While a poll of
// ours is outstanding, an acknowledgement that moves V(A) shows the peer
// alive and the line moving, only slow: our poll waits behind the frames
// we queued before it. The poll count starts again and T401 restarts, so
// a line drains its queue, however deep, before the link gives up; a peer
// that acknowledges nothing for N400 x T401 still fails it. For the same
// reason the release's drain (close) gives up N400 x T401 after the last
// acknowledgement that moved V(A), not after Close: the queue of a slow
// noisy line can take longer than that to drain, and what was dropped
// then reached the peer as a stream cut short before an orderly DISC.
func (m *machine) ackedNew(now time.Time, n int) {
	if e := m.unacked[n-1]; e.recoveries == m.recoveries {
		m.rtt.sample(now.Sub(e.sent))
	}
	if m.timerRecovery {
		m.retry = 0
		m.t401Start(now)
	}
	if m.closeAsked && !m.closeBy.IsZero() {
		m.closeBy = now.Add(time.Duration(m.cfg.n400) * m.t401())
		if m.closeBy.After(m.closeCap) {
			m.closeBy = m.closeCap
		}
	}
}

// t401Start (re)starts the acknowledgement timer (V.42 §8.4.1: started when
// an I frame or a command with P=1 is sent and the timer is not running).
func (m *machine) t401Start(now time.Time) { m.t401At = now.Add(m.t401()) }

// t401StartIfStopped starts T401 only if it is not already running.
func (m *machine) t401StartIfStopped(now time.Time) {
	if m.t401At.IsZero() {
		m.t401Start(now)
	}
}

// t401Stop stops the acknowledgement timer.
func (m *machine) t401Stop() { m.t401At = timerStopped }

// t403Restart restarts the inactivity timer after any frame is received in
// the data phase (V.42 §8.4.9). T403 only fires when T401 is not running.
func (m *machine) t403Restart(now time.Time) {
	if m.cfg.t403 > 0 {
		m.t403At = now.Add(m.cfg.t403)
	}
}

// rejAsked restarts the REJ timer when the peer has just been asked to go
// back to V(R) (V.42 §8.4.2): by our REJ, or, while the REJ condition
// lasts, by our answer to its poll (RR/RNR F=1, §8.4.8, which makes a peer
// in timer recovery retransmit from N(R)). The REJ is repeated (timeout)
// only when T401 passed after the last of them without the frame: a REJ
// sent sooner can reach the peer after it has already retransmitted N(R)
// and make it go back again, and spandsp 0.0.6 (v42.c reject_info) then
// sets V(S) back to N(R) below the frame we are about to acknowledge,
// takes our N(R) for one outside V(A)..V(S) (ack_info) and releases the
// link with DISC.
func (m *machine) rejAsked(now time.Time) { m.rejAt = now.Add(m.t401()) }

// DefaultT402 is what Config.T402 0 means: the longest an acknowledgement waits
// for an I frame of ours to carry it (the reply delay T402 of V.42 §9.2;
// it must stay well below the peer's T401). Interactive traffic is answered within it (an
// echoed keystroke carries the acknowledgement of the keystroke), so the
// line carries no separate RR per frame.
const DefaultT402 = 10 * time.Millisecond

// ackLater is called when an in-sequence I frame without P arrived: our
// N(R) is due (V.42 §8.4.2). It is sent by the next I frame we send, or as
// RR/RNR at the latest T402 after the first frame it acknowledges, or at
// once when atOnce is set (recovery, duplicates, own receiver busy), when
// T402 is 0, or when half the peer's window is
// waiting for it (so that a one-way stream never stalls on the window).
func (m *machine) ackLater(now time.Time, atOnce bool) {
	m.ackPending = true
	switch {
	case atOnce || m.cfg.t402 <= 0 || m.rxUnacked >= max(m.p.kRx/2, 1):
		m.ackAt = now
	case m.ackAt.IsZero():
		m.ackAt = now.Add(m.cfg.t402)
	}
}

// timersAcked applies V.42 §8.4.3 after N(R) acknowledged new frames: stop
// T401 when nothing is outstanding, restart it otherwise (unless a poll is
// outstanding, in which case the poll's timer keeps running).
func (m *machine) timersAcked(now time.Time) {
	if m.timerRecovery {
		return
	}
	if m.vs == m.va && !m.peerBusy && m.brkOut == nil {
		m.t401Stop()
	} else {
		m.t401Start(now)
	}
}

// deadline is the earliest armed timer, or the zero time when none is.
func (m *machine) deadline() time.Time {
	d := m.t401At
	if !m.firstFrameBy.IsZero() && (d.IsZero() || m.firstFrameBy.Before(d)) {
		d = m.firstFrameBy
	}
	if m.st == stateConnected && m.t401At.IsZero() && !m.t403At.IsZero() {
		d = m.t403At
	}
	if m.st == stateConnected && m.rejSent && !m.rejAt.IsZero() && (d.IsZero() || m.rejAt.Before(d)) {
		d = m.rejAt
	}
	if m.st == stateConnected && !m.pollCheckAt.IsZero() && (d.IsZero() || m.pollCheckAt.Before(d)) {
		d = m.pollCheckAt
	}
	if m.st == stateConnected && m.ackPending && (d.IsZero() || m.ackAt.Before(d)) {
		d = m.ackAt
	}
	if m.st == stateConnected && m.closeAsked && !m.closeBy.IsZero() && (d.IsZero() || m.closeBy.Before(d)) {
		d = m.closeBy
	}
	return d
}
