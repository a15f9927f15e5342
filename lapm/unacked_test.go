package lapm

import (
	"context"
	"io"
	"sync/atomic"
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

// TestLinkDelivered: Delivered counts the octets of Write's data (not the
// sealed payloads) the peer acknowledged; what a hang-up drops before
// its acknowledgement came is not counted, and the count stays readable
// after the link ended. The browser's V.42 caller names the difference
// when a call ends (web/wasm).
func TestLinkDelivered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 9, Impairments: linesim.Impairments{Latency: 500 * time.Millisecond}})
	p := LinkParams{N401: 512, K: 31, FCS32: true}
	la, lb := sealedPair(t, ctx, a, b, Config{Params: p, Logger: tlog{t}})
	if n := la.Delivered(); n != 0 {
		t.Fatalf("nothing written: Delivered() = %d", n)
	}
	first := pattern(3*la.PayloadSize() + 17)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(lb, make([]byte, len(first))); got <- err }()
	if _, err := la.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for la.Unacknowledged() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d unacknowledged after 10 s", la.Unacknowledged())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := la.Delivered(); n != int64(len(first)) {
		t.Fatalf("after %d octets were acknowledged: Delivered() = %d", len(first), n)
	}
	// The acknowledgement of these is a round trip of 1 s away: the
	// hang-up, at once, drops them.
	if _, err := la.Write(pattern(2 * la.PayloadSize())); err != nil {
		t.Fatal(err)
	}
	la.Hangup()
	la.Close()
	if n := la.Delivered(); n != int64(len(first)) {
		t.Fatalf("after the hang-up: Delivered() = %d, want %d (the second write was not acknowledged)", n, len(first))
	}
}

// wipingTransform is the test AEAD with a Wipe method, which records
// whether a Seal or Open came after it.
type wipingTransform struct {
	*aeadTransform
	wiped     atomic.Int32
	usedAfter atomic.Bool
}

func (t *wipingTransform) Seal(dst, plain []byte) []byte {
	if t.wiped.Load() > 0 {
		t.usedAfter.Store(true)
		return nil
	}
	return t.aeadTransform.Seal(dst, plain)
}

func (t *wipingTransform) Open(dst, sealed []byte) ([]byte, error) {
	if t.wiped.Load() > 0 {
		t.usedAfter.Store(true)
	}
	return t.aeadTransform.Open(dst, sealed)
}

func (t *wipingTransform) Wipe() { t.wiped.Add(1) }

// TestLinkCloseWipesTransform: Close wipes a transform that has a Wipe
// method (auth's does), after the link can no longer seal or open, and a
// Write after it seals nothing (security review: the session keys were
// never wiped when a call ended).
func TestLinkCloseWipesTransform(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := linesim.NewPair(linesim.Config{Seed: 11})
	p := LinkParams{N401: 256, K: 15, FCS32: true}
	la, lb := openPair(t, ctx, a, b, Config{Params: p, Logger: tlog{t}}, Config{Params: p, Logger: tlog{t}})
	ta, tb := &wipingTransform{aeadTransform: newAEADTransform()}, &wipingTransform{aeadTransform: newAEADTransform()}
	la.SetTransform(ta)
	lb.SetTransform(tb)
	establishPair(t, ctx, la, lb)
	data := pattern(4000)
	go func() {
		for {
			if _, err := la.Write(data); err != nil {
				return
			}
		}
	}()
	if _, err := io.ReadFull(lb, make([]byte, 3*len(data))); err != nil {
		t.Fatal(err)
	}
	lb.Close()
	la.Close()
	if _, err := la.Write(data); err == nil {
		t.Error("Write after Close succeeded")
	}
	for name, tr := range map[string]*wipingTransform{"originator": ta, "answerer": tb} {
		if n := tr.wiped.Load(); n != 1 {
			t.Errorf("%s: wiped %d times, want once", name, n)
		}
		if tr.usedAfter.Load() {
			t.Errorf("%s: sealed or opened after the wipe", name)
		}
	}
}
