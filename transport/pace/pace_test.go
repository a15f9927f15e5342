package pace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

func TestWrapPacesWrites(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		defer b.Close()
		p := Wrap(a, 2400, 10) // 240 characters per second, burst 4
		start := time.Now()
		go func() {
			io.Copy(io.Discard, b)
		}()
		if n, err := p.Write(make([]byte, 2400)); n != 2400 || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		// 2400 characters take 10 s on the wire; the last burst of 4 is
		// released 4 character times before the wire is free.
		if d, want := time.Since(start), 10*time.Second-4*time.Second/240; d != want {
			t.Errorf("2400 octets at 2400 bit/s written in %v, want %v", d, want)
		}
		p.Close()
	})
}

func TestWrapPacesReads(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		defer a.Close()
		p, err := New(b, Config{BitsPerSecond: 8000, BitsPerChar: 8, Burst: 10, PaceReads: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		a.Write(make([]byte, 1000)) // arrives at once
		start := time.Now()
		got, biggest := 0, 0
		buf := make([]byte, 4096)
		for got < 1000 {
			n, err := p.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
			biggest = max(biggest, n)
		}
		if biggest > 10 {
			t.Errorf("a paced read returned %d octets, burst is 10", biggest)
		}
		// 1000 characters at 1000/s, the first burst free.
		if d, want := time.Since(start), 990*time.Millisecond; d != want {
			t.Errorf("1000 octets read in %v, want %v", d, want)
		}
	})
}

func TestCloseDuringPacing(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		p := Wrap(a, 300, 10)
		var n int
		var err error
		done := make(chan struct{})
		go func() {
			n, err = p.Write(make([]byte, 100)) // 3.3 s at 30 characters/s
			close(done)
		}()
		time.Sleep(time.Second)
		p.Close()
		<-done
		if !errors.Is(err, transport.ErrHungUp) || n >= 100 || n < 29 {
			t.Errorf("write interrupted by Close: n=%d err=%v", n, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "pace: ") {
			t.Errorf("error %q does not start with the package name", err)
		}
		// What was written before Close reaches the peer, then EOF.
		got, rerr := io.ReadAll(b)
		if rerr != nil || len(got) != n {
			t.Errorf("peer read %d octets, %v; want %d then EOF", len(got), rerr, n)
		}
		b.Close()
		if _, err := p.Write([]byte("x")); !errors.Is(err, transport.ErrHungUp) && !errors.Is(err, linesim.ErrPeerHungUp) {
			t.Errorf("write after close: %v", err)
		}
	})
}

// TestPreemptCutsWriteInProgress: Preempt ends the Write in progress at
// its next burst, with what it wrote and ErrPreempted; the next Write
// goes out whole, right behind what was written.
func TestPreemptCutsWriteInProgress(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		p, _ := New(a, Config{BitsPerSecond: 300, Burst: 3}) // 30 characters/s
		var n int
		var err error
		done := make(chan struct{})
		go func() {
			n, err = p.Write(bytes.Repeat([]byte("d"), 300)) // 10 s
			close(done)
		}()
		time.Sleep(time.Second)
		p.Preempt()
		<-done
		if !errors.Is(err, ErrPreempted) || n >= 300 || n < 27 {
			t.Errorf("write preempted after 1 s: n=%d err=%v", n, err)
		}
		start := time.Now()
		if m, err := p.Write([]byte("NO CARRIER")); m != 10 || err != nil {
			t.Errorf("write after Preempt: %d, %v", m, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the words after Preempt took %v", d)
		}
		p.Close()
		got, _ := io.ReadAll(b)
		if want := strings.Repeat("d", n) + "NO CARRIER"; string(got) != want {
			t.Errorf("peer read %q, want %q", got, want)
		}
	})
}

func TestWriteDeadlineBoundsPacing(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		defer b.Close()
		p, _ := New(a, Config{BitsPerSecond: 300, Burst: 1}) // 30 characters/s
		defer p.Close()
		p.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := p.Write(make([]byte, 100))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n != 30 {
			t.Errorf("write: n=%d err=%v, want 30 and a deadline error", n, err)
		}
	})
}

func TestWrapNoRate(t *testing.T) {
	a, b := linesim.NewPair(linesim.Config{Seed: 1})
	defer a.Close()
	defer b.Close()
	if Wrap(a, 0, 10) != transport.Line(a) {
		t.Error("Wrap with rate 0 did not return the line itself")
	}
	if _, err := New(a, Config{BitsPerSecond: -1}); !errors.Is(err, ErrBadRate) {
		t.Errorf("New with a negative rate: %v", err)
	}
	if _, err := New(a, Config{BitsPerSecond: MaxBitsPerSecond + 1}); !errors.Is(err, ErrBadRate) || !strings.Contains(err.Error(), "BitsPerSecond") {
		t.Errorf("New with an absurd rate: %v", err)
	}
	if _, err := New(a, Config{BitsPerSecond: 2400, BitsPerChar: MaxBitsPerChar + 1}); !errors.Is(err, ErrBadRate) || !strings.Contains(err.Error(), "BitsPerChar") {
		t.Errorf("New with %d bits per character: %v", MaxBitsPerChar+1, err)
	}
}

// fancyLine has every optional ability.
type fancyLine struct {
	transport.Line
	echo, brk bool
	win       chan transport.WindowSize
	ev        chan transport.Event
}

func (f *fancyLine) WindowChanges() <-chan transport.WindowSize { return f.win }
func (f *fancyLine) Events() <-chan transport.Event             { return f.ev }
func (f *fancyLine) SetServerEcho(on bool) error                { f.echo = on; return nil }
func (f *fancyLine) SendBreak() error                           { f.brk = true; return nil }

func TestForwarding(t *testing.T) {
	a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "fwd"})
	defer b.Close()
	f := &fancyLine{Line: a, win: make(chan transport.WindowSize), ev: make(chan transport.Event)}
	p, _ := New(f, Config{BitsPerSecond: 33600})
	defer p.Close()
	if p.Unwrap() != transport.Line(f) || p.Info().LocalAddr != "fwd/a" {
		t.Errorf("Unwrap/Info not forwarded: %+v", p.Info())
	}
	if p.WindowChanges() != (<-chan transport.WindowSize)(f.win) || p.Events() != (<-chan transport.Event)(f.ev) {
		t.Error("notification channels not forwarded")
	}
	if p.SetServerEcho(true) != nil || !f.echo || p.SendBreak() != nil || !f.brk {
		t.Error("echo control or break not forwarded")
	}
	// fancyLine hides linesim's deadlines: the wrapper says so.
	if err := p.SetReadDeadline(time.Now()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetReadDeadline on a line without deadlines: %v", err)
	}

	plain, _ := New(a, Config{BitsPerSecond: 33600})
	if plain.WindowChanges() != nil || plain.Events() != nil {
		t.Error("a line without notifications got channels")
	}
	if err := plain.SetServerEcho(true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetServerEcho: %v", err)
	}
	if err := plain.SendBreak(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SendBreak: %v", err)
	}
	if err := plain.SetReadDeadline(time.Time{}); err != nil {
		t.Errorf("SetReadDeadline on a linesim line: %v", err)
	}
}

// BenchmarkWrapUnpaced measures the wrapper's cost when the rate is far
// above what the line carries (pacing never waits): 1 Gbit/s over a
// perfect linesim pair, 32 KiB writes.
func BenchmarkWrapUnpaced(b *testing.B) {
	x, y := linesim.NewPair(linesim.Config{Seed: 1})
	defer y.Close()
	p, err := New(x, Config{BitsPerSecond: 1e9, BitsPerChar: 8, Burst: 32 << 10})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	go io.Copy(io.Discard, y)
	for b.Loop() {
		p.Write(buf)
	}
	p.Close()
}
