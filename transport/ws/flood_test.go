package ws

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/internal/testutil"
)

// refusalsLogged adds up the counts of the "closed at once" lines.
func refusalsLogged(lines []string) (sum, n int) {
	for _, l := range lines {
		var k int
		if _, err := fmt.Sscanf(l, "ws: %d connection(s) closed at once", &k); err == nil {
			sum += k
			n++
		}
	}
	return sum, n
}

// TestListenConnLimitsLogCountsEveryRefusal: the log counts every
// connection closed over the bounds, the end of a burst included.
// Regression: the running count was logged only when a later refusal
// came at least a second after the last line, so after 1,872 refused
// connections the only warning said "1 connection(s) closed".
func TestListenConnLimitsLogCountsEveryRefusal(t *testing.T) {
	testutil.CheckGoroutines(t)
	logs := newLogSink(t)
	ln, err := Listen("ws://127.0.0.1:0/line", Options{Logger: logs, MaxConnsPerSource: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(ln.Addr(), "ws://"), "/line")
	held := dialFrom(t, "127.0.0.1", addr)
	if !answered(t, held) {
		t.Fatal("a connection within the bounds was refused")
	}
	// Each one over the bound closes the one before it to make room, or
	// is closed itself if that one's request is still in progress (its
	// answer may come before it is idle again); every close is counted.
	const over = 20
	for range over {
		answered(t, dialFrom(t, "127.0.0.1", addr))
	}
	ln.Close()
	if sum, n := refusalsLogged(logs.snapshot()); sum != over {
		t.Errorf("the log counts %d connections closed in %d line(s), want %d", sum, n, over)
	}
}

// pipeListener is a net.Listener that hands out the connections sent on
// conns, each from the address from.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	from  net.Addr
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return fromConn{c, l.from}, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.done); return nil }
func (l *pipeListener) Addr() net.Addr { return l.from }

// fromConn is a connection with another remote address.
type fromConn struct {
	net.Conn
	from net.Addr
}

func (c fromConn) RemoteAddr() net.Addr { return c.from }

// TestConnLimiterLogsEndOfBurst: the count of a burst of refusals is
// logged a second after it ends, without another refusal or Close, in at
// most one line a second.
func TestConnLimiterLogsEndOfBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := newLogSink(t)
		pl := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{}),
			from: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:4000"))}
		l := newConnLimiter(pl, 100, 1, func(netip.Addr) bool { return false }, logs.Printf)
		accepted := make(chan net.Conn, 1)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		var keep []net.Conn
		const conns = 51 // one admitted, 50 refused over 2.5 s
		for range conns {
			a, b := net.Pipe()
			keep = append(keep, a)
			pl.conns <- b
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * burstlog.Window)
		synctest.Wait()
		sum, n := refusalsLogged(logs.snapshot())
		if sum != conns-1 {
			t.Errorf("a second after the burst the log counts %d refused connections in %d line(s), want %d", sum, n, conns-1)
		}
		if n > 4 {
			t.Errorf("%d log lines for a burst of 2.5 s, want at most one a second", n)
		}
		l.Close()
		for range accepted {
		}
		if sum2, _ := refusalsLogged(logs.snapshot()); sum2 != sum {
			t.Errorf("Close logged %d more", sum2-sum)
		}
		for _, c := range keep {
			c.Close()
		}
	})
}
