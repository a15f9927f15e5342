package lapm

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/transport/linesim"
)

// The owner hands a batch of encoded frames to the writer once
// publishEarly octets of it are encoded or the batch is complete,
// whichever comes first: frames wait for the rest of their own batch to
// be encoded, never for more data. These tests run the links in fake
// time (testing/synctest) over linesim: a frame held for data that never
// comes leaves every goroutine blocked (synctest reports the deadlock),
// and one held for a timer shows as fake time passing.

// latencyPair is an established pair over line impairments im with
// parameters p (T403 off unless t403 is set).
func latencyPair(t *testing.T, im linesim.Impairments, p LinkParams, t403 time.Duration) (*Link, *Link) {
	t.Helper()
	if t403 == 0 {
		t403 = -1
	}
	a, b := linesim.NewPair(linesim.Config{Seed: 71, Impairments: im})
	cfg := Config{Params: p, T403: t403}
	la, lb := openPair(t, context.Background(), a, b, cfg, cfg)
	establishPair(t, context.Background(), la, lb)
	return la, lb
}

// fastParams and pacedParams are what the gateway offers on a line at
// network speed and on a paced one (config.DefaultLAPM).
var (
	fastParams  = LinkParams{N401: 4096, K: 127, FCS32: true, SREJ: true}
	pacedParams = LinkParams{N401: 256, K: 15, FCS32: true, SREJ: true}
	paced33600  = linesim.Impairments{BitRate: 33600}
)

// readWithin reads exactly len(want) octets from l and fails unless they
// are want and arrived within d of fake time.
func readWithin(t *testing.T, l *Link, want []byte, d time.Duration) {
	t.Helper()
	start := time.Now()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(l, got); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > d {
		t.Errorf("%d octets took %v of fake time, want at most %v", len(want), el, d)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// A keystroke and its echo cross an unimpaired line in no time at all.
func TestLinkKeystrokeNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		la, lb := latencyPair(t, linesim.Impairments{}, fastParams, 0)
		for _, c := range []byte("hello") {
			if _, err := la.Write([]byte{c}); err != nil {
				t.Fatal(err)
			}
			readWithin(t, lb, []byte{c}, 0)
			if _, err := lb.Write([]byte{c}); err != nil { // the echo
				t.Fatal(err)
			}
			readWithin(t, la, []byte{c}, 0)
		}
		la.Close()
		lb.Close()
	})
}

// On a paced line (33,600 bit/s, 10 bits per octet, the paced defaults
// N401 256 and k 15) a keystroke takes the line time of its frame: a
// handful of octets, well under 10 ms.
func TestLinkKeystrokePacedNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		la, lb := latencyPair(t, paced33600, pacedParams, 0)
		for _, c := range []byte("hi") {
			if _, err := la.Write([]byte{c}); err != nil {
				t.Fatal(err)
			}
			readWithin(t, lb, []byte{c}, 10*time.Millisecond)
		}
		la.Close()
		lb.Close()
	})
}

// A keystroke written while a paced line still carries a screenful
// follows it at once: the screenful's line time, its acknowledgements
// (T402 at most per window) and no more.
func TestLinkKeystrokeBehindOutputPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		la, lb := latencyPair(t, paced33600, pacedParams, 0)
		screen := pattern(8 << 10)
		start := time.Now()
		wrote := make(chan error, 1)
		go func() {
			if _, err := la.Write(screen); err != nil {
				wrote <- err
				return
			}
			_, err := la.Write([]byte{'!'})
			wrote <- err
		}()
		want := append(append([]byte(nil), screen...), '!')
		// The line time of the screenful in 256-octet frames (about 2.6
		// s), a T402 per window and a margin for flags and headers.
		lineTime := timeOnLine(len(want), 33600)
		readWithin(t, lb, want, lineTime*11/10+time.Duration(len(want)/(256*15)+1)*la.cfg.T402)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < lineTime {
			t.Errorf("%d octets crossed a 33,600 bit/s line in %v, less than their line time %v: the line is not paced", len(want), el, lineTime)
		}
		if st := la.Stats(); st.T401Expiries != 0 {
			t.Errorf("T401 expired %d times: an acknowledgement was held", st.T401Expiries)
		}
		la.Close()
		lb.Close()
	})
}

// An end that only receives acknowledges within T402 (delayed
// acknowledgement), without data of its own to carry the N(R): with a
// window of one frame the sender can send its second frame only once the
// first is acknowledged.
func TestLinkAcknowledgementNotHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   linesim.Impairments
		p    LinkParams
	}{
		{"fast", linesim.Impairments{}, LinkParams{N401: 4096, K: 1, FCS32: true, SREJ: true}},
		{"paced", paced33600, LinkParams{N401: 256, K: 1, FCS32: true, SREJ: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				la, lb := latencyPair(t, tc.im, tc.p, 0)
				data := pattern(2 * tc.p.N401)
				wrote := make(chan error, 1)
				go func() {
					_, err := la.Write(data)
					wrote <- err
				}()
				lineTime := time.Duration(0)
				if tc.im.BitRate > 0 {
					lineTime = timeOnLine(len(data), tc.im.BitRate) * 11 / 10
				}
				readWithin(t, lb, data, lineTime+la.cfg.T402)
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
				if st := la.Stats(); st.T401Expiries != 0 {
					t.Errorf("T401 expired %d times: the acknowledgement was held", st.T401Expiries)
				}
				la.Close()
				lb.Close()
			})
		})
	}
}

// Idle polls (T403: RR with P=1) are answered at once: over a minute of
// quiet, no poll waits for its answer until T401 expires.
func TestLinkPollAnswerNotHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   linesim.Impairments
		p    LinkParams
	}{
		{"fast", linesim.Impairments{}, fastParams},
		{"paced", paced33600, pacedParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				la, lb := latencyPair(t, tc.im, tc.p, 2*time.Second)
				time.Sleep(time.Minute) // fake time: T403 polls both ways
				synctest.Wait()
				sa, sb := la.Stats(), lb.Stats()
				if sa.T403Polls+sb.T403Polls == 0 {
					t.Fatal("no idle polls: the test checks nothing")
				}
				if sa.T401Expiries+sb.T401Expiries != 0 {
					t.Errorf("T401 expired %d and %d times after %d and %d polls: a poll's answer was held", sa.T401Expiries, sb.T401Expiries, sa.T403Polls, sb.T403Polls)
				}
				// The link still carries data at once.
				if _, err := la.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
				readWithin(t, lb, []byte("x"), 10*time.Millisecond)
				la.Close()
				lb.Close()
			})
		})
	}
}

// A break (UI BRK) reaches the peer at once, also behind nothing.
func TestLinkBreakNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		la, lb := latencyPair(t, paced33600, pacedParams, 0)
		start := time.Now()
		if err := la.Break(); err != nil {
			t.Fatal(err)
		}
		<-lb.Breaks()
		if el := time.Since(start); el > 10*time.Millisecond {
			t.Errorf("the break took %v of fake time on a paced line, want under 10 ms", el)
		}
		la.Close()
		lb.Close()
	})
}

// What Write queued before Close reaches the peer, then the release: on a
// paced line in the line time of the data (no frame waits for more).
func TestLinkCloseFlushesPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		la, lb := latencyPair(t, paced33600, pacedParams, 0)
		data := pattern(3000)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(lb)
			got <- b
		}()
		start := time.Now()
		if _, err := la.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := la.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("peer read %d octets, want the %d written before Close", len(b), len(data))
		}
		lineTime := timeOnLine(len(data), 33600)
		if el := time.Since(start); el > 2*lineTime {
			t.Errorf("write and release took %v of fake time, more than twice the line time %v", el, lineTime)
		}
		lb.Close()
	})
}

// timeOnLine is how long n octets take on a line of bitRate bit/s in 10-bit
// characters.
func timeOnLine(n, bitRate int) time.Duration {
	return time.Duration(n*10) * time.Second / time.Duration(bitRate)
}

// A caller's keystroke while the gateway floods a 2,400 bit/s line (a BBS
// user's Ctrl-C during a long listing) is acknowledged within a few
// seconds, so that a caller with the default T401 of 1 s and N400 10
// (gateway dial, a modem that does not know the rate) keeps its link. The
// sender that knows its line rate (Config.LineRate) keeps no more than
// about PacedWindowTime of frames outstanding: with the paced defaults
// (N401 256, k 15) a whole window held 16 s of the line ahead of the
// acknowledgement and of the answers to the caller's polls, and the
// caller failed the link after ten polls (slow-lines trial: exit 16,
// "10 polls unanswered", 11 s after one keystroke).
func TestLinkKeystrokeDuringPacedFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 71, Impairments: linesim.Impairments{BitRate: 2400}})
		gw := Config{Params: pacedParams, T403: -1, LineRate: 2400}
		caller := Config{Params: fastParams, T403: -1} // T401 1 s
		lg, lc := openPair(t, context.Background(), a, b, gw, caller)
		establishPair(t, context.Background(), lg, lc)
		flood := pattern(12 << 10) // 51 s of the line
		wrote := make(chan error, 1)
		go func() {
			_, err := lg.Write(flood)
			wrote <- err
		}()
		got := make(chan error, 1)
		go func() {
			b := make([]byte, len(flood))
			_, err := io.ReadFull(lc, b)
			if err == nil && !bytes.Equal(b, flood) {
				err = io.ErrUnexpectedEOF
			}
			got <- err
		}()
		time.Sleep(5 * time.Second) // the flood is under way
		if _, err := lc.Write([]byte{3}); err != nil {
			t.Fatal(err)
		}
		key := make([]byte, 1)
		if _, err := io.ReadFull(lg, key); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("caller's read of the flood: %v", err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if st := lc.Stats(); st.T401Expiries > DefaultN400/2 {
			t.Errorf("the caller's T401 expired %d times after one keystroke (it fails the link after %d): its acknowledgement waited behind the window", st.T401Expiries, DefaultN400)
		}
		lg.Close()
		lc.Close()
	})
}

// TestPacedWindow: the frames a paced link keeps in flight, per line
// rate (docs/operators.md quotes these).
func TestPacedWindow(t *testing.T) {
	for _, c := range []struct{ rate, n401, want int }{
		{300, 256, 2}, {2400, 256, 2}, {9600, 256, 10}, {33600, 256, 37}, {115200, 256, 127}, {9600, 64, 39},
	} {
		if got := pacedWindow(c.rate, c.n401); got != c.want {
			t.Errorf("pacedWindow(%d, %d) = %d, want %d", c.rate, c.n401, got, c.want)
		}
	}
}
