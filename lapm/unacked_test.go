package lapm

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// TestLinkUnacknowledged: what Write queued counts as unacknowledged until
// the peer's acknowledgement comes back over the line (one round trip of
// 100 ms here), then not; gateway dial waits on it before it takes the
// call for quiet at the end of its input.
func TestLinkUnacknowledged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 7, Impairments: linesim.Impairments{Latency: 50 * time.Millisecond}})
	p := LinkParams{N401: 512, K: 31, FCS32: true}
	la, lb := sealedPair(t, ctx, a, b, Config{Params: p, Logger: tlog{t}})
	if n := la.Unacknowledged(); n != 0 {
		t.Fatalf("idle link: Unacknowledged() = %d, want 0", n)
	}
	data := pattern(8 * 512)
	go io.ReadFull(lb, make([]byte, len(data)))
	if _, err := la.Write(data); err != nil {
		t.Fatal(err)
	}
	if n := la.Unacknowledged(); n == 0 {
		t.Fatal("just written (the acknowledgement is a round trip of 100 ms away): Unacknowledged() = 0")
	}
	deadline := time.Now().Add(10 * time.Second)
	for la.Unacknowledged() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d unacknowledged after 10 s", la.Unacknowledged())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
