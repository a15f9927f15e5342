package lapm

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// genStream is the xorshift32 stream of testdata/spandsp/peer.c.
func genStream(seed uint32, n int) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// buildSpandspPeer compiles testdata/spandsp/peer.c against libspandsp.
func buildSpandspPeer(t *testing.T) string {
	t.Helper()
	gcc := testutil.NeedBinary(t, "gcc")
	if _, err := os.Stat("/usr/include/spandsp/v42.h"); err != nil {
		testutil.Missing(t, "libspandsp-dev not installed (apt-get install libspandsp-dev)")
	}
	bin := filepath.Join(t.TempDir(), "peer")
	out, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, "testdata/spandsp/peer.c", "-lspandsp").CombinedOutput()
	if err != nil {
		testutil.Missing(t, fmt.Sprintf("cannot build the spandsp peer: %v\n%s", err, out))
	}
	return bin
}

// TestInteropSpandsp runs our Link against spandsp's V.42 (a LAPM
// implementation none of us wrote) over TCP carrying the packed bit stream,
// in both roles, 20 KiB each way at the same time, byte-exact.
// Set DIALGATE_INTEROP=1 to run it (CI does). DIALGATE_INTEROP_T402 (a
// duration; negative: acknowledge at once) overrides the default delayed
// acknowledgements (DefaultT402), DIALGATE_INTEROP_SEED
// moves the noise of the noisy variants, DIALGATE_INTEROP_TRACE=1 or 2
// logs the frames (see interopRun).
func TestInteropSpandsp(t *testing.T) {
	if os.Getenv("DIALGATE_INTEROP") != "1" {
		t.Skip("set DIALGATE_INTEROP=1 to run the spandsp interoperability test")
	}
	bin := buildSpandspPeer(t)
	for _, noisy := range []bool{false, true} {
		for _, ours := range []Role{Originator, Answerer} {
			name := "we-are-" + ours.String()
			if noisy {
				name += "-noisy"
			}
			t.Run(name, func(t *testing.T) {
				testutil.CheckGoroutines(t)
				n := 20 << 10
				if noisy {
					n = 8 << 10 // recovery is what is tested here
				}
				interopRun(t, bin, ours, n, noisy)
			})
		}
	}
}

// noisyConn flips one random bit in about one octet in 800, both ways,
// so that frames are lost to FCS errors in both directions and both
// stacks' recovery (REJ, T401 polling) has to work with the other's.
type noisyConn struct {
	net.Conn
	rmu, wmu sync.Mutex
	rr, wr   *rand.Rand
}

func (c *noisyConn) flip(r *rand.Rand, b []byte) {
	for i := range b {
		if r.IntN(800) == 0 {
			b[i] ^= 1 << r.IntN(8)
		}
	}
}

func (c *noisyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rmu.Lock()
	c.flip(c.rr, p[:n])
	c.rmu.Unlock()
	return n, err
}

func (c *noisyConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	b := append([]byte(nil), p...)
	c.flip(c.wr, b)
	c.wmu.Unlock()
	return c.Conn.Write(b)
}

func interopRun(t *testing.T, bin string, ours Role, n int, noisy bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	peerRole := "caller"
	if ours == Originator {
		peerRole = "answerer"
	}
	var stdout, stderr lockedBuffer
	cmd := exec.CommandContext(ctx, bin, peerRole, host, port, strconv.Itoa(n))
	if v := os.Getenv("DIALGATE_INTEROP_PEER"); v != "" {
		cmd.Env = append(os.Environ(), "PEER_PARAMS="+v)
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// DIALGATE_INTEROP_TRACE=1 logs the non-I frames, =2 all frames, on
	// both sides of the noise: "peer" is what spandsp sent and received,
	// "ours" what we sent and received.
	trace := os.Getenv("DIALGATE_INTEROP_TRACE")
	traceStart := time.Now()
	if trace != "" {
		conn = &traceConn{Conn: conn, t: t, start: traceStart, side: "peer", all: trace == "2"}
	}
	if noisy {
		// DIALGATE_INTEROP_SEED varies where the noise hits (default 0).
		seed, err := strconv.ParseUint(cmp.Or(os.Getenv("DIALGATE_INTEROP_SEED"), "0"), 10, 64)
		if err != nil {
			t.Fatalf("DIALGATE_INTEROP_SEED: %v", err)
		}
		conn = &noisyConn{Conn: conn, rr: rand.New(rand.NewPCG(1+2*seed, uint64(ours))), wr: rand.New(rand.NewPCG(2+2*seed, uint64(ours)))}
		if trace != "" {
			conn = &traceConn{Conn: conn, t: t, start: traceStart, side: "ours", all: trace == "2"}
		}
	}
	cfg := Config{Role: ours, LineRate: 28800, Logger: tlog{t}, Params: interopParams(t)}
	if v := os.Getenv("DIALGATE_INTEROP_T402"); v != "" {
		// e.g. "100ms", or "-1ns" for immediate acknowledgements.
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DIALGATE_INTEROP_T402: %v", err)
		}
		cfg.T402 = d
	}
	l, err := Open(ctx, conn, nil, cfg)
	if err != nil {
		t.Fatalf("open: %v\npeer: %s", err, stderr.String())
	}
	if err := l.Establish(ctx); err != nil {
		l.Close()
		t.Fatalf("establish: %v\npeer: %s", err, stderr.String())
	}
	neg := l.Negotiated()
	t.Logf("negotiated with spandsp: %+v", neg)
	peerN401, peerK := 128, 15
	if v := os.Getenv("DIALGATE_INTEROP_PEER"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &peerN401, &peerK); err != nil {
			t.Fatalf("DIALGATE_INTEROP_PEER=%q: %v", v, err)
		}
	}
	if neg.N401Tx > peerN401 || neg.KTx > peerK || neg.SREJ || neg.FCS != FCS16 {
		t.Errorf("negotiated %+v; spandsp uses N401 %d, k %d, FCS-16, no SREJ", neg, peerN401, peerK)
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		_, err := l.Write(genStream(0x5EED0002, n))
		werr <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(l, got); err != nil {
		l.Close()
		t.Fatalf("read: %v\npeer: %s", err, stderr.String())
	}
	if err := <-werr; err != nil {
		l.Close()
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, genStream(0x5EED0001, n)) {
		t.Error("octets from spandsp differ from its stream")
	}
	if err := l.Close(); err != nil { // waits until spandsp acknowledged everything
		t.Errorf("close: %v", err)
	}
	err = cmd.Wait()
	waited = true
	st := l.Stats()
	t.Logf("%d octets each way in %v; stats %+v", n, time.Since(start), st)
	// With k 1 (DIALGATE_INTEROP_PARAMS) no frame arrives out of
	// sequence, so no REJ is sent.
	if noisy && (st.FCSErrors == 0 || st.Retransmitted == 0 || (st.REJSent == 0 && neg.KRx > 1)) {
		t.Errorf("noisy line did not exercise recovery both ways: %+v", st)
	}
	if err != nil || !strings.Contains(stdout.String(), fmt.Sprintf("RX %d OK", n)) {
		t.Fatalf("spandsp peer: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
}

// interopParams is what we offer spandsp: the V.42 defaults, or
// DIALGATE_INTEROP_PARAMS="N401,k,fcs32,srej" (e.g. "4096,127,1,1") to
// try the edges. spandsp 0.0.6 answers with its own configuration (N401
// 128, k 15, neither option; DIALGATE_INTEROP_PEER="N401,k" changes it,
// at most 128 and 15) and uses that configuration in the data phase
// whatever the negotiation said (reset_lapm), so the test checks that
// what we agreed matches it.
func interopParams(t *testing.T) LinkParams {
	v := os.Getenv("DIALGATE_INTEROP_PARAMS")
	if v == "" {
		return LinkParams{}
	}
	var p LinkParams
	var fcs32, srej int
	if _, err := fmt.Sscanf(v, "%d,%d,%d,%d", &p.N401, &p.K, &fcs32, &srej); err != nil {
		t.Fatalf("DIALGATE_INTEROP_PARAMS=%q: %v", v, err)
	}
	p.FCS32, p.SREJ = fcs32 != 0, srej != 0
	return p
}

// traceConn logs the frames crossing the line with a timestamp
// (DIALGATE_INTEROP_TRACE), for debugging interoperability: the non-I
// frames, or all of them with all set. side names the station whose view
// it is ("peer": on spandsp's side of the noise, "ours": on ours); a
// frame the noise destroyed is logged as lost before the next good one.
type traceConn struct {
	net.Conn
	t      *testing.T
	side   string
	all    bool
	mu     sync.Mutex
	dr, dw Decoder
	start  time.Time
}

func (c *traceConn) log(dir string, d *Decoder, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lost := func() uint64 {
		st := d.Stats()
		return st.FCSErrors + st.Aborts + st.TooLong + st.TooShort + st.Misaligned
	}
	n := lost()
	d.Feed(p, func(fr []byte) {
		if l := lost(); l != n {
			c.t.Logf("%8.4f %s %s %d lost (FCS, abort or length)", time.Since(c.start).Seconds(), c.side, dir, l-n)
			n = l
		}
		f, err := ParseFrame(fr)
		if err != nil {
			c.t.Logf("%8.4f %s %s bad %v", time.Since(c.start).Seconds(), c.side, dir, err)
			return
		}
		if f.Kind == KindI && !c.all {
			return
		}
		c.t.Logf("%8.4f %s %s %02x %v", time.Since(c.start).Seconds(), c.side, dir, f.Addr, f)
	})
}

// Read logs what came from spandsp ("<-"), Write what goes to it ("->").
func (c *traceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.log("<-", &c.dr, p[:n])
	return n, err
}
func (c *traceConn) Write(p []byte) (int, error) {
	if c.side == "peer" {
		// Below the noise a write is what spandsp receives: log it as
		// the line delivers it.
		defer c.log("->", &c.dw, p)
		return c.Conn.Write(p)
	}
	c.log("->", &c.dw, p)
	return c.Conn.Write(p)
}

// lockedBuffer collects a child's output; the test may read it (to report
// a failure) while exec's copying goroutine still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
