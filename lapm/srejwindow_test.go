package lapm

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestMachineSREJStaleCopyNotHeld: with SREJ, a frame the peer sent twice
// (it answers our SREJ, and again our SREJ F=1 answer to its poll, V.42
// §8.4.8) can arrive after V(R) has moved on past it. With a window of
// more than half the sequence space (k 127, modulo 128) the late copy's
// N(S) also reads as a new frame ahead of V(R), and holding it delivers
// old data in place of the peer's next frame with that number. Every
// frame delivered must be the peer's next one, whatever windows were
// agreed.
func TestMachineSREJStaleCopyNotHeld(t *testing.T) {
	for _, k := range []int{15, 63, 64, 127} {
		t.Run(fmt.Sprint("k", k), func(t *testing.T) {
			m := newMachine(machineConfig{role: Originator, t401: time.Second, n400: 5})
			p := defaultLinkParams()
			p.kTx, p.kRx, p.srej = k, k, true
			m.paramsAgreed(p)
			now := t0
			if err := m.establish(now); err != nil {
				t.Fatal(err)
			}
			m.flush(now)
			m.recvFrame(now, Frame{Addr: Answerer.ResponseAddr(), Kind: KindUA, PF: true})
			payload := func(seq int) []byte { return []byte(fmt.Sprintf("frame %d", seq)) }
			var got [][]byte
			peerI := func(seq int) {
				m.recvFrame(now, Frame{Addr: Answerer.CommandAddr(), Kind: KindI, NS: uint8(seq) & 0x7F, Info: payload(seq)})
				for _, r := range m.takeRx() {
					got = append(got, r.p)
				}
				m.consumed(now, len(got))
				m.flush(now)
			}
			// A window of frames; the first is lost, the rest are held.
			for seq := 1; seq < k; seq++ {
				peerI(seq)
			}
			peerI(0) // the answer to our SREJ: V(R) moves to k
			peerI(0) // the same frame again, the answer to our poll answer
			// The peer goes on from the N(R) we report (after its poll, or
			// at once), resending what we did not take: its next frame
			// numbered 0 is the 128th.
			for seq := int(m.vr); seq < 128+k; seq++ {
				peerI(seq)
			}
			if len(got) < 128+k {
				t.Fatalf("%d payloads delivered, want %d", len(got), 128+k)
			}
			for i, p := range got {
				if !bytes.Equal(p, payload(i)) {
					t.Fatalf("payload %d is %q, want %q", i, p, payload(i))
				}
			}
		})
	}
}
