package tcp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
)

// strayConn puts extra octets into the stream it writes, once, before the
// first write after at octets: what a line that damages octets (a bit
// flipped by a noisy path, a WiFi modem in raw mode passing an 0xFF from
// its serial side) makes of a telnet stream.
type strayConn struct {
	net.Conn
	mu    sync.Mutex
	at    int
	stray []byte
	n     int
}

func (c *strayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.stray != nil && c.n >= c.at {
		if _, err := c.Conn.Write(c.stray); err != nil {
			c.mu.Unlock()
			return 0, err
		}
		c.stray = nil
	}
	c.n += len(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestLAPMOverTelnetStrayIACSB: a V.42 link over a telnet line survives
// an octet damaged into IAC followed by SB. The LAPM bit stream holds no
// IAC of its own (V42.md), so the subnegotiation that IAC SB opens is
// never ended by IAC SE; the decoder swallowed everything after it, the
// answerer heard nothing more and the link failed after N400 polls (a bit
// flip soak: "10 polls unanswered", dial exit 16). The subnegotiation is
// now abandoned at MaxSubneg: those octets are lost, as on a noisy line,
// and LAPM resends the frames.
func TestLAPMOverTelnetStrayIACSB(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stray *strayConn
	srv, cli := wrappedLinePair(t, nil, func(c net.Conn) net.Conn {
		stray = &strayConn{Conn: c, at: 64 << 10, stray: []byte{cmdIAC, cmdSB}}
		return stray
	})

	// What gateway dial offers; a short T401 so that a deaf line fails
	// the link quickly.
	p := lapm.LinkParams{N401: lapm.MaxN401, K: 127, FCS32: true}
	cfg := lapm.Config{Params: p, T401: 100 * time.Millisecond, N400: 5}
	lo, la := openLinks(t, ctx, srv, cli, cfg, nil)
	transferMiB(t, lo, la, 7)
	stray.mu.Lock()
	sent := stray.stray == nil
	stray.mu.Unlock()
	so, sa := lo.Stats(), la.Stats()
	if !sent || so.Retransmitted == 0 {
		t.Fatalf("stray octets sent %v, %d frames retransmitted: the line lost nothing, the test proves nothing", sent, so.Retransmitted)
	}
	t.Logf("originator: %d retransmitted; answerer: %d FCS errors, %d aborts, %d too short, %d REJ sent", so.Retransmitted, sa.FCSErrors, sa.Aborts, sa.TooShort, sa.REJSent)
}

// mangleConn changes the first write that holds old: old becomes new (of
// the same length), once.
type mangleConn struct {
	net.Conn
	mu       sync.Mutex
	old, new []byte
	done     bool
}

func (c *mangleConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.done {
		if i := bytes.Index(p, c.old); i >= 0 {
			q := append([]byte(nil), p...)
			copy(q[i:], c.new)
			p = q
			c.done = true
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestLAPMOverTelnetLostIACSE: the gateway's TTYPE SEND subnegotiation
// loses the IAC of its IAC SE (a bit flip turned it into 0x7F; soak: dial
// exit 14, "no answer to XID after 11 tries"). The caller's decoder then
// takes everything after it for the subnegotiation's parameters, up to
// the bound; with a bound of 512 octets that swallowed every answer to
// the caller's XID command, N400 of them, and the link failed before it
// was set up. The bound is now 64 (the longest parameters we take, a
// TTYPE IS with a 40-character name, fit): a retransmitted command is
// answered.
func TestLAPMOverTelnetLostIACSE(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mangled *mangleConn
	srv, cli := wrappedLinePair(t, func(c net.Conn) net.Conn {
		mangled = &mangleConn{Conn: c, old: []byte{cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE}, new: []byte{cmdIAC, cmdSB, optTTYPE, ttypeSEND, 0x7F, cmdSE}}
		return mangled
	}, nil)

	p := lapm.LinkParams{N401: lapm.MaxN401, K: 127, FCS32: true}
	cfg := lapm.Config{Params: p, T401: 50 * time.Millisecond}
	lo, la := openLinks(t, ctx, srv, cli, cfg, nil)
	mangled.mu.Lock()
	done := mangled.done
	mangled.mu.Unlock()
	if !done {
		t.Fatal("TTYPE SEND was not sent: the test proves nothing")
	}
	if _, err := lo.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(la, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// TestLAPMOverTelnetLostDOBinary: the caller's answer DO BINARY to the
// gateway's WILL BINARY is damaged on the way (a bit flip made it DO 2;
// soak: dial exit 16 after the gateway resent its whole window, V(A) 0,
// some 2,000 times). The caller reads binary from then on, the gateway
// still sends NVT (CR NUL, RFC 854): every LAPM frame whose bit stream
// holds a CR reaches the caller an octet longer, so frame 0 never
// arrives and N400 fails the link. The gateway asks again for BINARY
// once the caller's first LAPM frame is in (ReassertBinary, as
// bridge.LAPMAnswerer does), and the transfer completes.
func TestLAPMOverTelnetLostDOBinary(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mangled *mangleConn
	srv, cli := wrappedLinePair(t, nil, func(c net.Conn) net.Conn {
		mangled = &mangleConn{Conn: c, old: []byte{cmdIAC, cmdDO, optBinary}, new: []byte{cmdIAC, cmdDO, 2}}
		return mangled
	})

	// Detection stands here: the gateway's ADP follows its opening
	// negotiation, and the caller reads both before its first frame.
	if _, err := srv.Write([]byte("EC")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for string(got) != "EC" {
		buf := make([]byte, 2-len(got))
		n, err := cli.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}

	p := lapm.LinkParams{N401: lapm.MaxN401, K: 127, FCS32: true}
	cfg := lapm.Config{Params: p, T401: 100 * time.Millisecond, N400: 5}
	lo, la := openLinks(t, ctx, srv, cli, cfg, func(*lapm.Link) error {
		if asked, err := srv.ReassertBinary(); !asked || err != nil {
			return fmt.Errorf("ReassertBinary: asked %v, %v (the lost answer was not noticed)", asked, err)
		}
		return nil
	})
	// The gateway's output to the caller is what suffered.
	transferMiB(t, la, lo, 9)
	mangled.mu.Lock()
	done := mangled.done
	mangled.mu.Unlock()
	if !done {
		t.Fatal("DO BINARY was not sent: the test proves nothing")
	}
	for _, l := range []*Line{srv, cli} {
		if in, out := l.Binary(); !in || !out {
			t.Errorf("%v: BINARY in %v, out %v after the transfer", l.Info().LocalAddr, in, out)
		}
	}
}

// openLinks opens an answering link on srv and an originating one on cli
// with cfg and establishes them; opened, if set, runs on the answerer
// between Open and Establish (where the gateway's answerer does its
// work).
func openLinks(t *testing.T, ctx context.Context, srv, cli *Line, cfg lapm.Config, opened func(*lapm.Link) error) (lo, la *lapm.Link) {
	t.Helper()
	type result struct {
		l   *lapm.Link
		err error
	}
	ch := make(chan result, 1)
	go func() {
		acfg := cfg
		acfg.Role = lapm.Answerer
		l, err := lapm.Open(ctx, srv, nil, acfg)
		if err == nil && opened != nil {
			if err = opened(l); err != nil {
				l.Close()
				l = nil
			}
		}
		if err == nil {
			err = l.Establish(ctx)
		}
		ch <- result{l, err}
	}()
	ocfg := cfg
	ocfg.Role = lapm.Originator
	lo, err := lapm.Open(ctx, cli, nil, ocfg)
	if err != nil {
		t.Fatalf("originator open: %v", err)
	}
	t.Cleanup(func() { lo.Close() })
	if err := lo.Establish(ctx); err != nil {
		t.Fatalf("originator establish: %v", err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatalf("answerer: %v", a.err)
	}
	t.Cleanup(func() { a.l.Close() })
	return lo, a.l
}

// transferMiB sends 1 MiB of random octets (from seed) from one link to the
// other and checks that they arrive whole.
func transferMiB(t *testing.T, from, to *lapm.Link, seed byte) {
	t.Helper()
	data := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{seed})
	_, _ = r.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := from.Write(data)
		werr <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatalf("read: %v (sender stats %+v, receiver stats %+v)", err, from.Stats(), to.Stats())
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}

// wrappedLinePair returns the two ends of a loopback telnet line whose
// connections wrapSrv and wrapCli (nil: none) may wrap, to damage what
// that end writes.
func wrappedLinePair(t *testing.T, wrapSrv, wrapCli func(net.Conn) net.Conn) (srv, cli *Line) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	if wrapSrv != nil {
		sc = wrapSrv(sc)
	}
	if wrapCli != nil {
		c = wrapCli(c)
	}
	srv, cli = NewLine(sc, true, Options{Telnet: true}), NewLine(c, false, Options{Telnet: true})
	t.Cleanup(func() { closeBoth(srv, cli) })
	return srv, cli
}
