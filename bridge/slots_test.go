package bridge

import (
	"testing"
	"time"
)

func TestSlots(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := newSlots(slotLimits{max: 3, perSource: 2, holdoff: 2 * time.Second})
	if r := s.take("a", t0); r != busyNone {
		t.Fatal(r)
	}
	if r := s.take("a", t0); r != busyNone {
		t.Fatal(r)
	}
	if r := s.take("a", t0); r != busyPerSource {
		t.Fatalf("third from a: %q", r)
	}
	if r := s.take("b", t0); r != busyNone {
		t.Fatal(r)
	}
	if r := s.take("c", t0); r != busyFull {
		t.Fatalf("fourth: %q", r)
	}
	s.release("b", t0)
	if r := s.take("b", t0.Add(time.Second)); r != busyHoldoff {
		t.Fatalf("b in hold-off: %q", r)
	}
	if r := s.take("c", t0.Add(time.Second)); r != busyNone {
		t.Fatalf("c: %q", r)
	}
	s.release("c", t0.Add(time.Second))
	if r := s.take("b", t0.Add(2*time.Second)); r != busyNone {
		t.Fatalf("b after hold-off: %q", r)
	}
	s.setLimits(slotLimits{max: 3, maintenance: true})
	if r := s.take("d", t0); r != busyMaintenance {
		t.Fatalf("maintenance: %q", r)
	}
	s.setLimits(slotLimits{max: 10})
	s.drain()
	if r := s.take("d", t0); r != busyDraining {
		t.Fatalf("draining: %q", r)
	}
	if s.busy() != 3 {
		t.Fatalf("busy = %d", s.busy())
	}
}
