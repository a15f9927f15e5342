package admit

import (
	"testing"
	"time"
)

// TestCounter: the total and per-source bounds, exempt sources, and
// places given back.
func TestCounter(t *testing.T) {
	c := Counter[string]{Max: 3, PerSource: 2}
	for i, want := range []Limit{None, None, Source} {
		if got := c.Take("a", false); got != want {
			t.Fatalf("take %d from a: %v, want %v", i, got, want)
		}
	}
	if got := c.Take("proxy", true); got != None {
		t.Fatalf("exempt: %v", got)
	}
	if got := c.Take("b", false); got != Total {
		t.Fatalf("over the total: %v", got)
	}
	c.Release("a")
	if got := c.Take("b", false); got != None {
		t.Fatalf("after a release: %v", got)
	}
	if got := c.Take("c", false); got != Total {
		t.Fatalf("full again: %v", got)
	}
	c.Release("proxy")
	c.Release("b")
	c.Release("a")
	if c.total != 0 || len(c.bySource) != 0 {
		t.Errorf("left: total %d, by source %v", c.total, c.bySource)
	}
}

func TestWaitingTakeOldest(t *testing.T) {
	var w Waiting[string]
	if _, ok := w.TakeOldest(nil); ok {
		t.Fatal("an empty set gave an entry")
	}
	for _, x := range []string{"a1", "b1", "a2"} {
		w.Add(x)
		time.Sleep(time.Millisecond) // distinct times, in this order
	}
	w.Add("a1") // waiting again from now: the youngest
	if x, ok := w.TakeOldest(func(x string) bool { return x[0] == 'a' }); !ok || x != "a2" {
		t.Errorf("oldest a: %q, %v", x, ok)
	}
	w.Remove("b1")
	if x, ok := w.TakeOldest(nil); !ok || x != "a1" {
		t.Errorf("oldest: %q, %v", x, ok)
	}
	if x, ok := w.TakeOldest(nil); ok {
		t.Errorf("left: %q", x)
	}
}
