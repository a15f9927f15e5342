package pace

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// tcpLine is the least a loopback TCP connection needs to be a Line here;
// the test does not depend on transport/tcp.
type tcpLine struct{ net.Conn }

func (l tcpLine) Info() transport.LineInfo {
	return transport.LineInfo{Transport: "tcp", LocalAddr: l.LocalAddr().String(), RemoteAddr: l.RemoteAddr().String()}
}

// TestPaceReport measures, over 10 s of loopback TCP, how close a paced
// line comes to its configured rate, and logs the achieved/configured
// ratio. It asserts nothing about timing: it is a measurement, enabled with
// DIALGATE_PACE_REPORT=1 (go test -run PaceReport -v ./transport/pace/).
func TestPaceReport(t *testing.T) {
	if os.Getenv("DIALGATE_PACE_REPORT") != "1" {
		t.Skip("set DIALGATE_PACE_REPORT=1 to measure pacing over 10 s of loopback TCP")
	}
	testutil.CheckGoroutines(t)
	for _, bps := range []int{2400, 33600} {
		for _, write := range []int{1, 1024} {
			t.Run(fmt.Sprintf("%dbps/write%d", bps, write), func(t *testing.T) {
				t.Parallel()
				measurePace(t, bps, write, 10*time.Second)
			})
		}
	}
}

func measurePace(t *testing.T, bps, write int, span time.Duration) {
	const bpc = 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := <-accepted
	if rc == nil {
		c.Close()
		return
	}
	defer rc.Close()

	start := time.Now()
	perSecond := make([]int, int(span/time.Second)+2)
	received := make(chan int)
	go func() {
		buf := make([]byte, 64<<10)
		inSpan := 0
		for {
			n, err := rc.Read(buf)
			el := time.Since(start)
			if s := int(el / time.Second); s < len(perSecond) {
				perSecond[s] += n
			}
			if el < span {
				inSpan += n
			}
			if err != nil {
				break
			}
		}
		received <- inSpan
	}()

	p := Wrap(tcpLine{c}, bps, bpc)
	buf := make([]byte, write)
	written := 0
	for time.Since(start) < span {
		n, err := p.Write(buf)
		written += n
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	p.Close()
	got := <-received

	rate := func(octets int, d time.Duration) float64 {
		return float64(octets*bpc) / d.Seconds() / float64(bps)
	}
	lo, hi := 10.0, 0.0
	for s := 1; s < int(span/time.Second); s++ { // second 0 holds the first burst
		r := rate(perSecond[s], time.Second)
		lo, hi = min(lo, r), max(hi, r)
	}
	t.Logf("%d bit/s, %d bits/char, writes of %d octets, burst %d: sender %d octets in %v, ratio %.5f; receiver %d octets in the first %v, ratio %.5f; per-second ratio %.4f..%.4f",
		bps, bpc, write, DefaultBurst(bps, bpc), written, elapsed.Round(time.Millisecond), rate(written, elapsed), got, span, rate(got, span), lo, hi)
}
