package burstlog

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestLogClose: the first event of a burst is logged at once, Close logs
// what is pending at once and stops the timer, and an event after Close
// is logged at once.
func TestLogClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []int
		b := Log{Emit: func(n int, last string) {
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
		}}
		for range 7 {
			b.Add("x")
		}
		b.Close()
		b.Close()
		b.Add("late")
		time.Sleep(3 * Window)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(got) != "[1 6 1]" {
			t.Errorf("lines for 7 events, close, 1 event: %v, want [1 6 1] (the first at once)", got)
		}
	})
}

// TestLogBursts: events spread over several windows are each counted in
// exactly one line, at most one line a window, the end of a burst
// included, and a quiet window disarms the timer.
func TestLogBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []int
		var times []time.Time
		b := Log{Emit: func(n int, last string) {
			mu.Lock()
			got = append(got, n)
			times = append(times, time.Now())
			mu.Unlock()
		}}
		defer b.Close()
		for i := range 250 {
			b.Add(fmt.Sprint(i))
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(3 * Window)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for i, n := range got {
			sum += n
			if i > 0 && times[i].Sub(times[i-1]) < Window {
				t.Errorf("lines %d and %d only %v apart", i-1, i, times[i].Sub(times[i-1]))
			}
		}
		if sum != 250 {
			t.Errorf("lines %v count %d events, want 250", got, sum)
		}
	})
}
