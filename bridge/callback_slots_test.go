package bridge

import (
	"testing"
	"time"
)

// TestSlotsCallbackSkipsHoldoff: a callback's slot ignores the hold-off
// of its address (the gateway's own call follows the caller's hang-up by
// design) but counts against, and is refused by, max_concurrent,
// per_source, maintenance and the drain like any call; its release starts
// the hold-off as any call's does.
func TestSlotsCallbackSkipsHoldoff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := newSlots(slotLimits{max: 2, perSource: 1, holdoff: time.Minute})
	if r := s.take("a", t0); r != busyNone {
		t.Fatal(r)
	}
	s.release("a", t0)
	if r := s.take("a", t0.Add(time.Second)); r != busyHoldoff {
		t.Fatalf("caller's redial in hold-off: %q", r)
	}
	if r := s.takeCallback("a", t0.Add(time.Second)); r != busyNone {
		t.Fatalf("callback in hold-off: %q", r)
	}
	if r := s.takeCallback("a", t0.Add(time.Second)); r != busyPerSource {
		t.Fatalf("second callback to a: %q", r)
	}
	if r := s.take("b", t0); r != busyNone {
		t.Fatal(r)
	}
	if r := s.takeCallback("c", t0); r != busyFull {
		t.Fatalf("callback with every line in use: %q", r)
	}
	s.release("a", t0.Add(2*time.Second))
	if r := s.take("a", t0.Add(3*time.Second)); r != busyHoldoff {
		t.Fatalf("redial after the callback's session: %q", r)
	}
	s.setLimits(slotLimits{max: 2, maintenance: true})
	if r := s.takeCallback("c", t0); r != busyMaintenance {
		t.Fatalf("maintenance: %q", r)
	}
	s.setLimits(slotLimits{max: 2})
	s.drain()
	if r := s.takeCallback("c", t0); r != busyDraining {
		t.Fatalf("draining: %q", r)
	}
	if s.busy() != 1 {
		t.Fatalf("busy = %d", s.busy())
	}
}
