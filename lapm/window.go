package lapm

import "time"

// The machine's window arrays (V.42 §8.2.3, §8.4): the I frames sent and
// not yet acknowledged, and with SREJ the frames received ahead of a gap.
// Both are slices indexed from the lower window edge (V(A) and V(R)), so
// they hold only what is outstanding or held: an idle link keeps none,
// and a link never keeps more than k entries (ackTo rejects an N(R)
// beyond V(S), flush sends at most kTx frames past V(A), and recvI holds
// or asks for nothing aheadLimit or more frames past V(R)).

// keepWindow is the largest window array an empty window keeps (echo
// traffic reuses it); a larger one goes to the collector when the window
// drains.
const keepWindow = 4

// sentFrame is an I frame sent and not yet acknowledged.
type sentFrame struct {
	p []byte // sealed payload, as sent (a retransmission is identical)
	// gen == machine.flushGen when the frame is already queued for
	// retransmission in the current output batch: a burst of REJ, SREJ
	// or F=1 answers between two flushes resends each frame once, so
	// output per batch stays bounded by one window.
	gen uint32
	// sent is when the frame was first sent, recoveries the machine's
	// count then (its acknowledgement gives a round-trip sample only if
	// that count has not moved; see ackedNew).
	sent       time.Time
	recoveries uint32
}

// heldFrame is a sequence number at or after V(R) while SREJ recovery
// runs: a frame received ahead of a gap, or one asked for.
type heldFrame struct {
	p     []byte // the frame's information field (non-nil when held)
	asked bool   // SREJ sent for it
}

// dropAcked removes the n oldest outstanding frames (acknowledged or put
// back in the queue); V(A) is the caller's to move.
func (m *machine) dropAcked(n int) {
	m.unacked = dropFront(m.unacked, n)
	if len(m.unacked) == 0 && cap(m.unacked) > keepWindow {
		m.unacked = nil
	}
}

// growHold makes hold at least n entries long (n <= aheadLimit).
func (m *machine) growHold(n int) {
	if old := len(m.hold); old < n {
		m.hold = append(m.hold, make([]heldFrame, n-old)...)
	}
}

// askSREJ marks hold[i] as asked for with SREJ.
func (m *machine) askSREJ(i int) {
	if !m.hold[i].asked {
		m.hold[i].asked = true
		m.srejN++
	}
}

// holdNext moves hold on by one as V(R) advances: its first entry, V(R),
// is delivered now. Once nothing is held or asked for the array goes.
func (m *machine) holdNext() {
	if len(m.hold) == 0 {
		return
	}
	if m.hold[0].p != nil {
		m.holdN--
	}
	if m.hold[0].asked {
		m.srejN--
	}
	m.hold = dropFront(m.hold, 1)
	if m.holdN == 0 && m.srejN == 0 {
		m.hold = nil // what is left are empty entries
	}
}

// dropFront removes the first n elements of s, keeping its array.
func dropFront[T any](s []T, n int) []T {
	k := copy(s, s[n:])
	clear(s[k:])
	return s[:k]
}
