package linesim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// exchange writes out on w and reads everything from r until io.EOF.
func exchange(t *testing.T, w, r *Line, out []byte) (got []byte, werr error) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, werr = w.Write(out)
		w.Close()
	})
	got, err := io.ReadAll(r)
	wg.Wait()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got, werr
}

func TestPerfectPairBothWriteFirst(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := NewPair(Config{Seed: 1, Buffer: 4096})
	defer a.Close()
	defer b.Close()
	da, db := randomBytes(10, 1<<20), randomBytes(11, 1<<20)
	var wg sync.WaitGroup
	var gotA, gotB []byte
	var errA, errB error
	// Both sides write first, then read: with a bounded buffer smaller
	// than the data, this needs each side to read while the other writes.
	wg.Go(func() {
		_, errA = a.Write(da)
	})
	wg.Go(func() {
		_, errB = b.Write(db)
	})
	wg.Go(func() {
		gotB = make([]byte, len(da))
		io.ReadFull(b, gotB)
	})
	gotA = make([]byte, len(db))
	if _, err := io.ReadFull(a, gotA); err != nil {
		t.Fatalf("a read: %v", err)
	}
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("write errors: %v, %v", errA, errB)
	}
	if sha256.Sum256(gotB) != sha256.Sum256(da) || sha256.Sum256(gotA) != sha256.Sum256(db) {
		t.Fatalf("data corrupted on a perfect line (%d/%d octets)", len(gotB), len(gotA))
	}
	if a.Info().Transport != "sim" || a.Info().RemoteAddr != b.Info().LocalAddr {
		t.Errorf("info: %+v / %+v", a.Info(), b.Info())
	}
}

func TestPairDeterministic(t *testing.T) {
	testutil.CheckGoroutines(t)
	data := randomBytes(12, 32<<10)
	cfg := Config{Seed: 99, Impairments: Impairments{BitErrorRate: 1e-3, DropRate: 1e-3, DupRate: 1e-3, Bursts: Bursts{MeanInterval: 3000, MeanLength: 4}}}
	run := func() []byte {
		a, b := NewPair(cfg)
		defer b.Close()
		got, err := exchange(t, a, b, data)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first, second := run(), run()
	if !bytes.Equal(first, second) {
		t.Fatal("same seed, different corruption")
	}
	if bytes.Equal(first, data) {
		t.Fatal("no corruption at all")
	}
	if !bytes.Equal(first, impairAll(99, cfg.Impairments, data, 1)) {
		t.Fatal("pair output differs from the impairer's")
	}
}

func TestRandomSeedLogged(t *testing.T) {
	var logged []any
	a, b := NewPair(Config{Logf: func(f string, args ...any) { logged = append(logged, args...) }})
	defer a.Close()
	defer b.Close()
	if len(logged) < 2 || logged[1] != a.Seed() || a.Seed() == 0 {
		t.Fatalf("logged %v, seed %d", logged, a.Seed())
	}
}

func TestCloseContract(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := NewPair(Config{Seed: 1})
	if _, err := a.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, transport.ErrHungUp) || !strings.HasPrefix(err.Error(), "linesim: ") {
		t.Errorf("read after local close: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, transport.ErrHungUp) || !strings.HasPrefix(err.Error(), "linesim: ") {
		t.Errorf("write after local close: %v", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Errorf("peer read %q, %v; want the data, then EOF", got, err)
	}
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read after EOF: %v", err)
	}
	if _, err := b.Write([]byte("anyone?")); !errors.Is(err, ErrPeerHungUp) || !errors.Is(err, transport.ErrHungUp) {
		t.Errorf("write to hung-up peer: %v, want ErrPeerHungUp wrapping transport.ErrHungUp", err)
	}
	b.Close()
}

func TestCloseUnblocks(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Buffer: 10})
		defer b.Close()
		readErr := make(chan error)
		go func() {
			_, err := a.Read(make([]byte, 1))
			readErr <- err
		}()
		writeErr := make(chan error)
		go func() {
			_, err := a.Write(make([]byte, 100)) // blocks: buffer 10
			writeErr <- err
		}()
		synctest.Wait() // both are blocked now
		a.Close()
		if err := <-readErr; !errors.Is(err, transport.ErrHungUp) {
			t.Errorf("blocked read: %v", err)
		}
		if err := <-writeErr; !errors.Is(err, transport.ErrHungUp) {
			t.Errorf("blocked write: %v", err)
		}
	})
}

func TestPeerCloseUnblocksWriter(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Buffer: 10})
		var n int
		var err error
		done := make(chan struct{})
		go func() {
			n, err = a.Write(make([]byte, 100))
			close(done)
		}()
		synctest.Wait()
		b.Close()
		<-done
		if n != 10 || !errors.Is(err, ErrPeerHungUp) {
			t.Errorf("write: n=%d err=%v, want 10 and ErrPeerHungUp", n, err)
		}
		a.Close()
	})
}

func TestBackpressure(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Buffer: 100})
		defer a.Close()
		defer b.Close()
		var n int
		done := make(chan struct{})
		go func() {
			n, _ = a.Write(make([]byte, 250))
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Write of 250 octets returned with a 100-octet buffer and no reader")
		default:
		}
		got := make([]byte, 250)
		if _, err := io.ReadFull(b, got[:60]); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Write returned with 90 octets still to place")
		default:
		}
		if _, err := io.ReadFull(b, got[60:]); err != nil {
			t.Fatal(err)
		}
		<-done
		if n != 250 {
			t.Fatalf("wrote %d", n)
		}
	})
}

func TestLatencyAndBitRate(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		// 2400 bit/s, 10 bits per character: 240 octets per second.
		a, b := NewPair(Config{Seed: 1, Impairments: Impairments{Latency: 50 * time.Millisecond, BitRate: 2400}})
		defer b.Close()
		start := time.Now()
		go func() {
			a.Write(make([]byte, 480))
			a.Close()
		}()
		buf := make([]byte, 1)
		if _, err := io.ReadFull(b, buf); err != nil {
			t.Fatal(err)
		}
		// The first octet: 50 ms latency plus one character time (rounded
		// up to the nanosecond).
		if d, want := time.Since(start), 50*time.Millisecond+4166667; d != want {
			t.Errorf("first octet after %v, want %v", d, want)
		}
		rest, err := io.ReadAll(b)
		if err != nil || len(rest) != 479 {
			t.Fatalf("read %d, %v", len(rest), err)
		}
		if d, want := time.Since(start), 50*time.Millisecond+2*time.Second; d != want {
			t.Errorf("480 octets at 240/s after %v, want %v", d, want)
		}
	})
}

func TestWireIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two writes back to back queue on the wire: the second waits for
		// the first.
		a, b := NewPair(Config{Seed: 1, Impairments: Impairments{BitRate: 800, BitsPerChar: 8}})
		defer a.Close()
		defer b.Close()
		start := time.Now()
		a.Write(make([]byte, 50))
		a.Write(make([]byte, 50))
		io.ReadFull(b, make([]byte, 100))
		if d := time.Since(start); d != time.Second {
			t.Errorf("100 octets at 100/s took %v", d)
		}
		// After an idle second the wire starts afresh.
		time.Sleep(time.Second)
		start = time.Now()
		a.Write(make([]byte, 10))
		io.ReadFull(b, make([]byte, 10))
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("10 octets at 100/s took %v after idling", d)
		}
	})
}

func TestOutage(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Impairments: Impairments{
			Outages: []Outage{{Start: time.Second, End: 2 * time.Second}},
		}})
		defer b.Close()
		go func() {
			defer a.Close()
			for i := range 4 {
				a.Write([]byte{byte('a' + i)})
				time.Sleep(700 * time.Millisecond) // writes at 0, 0.7, 1.4, 2.1 s
			}
		}()
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "abd" {
			t.Errorf("read %q, %v; want \"abd\" (c sent during the outage)", got, err)
		}
		if st := a.SentStats(); st.LostInOutage != 1 || st.Sent != 4 || st.Delivered != 3 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestOutageRateCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 100 octets/s; octets on the wire in [0.25 s, 0.5 s) are lost:
		// octets 25..49.
		a, b := NewPair(Config{Seed: 1, Impairments: Impairments{
			BitRate: 1000,
			OutageFunc: func(d time.Duration) bool {
				return d >= 250*time.Millisecond && d < 500*time.Millisecond
			},
		}})
		defer b.Close()
		data := make([]byte, 100)
		for i := range data {
			data[i] = byte(i)
		}
		got, err := exchange(t, a, b, data)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append([]byte{}, data[:25]...), data[50:]...)
		if !bytes.Equal(got, want) {
			t.Errorf("got %v\nwant %v", got, want)
		}
	})
}

func TestDeadlines(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Buffer: 1})
		defer a.Close()
		defer b.Close()
		a.SetReadDeadline(time.Now().Add(time.Second))
		start := time.Now()
		if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("read deadline fired after %v", d)
		}
		a.SetWriteDeadline(time.Now().Add(time.Second))
		if n, err := a.Write([]byte("ab")); n != 1 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write: %d, %v", n, err)
		}
		a.SetReadDeadline(time.Time{})
		b.Write([]byte("z"))
		if _, err := a.Read(make([]byte, 1)); err != nil {
			t.Errorf("read after clearing the deadline: %v", err)
		}
	})
}

func TestDirectionsConfiguredSeparately(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := NewPair(Config{Seed: 3, AtoB: &Impairments{BitErrorRate: 1}, BtoA: &Impairments{}})
	defer a.Close()
	defer b.Close()
	a.Write([]byte{0x0F})
	b.Write([]byte{0x0F})
	buf := make([]byte, 1)
	if io.ReadFull(b, buf); buf[0] != 0xF0 {
		t.Errorf("a to b at BER 1: got %#02x, want 0xf0", buf[0])
	}
	if io.ReadFull(a, buf); buf[0] != 0x0F {
		t.Errorf("b to a perfect: got %#02x, want 0x0f", buf[0])
	}
}

func TestHangUpTakesLatency(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Config{Seed: 1, Impairments: Impairments{Latency: 100 * time.Millisecond}})
		defer b.Close()
		start := time.Now()
		a.Write([]byte("x"))
		a.Close()
		buf := make([]byte, 4)
		if n, err := b.Read(buf); n != 1 || err != nil || time.Since(start) != 100*time.Millisecond {
			t.Errorf("read %d, %v after %v; want 1 octet after 100ms", n, err, time.Since(start))
		}
		if _, err := b.Read(buf); err != io.EOF || time.Since(start) != 100*time.Millisecond {
			t.Errorf("then %v after %v; want EOF at 100ms", err, time.Since(start))
		}
		// A hang-up with nothing in flight also takes the latency.
		c, d := NewPair(Config{Seed: 1, Impairments: Impairments{Latency: time.Second}})
		defer d.Close()
		start = time.Now()
		c.Close()
		if _, err := d.Read(buf); err != io.EOF || time.Since(start) != time.Second {
			t.Errorf("bare hang-up: %v after %v; want EOF after 1s", err, time.Since(start))
		}
	})
}
