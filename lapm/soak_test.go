package lapm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/dialgate/dialgate/transport/linesim"
)

// TestSimSoak runs two links over a simulated line with random
// impairments, one seed per subtest, in fake time (testing/synctest):
// bit errors at BER 1e-6 to 1e-3, noise bursts, dropped and duplicated
// octets, a line rate of 300 to 115,200 bit/s, outages short and long
// (the line cut), a reader that pauses (own receiver busy, RNR), writes
// of 0 to 5,000 octets, breaks, and a transform that rekeys every few
// payloads. For each direction it checks that what arrived is a prefix of
// what was sent (all of it after an orderly release), that Delivered and
// the acknowledgement counters never claim more than the peer received,
// that a link that fails fails on both ends, and that every run ends
// within a bound of fake time.
//
// DIALGATE_SOAK=N runs seeds 1..N (DIALGATE_SOAK_FIRST moves the first);
// DIALGATE_SOAK_SEED=s runs seed s alone and logs its configuration.
func TestSimSoak(t *testing.T) {
	first, n := int64(1), int64(0)
	if s := os.Getenv("DIALGATE_SOAK_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("DIALGATE_SOAK_SEED=%q", s)
		}
		first, n = v, 1
	} else if s := os.Getenv("DIALGATE_SOAK"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("DIALGATE_SOAK=%q", s)
		}
		n = v
		if s := os.Getenv("DIALGATE_SOAK_FIRST"); s != "" {
			if first, err = strconv.ParseInt(s, 10, 64); err != nil {
				t.Fatalf("DIALGATE_SOAK_FIRST=%q", s)
			}
		}
	} else {
		t.Skip("set DIALGATE_SOAK=N (seeds) or DIALGATE_SOAK_SEED=s to run the soak")
	}
	for seed := first; seed < first+n; seed++ {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			sc := newSoakCase(seed)
			if n == 1 {
				t.Logf("case: %s", sc)
				sc.verbose = true
			}
			synctest.Test(t, func(t *testing.T) { sc.run(t) })
		})
	}
}

// soakCase is one seed's random configuration.
type soakCase struct {
	seed       int64
	rate       int // bit/s, 0 unlimited
	im         [2]linesim.Impairments
	buffer     int
	params     [2]LinkParams
	t402       time.Duration
	size       [2]int           // octets each side writes
	maxWrite   int              // largest Write
	pause      [2]time.Duration // longest reader pause
	breaks     [2]int           // Break calls per side
	rekey      int              // transform rekeys every rekey payloads
	cut        time.Duration    // the line goes dead for good at cut (0: never)
	stall      linesim.Outage   // a recoverable outage
	useWriteTo bool
	verbose    bool // log the links' lines
}

func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))
}

func newSoakCase(seed int64) *soakCase {
	r := rand.New(rand.NewPCG(uint64(seed), 0x50a6))
	sc := &soakCase{seed: seed}
	rates := []int{300, 1200, 2400, 9600, 14400, 28800, 33600, 57600, 115200, 0}
	sc.rate = rates[r.IntN(len(rates))]
	for i := range sc.im {
		im := linesim.Impairments{BitRate: sc.rate, BitsPerChar: 8}
		if r.IntN(5) > 0 {
			im.BitErrorRate = logUniform(r, 1e-6, 1e-3)
		}
		if r.IntN(3) == 0 {
			im.Bursts = linesim.Bursts{MeanInterval: 1000 + r.IntN(100_000), MeanLength: 1 + r.IntN(40)}
		}
		if r.IntN(3) == 0 {
			im.DropRate = logUniform(r, 1e-6, 1e-4)
		}
		if r.IntN(3) == 0 {
			im.DupRate = logUniform(r, 1e-6, 1e-4)
		}
		if r.IntN(3) == 0 {
			im.Latency = time.Duration(r.IntN(300)) * time.Millisecond
		}
		sc.im[i] = im
	}
	sc.buffer = 64 + r.IntN(4096)
	n401s := []int{128, 256, 512, 1024, 2048, 4096, 1 + r.IntN(4096)}
	for i := range sc.params {
		sc.params[i] = LinkParams{
			N401:  n401s[r.IntN(len(n401s))],
			K:     1 + r.IntN(127),
			FCS32: r.IntN(2) == 0,
			SREJ:  r.IntN(2) == 0,
		}
	}
	switch r.IntN(3) {
	case 0:
		sc.t402 = -1
	case 1:
		sc.t402 = time.Duration(1+r.IntN(100)) * time.Millisecond
	}
	// Data: about a minute of the line at most (fake time is free, the
	// octets are not).
	limit := 200_000
	if sc.rate > 0 {
		limit = min(limit, sc.rate/8*60)
	}
	for i := range sc.size {
		sc.size[i] = r.IntN(limit + 1)
	}
	sc.maxWrite = []int{1, 2, 16, 300, 5000}[r.IntN(5)]
	for i := range sc.pause {
		if r.IntN(3) == 0 {
			sc.pause[i] = time.Duration(r.IntN(20_000)) * time.Millisecond
		}
		if r.IntN(4) == 0 {
			sc.breaks[i] = 1 + r.IntN(5)
		}
	}
	sc.rekey = 1 + r.IntN(64)
	switch r.IntN(8) {
	case 0:
		sc.cut = time.Duration(1+r.IntN(60)) * time.Second
	case 1, 2:
		s := time.Duration(1+r.IntN(30)) * time.Second
		sc.stall = linesim.Outage{Start: s, End: s + time.Duration(r.IntN(5000))*time.Millisecond}
	}
	sc.useWriteTo = r.IntN(4) == 0
	return sc
}

func (sc *soakCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d rate %d buffer %d t402 %v rekey %d cut %v stall %v writeTo %v maxWrite %d\n",
		sc.seed, sc.rate, sc.buffer, sc.t402, sc.rekey, sc.cut, sc.stall, sc.useWriteTo, sc.maxWrite)
	for i, name := range []string{"A->B", "B->A"} {
		im := sc.im[i]
		fmt.Fprintf(&b, "  %s: BER %.2g bursts %+v drop %.2g dup %.2g latency %v; size %d pause %v breaks %d params %+v\n",
			name, im.BitErrorRate, im.Bursts, im.DropRate, im.DupRate, im.Latency,
			sc.size[i], sc.pause[i], sc.breaks[i], sc.params[i])
	}
	return b.String()
}

// soakStream is side i's data: a keyed stream, so that a misplaced
// octet shows.
func soakStream(seed int64, i, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(100+i)))
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// rekeyTransform is an AEAD with an implicit counter whose key changes
// every `every` payloads (as Access Security's AES-256-GCM does every
// 2^20): a payload opened out of order, twice or never fails.
type rekeyTransform struct {
	every      uint64
	sent, recd uint64
}

func (t *rekeyTransform) aead(n uint64) ([12]byte, func(dst, nonce, p []byte) ([]byte, error), func(dst, nonce, p []byte) []byte) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], n/t.every)
	a, _ := chacha20poly1305.New(key[:])
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], n)
	return nonce, func(dst, nonce, p []byte) ([]byte, error) { return a.Open(dst, nonce, p, nil) },
		func(dst, nonce, p []byte) []byte { return a.Seal(dst, nonce, p, nil) }
}

func (t *rekeyTransform) Overhead() int { return chacha20poly1305.Overhead }

func (t *rekeyTransform) Seal(dst, plain []byte) []byte {
	nonce, _, seal := t.aead(t.sent)
	t.sent++
	return seal(dst, nonce[:], plain)
}

func (t *rekeyTransform) Open(dst, sealed []byte) ([]byte, error) {
	nonce, open, _ := t.aead(t.recd)
	t.recd++
	return open(dst, nonce[:], sealed)
}

// soakSide records what one side did.
type soakSide struct {
	wrote    int   // octets Write took
	writeErr error // Write's error, if any
	got      []byte
	readErr  error // the error that ended reading (io.EOF after a release)
	breaks   int   // Break calls that returned nil
	brkRecv  int
	closeErr error
	end      time.Duration // when this side saw its link end
}

func (sc *soakCase) run(t *testing.T) {
	start := time.Now()
	cut := sc.cut
	stall := sc.stall
	out := func(d time.Duration) bool {
		return (cut > 0 && d >= cut) || (d >= stall.Start && d < stall.End)
	}
	ab, ba := sc.im[0], sc.im[1]
	ab.OutageFunc, ba.OutageFunc = out, out
	a, b := linesim.NewPair(linesim.Config{Seed: sc.seed, AtoB: &ab, BtoA: &ba, Buffer: sc.buffer})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfgs := [2]Config{}
	for i := range cfgs {
		cfgs[i] = Config{Params: sc.params[i], T402: sc.t402, LineRate: sc.rate}
		if sc.verbose {
			cfgs[i].Logger = tlog{t}
		}
	}
	cfgs[0].Role, cfgs[1].Role = Originator, Answerer

	// The watchdog checks progress every period of fake time: the
	// timers' bound on a failure, (N400+1) x the largest T401, twice
	// (T401 on a paced line covers a window of the offered N401 and k,
	// T401ForRate; the measured round trip can lengthen it to
	// MaxAdaptiveT401), plus the longest reader pause and the stall. A
	// period with no octet received and the links still up is a hang;
	// a run still going after maxFake is only slow, and is ended.
	period := 2 * sc.stall.End
	for i, c := range cfgs {
		t401 := max(T401ForRate(sc.rate, max(c.Params.N401, 128), max(c.Params.K, 15)), MaxAdaptiveT401)
		period += 2*(DefaultN400+2)*t401 + 2*sc.pause[i]
	}
	const maxFake = 48 * time.Hour
	var progress atomic.Int64
	var recv [2]atomic.Int64 // octets each side has read
	watchdog := make(chan struct{})
	var hung, slow atomic.Bool
	go func() {
		last := int64(-1)
		for {
			select {
			case <-time.After(period):
			case <-watchdog:
				return
			}
			p := progress.Load()
			switch {
			case p == last:
				hung.Store(true)
			case time.Since(start) > maxFake:
				slow.Store(true)
			default:
				last = p
				continue
			}
			a.Close()
			b.Close()
			return
		}
	}()
	defer close(watchdog)

	type res struct {
		l   *Link
		err error
	}
	opened := make(chan res, 2)
	lines := [2]*linesim.Line{a, b}
	links := [2]*Link{}
	for i := range 2 {
		go func() {
			l, err := Open(ctx, lines[i], nil, cfgs[i])
			if err == nil {
				l.SetTransform(&rekeyTransform{every: uint64(sc.rekey)})
				err = l.Establish(ctx)
				if err != nil {
					l.Close()
				}
			}
			links[i] = l
			opened <- res{l, err}
		}()
	}
	r0, r1 := <-opened, <-opened
	if r0.err != nil || r1.err != nil {
		// Set-up may fail on a line cut early or very noisy, but then
		// both ends must know. An answerer whose UAs were all lost is
		// in the data phase: its link must fail on its own (idle poll,
		// N400), not end in an orderly release, and not hang.
		for _, r := range []res{r0, r1} {
			if r.err != nil {
				continue
			}
			_, err := io.Copy(io.Discard, r.l)
			if err == nil || hung.Load() {
				t.Errorf("set-up failed on one end only (%v / %v), and the other's link ended with %v (hang: %v)", r0.err, r1.err, err, hung.Load())
			}
			r.l.Close()
		}
		t.Logf("set-up failed: %v / %v", r0.err, r1.err)
		a.Close()
		b.Close()
		return
	}
	if hung.Load() {
		t.Fatalf("set-up: nothing happened for %v", period)
	}
	la, lb := links[0], links[1]
	t.Logf("negotiated %+v / %+v", la.Negotiated(), lb.Negotiated())

	data := [2][]byte{soakStream(sc.seed, 0, sc.size[0]), soakStream(sc.seed, 1, sc.size[1])}
	sides := [2]*soakSide{{}, {}}
	var wg sync.WaitGroup
	wrote0 := make(chan struct{})
	for i, l := range links {
		s := sides[i]
		r := rand.New(rand.NewPCG(uint64(sc.seed), uint64(200+i)))
		rr := rand.New(rand.NewPCG(uint64(sc.seed), uint64(300+i)))
		wg.Add(3)
		go func() { // writer
			defer wg.Done()
			if i == 0 {
				defer close(wrote0)
			}
			d := data[i]
			brkAt := map[int]bool{}
			for range sc.breaks[i] {
				brkAt[r.IntN(len(d)+1)] = true
			}
			for s.wrote < len(d) || len(brkAt) > 0 {
				if brkAt[s.wrote] || (s.wrote == len(d) && len(brkAt) > 0) {
					delete(brkAt, s.wrote)
					if s.wrote == len(d) {
						clear(brkAt)
					}
					if l.Break() == nil {
						s.breaks++
					}
				}
				if s.wrote == len(d) {
					break
				}
				n := min(r.IntN(sc.maxWrite+1), len(d)-s.wrote)
				w, err := l.Write(d[s.wrote : s.wrote+n])
				s.wrote += w
				if err != nil {
					s.writeErr = err
					return
				}
				if w != n {
					s.writeErr = fmt.Errorf("short write %d of %d with no error", w, n)
					return
				}
				if r.IntN(8) == 0 {
					time.Sleep(time.Duration(r.IntN(200)) * time.Millisecond)
				}
			}
		}()
		go func() { // reader: reads until the link ends
			defer wg.Done()
			defer func() { s.end = time.Since(start) }()
			if sc.useWriteTo && sc.pause[i] == 0 {
				var buf bytes.Buffer
				_, err := l.WriteTo(progressWriter{&buf, []*atomic.Int64{&progress, &recv[i]}})
				s.got = buf.Bytes()
				s.readErr = err
				if err == nil {
					s.readErr = io.EOF
				}
				return
			}
			buf := make([]byte, 8192)
			for {
				n := rr.IntN(len(buf) + 1)
				k, err := l.Read(buf[:n])
				s.got = append(s.got, buf[:k]...)
				progress.Add(int64(k))
				recv[i].Add(int64(k))
				if err != nil {
					s.readErr = err
					return
				}
				if k == 0 && n > 0 {
					s.readErr = errors.New("Read returned 0, nil")
					return
				}
				if sc.pause[i] > 0 && rr.IntN(16) == 0 {
					time.Sleep(time.Duration(rr.Int64N(int64(sc.pause[i]) + 1)))
				}
			}
		}()
		go func() { // breaks
			defer wg.Done()
			for {
				select {
				case <-l.Breaks():
					s.brkRecv++
				case <-l.done:
					return
				}
			}
		}()
	}
	// The originator releases the link once both have written and it has
	// read everything; the answerer's reader then sees io.EOF. A failure
	// ends everything sooner.
	go func() {
		<-wrote0
		for {
			if recv[0].Load() >= int64(sc.size[1]) {
				break
			}
			select {
			case <-la.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		sides[0].closeErr = la.Close()
	}()
	wg.Wait()
	lb.Close()
	la.Close()
	synctest.Wait()

	if hung.Load() {
		t.Errorf("hang: no octet received for %v of fake time, the links still up (at %v)", period, time.Since(start))
	}
	if slow.Load() {
		t.Logf("slow: still going after %v of fake time; ended", maxFake)
		return
	}
	sc.check(t, la, lb, data, sides)
}

func (sc *soakCase) check(t *testing.T, la, lb *Link, data [2][]byte, sides [2]*soakSide) {
	links := [2]*Link{la, lb}
	failed := false
	for i := range 2 {
		j := 1 - i
		s, peer := sides[i], sides[j]
		name := [2]string{"A->B", "B->A"}[i]
		if !bytes.HasPrefix(data[i], peer.got) {
			k := 0
			for k < len(peer.got) && k < len(data[i]) && peer.got[k] == data[i][k] {
				k++
			}
			t.Errorf("%s: received %d octets, not a prefix of the %d sent: first difference at %d (sha %x)",
				name, len(peer.got), len(data[i]), k, sha256.Sum256(peer.got))
		}
		if len(peer.got) > s.wrote {
			t.Errorf("%s: received %d octets, Write took only %d", name, len(peer.got), s.wrote)
		}
		if d := links[i].Delivered(); d > int64(len(peer.got)) {
			t.Errorf("%s: Delivered %d, the peer received %d", name, d, len(peer.got))
		}
		st, pst := links[i].Stats(), links[j].Stats()
		if st.BytesAcked > pst.BytesReceived || st.IFramesAcked > pst.IFramesRecv {
			t.Errorf("%s: acknowledged %d octets / %d frames, the peer received %d / %d",
				name, st.BytesAcked, st.IFramesAcked, pst.BytesReceived, pst.IFramesRecv)
		}
		if peer.brkRecv > s.breaks {
			t.Errorf("%s: %d breaks received, %d sent", name, peer.brkRecv, s.breaks)
		}
		// Close says when it dropped what the peer, busy for N400 x
		// T401, did not take (ErrUnconfirmed); the peer cannot tell.
		told := i == 0 && errors.Is(sides[0].closeErr, ErrUnconfirmed)
		if peer.readErr == io.EOF && len(peer.got) != len(data[i]) && !told {
			t.Errorf("%s: orderly release (io.EOF) after %d of %d octets", name, len(peer.got), len(data[i]))
		}
		closedHere := sides[0].closeErr == nil || errors.Is(sides[0].closeErr, ErrUnconfirmed)
		if peer.readErr != io.EOF && peer.readErr != nil && !(j == 0 && errors.Is(peer.readErr, ErrClosed) && closedHere) {
			failed = true
		}
		t.Logf("%s: wrote %d/%d (%v), received %d (%v), delivered %d, breaks %d->%d, ended %v; stats %+v",
			name, s.wrote, len(data[i]), s.writeErr, len(peer.got), peer.readErr, links[i].Delivered(),
			s.breaks, peer.brkRecv, peer.end, st)
	}
	// A link that failed must have failed on both ends: neither may take
	// the other's failure for an orderly release.
	if failed {
		for i := range 2 {
			if sides[i].readErr == io.EOF {
				t.Errorf("side %d: io.EOF while the other side's link failed (%v)", i, sides[1-i].readErr)
			}
		}
	}
	if !failed && sides[0].closeErr != nil && !errors.Is(sides[0].closeErr, ErrUnconfirmed) {
		t.Errorf("orderly transfer, but the originator's Close: %v", sides[0].closeErr)
	}
	if sc.cut == 0 && failed {
		t.Logf("link failed without a cut: %v / %v", sides[0].readErr, sides[1].readErr)
	}
}

// progressWriter counts what it writes.
type progressWriter struct {
	w io.Writer
	n []*atomic.Int64
}

func (p progressWriter) Write(b []byte) (int, error) {
	for _, n := range p.n {
		n.Add(int64(len(b)))
	}
	return p.w.Write(b)
}
