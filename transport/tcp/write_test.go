package tcp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// writeInputs are telnet Writes that put an octet needing an escape at
// positions of a write long enough to be gathered (writev) with one
// escape: at every position when every is true, else at the first and
// last 64 and every 37th in between. Then a write without any, a long
// write with escapes around the writeChunk boundaries, and a dense one
// (the copy path). special is IAC, or a bare CR for NVT mode.
func writeInputs(special byte, every bool) [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	base := make([]byte, 2*minGatherRun+1)
	for i := range base {
		base[i] = byte(' ' + rng.IntN(95))
	}
	ins := [][]byte{base}
	for k := 0; k < len(base); k++ {
		if !every && k >= 64 && k < len(base)-64 && k%37 != 0 {
			continue
		}
		in := slices.Clone(base)
		in[k] = special
		ins = append(ins, in)
	}
	long := make([]byte, 3*writeChunk+100)
	for i := range long {
		long[i] = byte(' ' + rng.IntN(95))
	}
	for _, k := range []int{0, writeChunk - 1, writeChunk, 2*writeChunk - 1, 2 * writeChunk, len(long) - 1} {
		long[k] = special
	}
	dense := bytes.Repeat([]byte{special, 'x', cmdIAC}, 5000)
	return append(ins, long, dense)
}

// telnetToRaw returns a server-side telnet line whose peer is a plain TCP
// connection that never negotiates, so the line sends in NVT mode and the
// test sees the encoded octets. Buffer sizes > 0 shrink the kernel's
// buffers (the line's send buffer, the peer's receive buffer).
func telnetToRaw(t *testing.T, sndbuf, rcvbuf int) (*Line, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if sndbuf > 0 {
		if err := s.(*net.TCPConn).SetWriteBuffer(sndbuf); err != nil {
			t.Fatal(err)
		}
	}
	if rcvbuf > 0 {
		if err := c.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
			t.Fatal(err)
		}
	}
	return NewLine(s, true, Options{Telnet: true, Linger: 20 * time.Second}), c.(*net.TCPConn)
}

// readAllDecoded reads c to EOF in a goroutine, then closes it, and returns
// the data octets an NVT-mode decoder finds in what arrived.
func readAllDecoded(c net.Conn) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		raw, _ := io.ReadAll(c)
		c.Close()
		d := decoder{}
		ch <- d.Decode(nil, raw, &recorder{})
	}()
	return ch
}

// TestTelnetWriteEscapesEverywhere sends writes with and without escapes
// at every position over real loopback lines, in BINARY mode (line to
// line) and in NVT mode (line to a raw peer, IAC and bare CR); the peer
// must read exactly what was written.
func TestTelnetWriteEscapesEverywhere(t *testing.T) {
	testutil.CheckGoroutines(t)
	t.Run("binary", func(t *testing.T) {
		srv, cli := linePair(t, Options{Telnet: true}, Options{Telnet: true})
		rd := startReader(cli)
		srd := startReader(srv) // takes the client's negotiation replies
		waitFor(t, "BINARY both ways", func() bool {
			a, b := srv.Binary()
			c, d := cli.Binary()
			return a && b && c && d
		})
		var want []byte
		for _, in := range writeInputs(cmdIAC, true) {
			if n, err := srv.Write(in); n != len(in) || err != nil {
				t.Fatalf("Write: %d of %d, %v", n, len(in), err)
			}
			want = append(want, in...)
		}
		if err := srv.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := rd.result()
		if err != io.EOF || !bytes.Equal(got, want) {
			t.Fatalf("peer read %d octets (%v), want %d; equal %v", len(got), err, len(want), bytes.Equal(got, want))
		}
		if err := cli.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		srd.result()
	})
	for name, special := range map[string]byte{"nvt-iac": cmdIAC, "nvt-cr": cr} {
		t.Run(name, func(t *testing.T) {
			srv, peer := telnetToRaw(t, 0, 0)
			got := readAllDecoded(peer)
			var want []byte
			for _, in := range writeInputs(special, false) {
				if n, err := srv.Write(in); n != len(in) || err != nil {
					t.Fatalf("Write: %d of %d, %v", n, len(in), err)
				}
				want = append(want, in...)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			if g := <-got; !bytes.Equal(g, want) {
				t.Fatalf("special %#x: peer read %d octets, want %d", special, len(g), len(want))
			}
		})
	}
}

// TestTelnetWriteDeadlineCount lets a write deadline expire in the middle
// of a long Write to a peer that does not read: the count Write returns
// must be exact, so that the peer reads precisely p[:n] when the line is
// then closed, and precisely p when the rest is written after clearing the
// deadline.
func TestTelnetWriteDeadlineCount(t *testing.T) {
	testutil.CheckGoroutines(t)
	rng := rand.New(rand.NewPCG(5, 6))
	p := make([]byte, 4<<20)
	for i := range p {
		switch rng.IntN(150) {
		case 0:
			p[i] = cmdIAC
		case 1:
			p[i] = cr
		default:
			p[i] = byte(' ' + rng.IntN(95))
		}
	}
	for _, resume := range []bool{false, true} {
		srv, peer := telnetToRaw(t, 8<<10, 0)
		// The peer reads nothing yet: the kernel's buffers (a small send
		// buffer, a receive buffer that does not grow while nobody reads)
		// hold far less than p, so the deadline expires inside Write
		// whatever the timing.
		if err := srv.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := srv.Write(p)
		if !errors.Is(err, os.ErrDeadlineExceeded) || n >= len(p) {
			t.Fatalf("Write past the deadline: %d of %d, %v", n, len(p), err)
		}
		got := readAllDecoded(peer)
		want := p[:n]
		if resume {
			if err := srv.SetWriteDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}
			if m, err := srv.Write(p[n:]); m != len(p)-n || err != nil {
				t.Fatalf("Write of the rest: %d of %d, %v", m, len(p)-n, err)
			}
			want = p
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if g := <-got; !bytes.Equal(g, want) {
			i := 0
			for i < len(g) && i < len(want) && g[i] == want[i] {
				i++
			}
			t.Fatalf("resume=%v: peer read %d octets, want %d (first difference at %d)", resume, len(g), len(want), i)
		}
	}
}

// budgetConn is a connection whose writes fail with a deadline error once
// budget octets went through, like a socket whose write deadline expires;
// a negative budget accepts everything.
type budgetConn struct {
	net.Conn // nil; only the methods below are used
	mu       sync.Mutex
	out      []byte
	budget   int
}

func (c *budgetConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if c.budget >= 0 {
		n = min(n, c.budget)
		c.budget -= n
	}
	c.out = append(c.out, p[:n]...)
	if n < len(p) {
		return n, os.ErrDeadlineExceeded
	}
	return n, nil
}

func (c *budgetConn) setBudget(b int) {
	c.mu.Lock()
	c.budget = b
	c.mu.Unlock()
}

func (c *budgetConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *budgetConn) Close() error                     { return nil }
func (c *budgetConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *budgetConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *budgetConn) SetReadDeadline(time.Time) error  { return nil }
func (c *budgetConn) SetWriteDeadline(time.Time) error { return nil }

// TestTelnetWriteCutAnywhere cuts a Write after every octet of what it
// sends near the start, the end and each escape (queued control output,
// then the data with its escapes), on the gathering and on the copying
// path: the count must let the caller resume with p[n:] so that the peer
// decodes exactly the control output once and p, without a stray or
// doubled octet.
func TestTelnetWriteCutAnywhere(t *testing.T) {
	testutil.CheckGoroutines(t)
	// Escapes sparse enough to be gathered, at both ends and as neighbours.
	sparse := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 8*minGatherRun/36)
	for _, k := range []int{0, 100, 101, 3000, 3001, len(sparse) - 1} {
		sparse[k] = []byte{cmdIAC, cr}[k%2]
	}
	dense := []byte("a\xff\rb\r\n\xff\xff\r\x00c\r")
	for _, tc := range []struct {
		name     string
		p        []byte
		vectored bool
	}{{"gather", sparse, true}, {"copy", dense, false}, {"copy-sparse", sparse, false}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, gathered := appendEncodedPieces(nil, tc.p, false, len(tc.p)/minGatherRun); tc.vectored && !gathered {
				t.Fatal("the input is too dense to be gathered")
			}
			const ctrl = 3 // IAC DO ECHO
			enc := appendEncoded(nil, tc.p, false)
			total := ctrl + len(enc)
			for budget := 0; budget <= total; budget++ {
				if d := budget - ctrl; d > 8 && d < len(enc)-8 && !slices.ContainsFunc(enc[d-4:d+4], func(b byte) bool {
					return b == cmdIAC || b == cr || b == nul
				}) {
					continue // far from an escape and from both ends
				}
				c := &budgetConn{budget: budget}
				l := NewLine(c, false, Options{Telnet: true})
				l.vectored = tc.vectored
				l.tmu.Lock()
				l.tn.askHim(optEcho, true) // queues IAC DO ECHO
				l.tmu.Unlock()
				n, err := l.Write(tc.p)
				if (budget < total) != (err != nil) || n > len(tc.p) {
					t.Fatalf("budget %d of %d: Write %d, %v", budget, total, n, err)
				}
				c.setBudget(-1)
				if m, err := l.Write(tc.p[n:]); m != len(tc.p)-n || err != nil {
					t.Fatalf("budget %d: Write of the rest: %d, %v", budget, m, err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				var r recorder
				d := decoder{}
				got := d.Decode(nil, c.out, &r)
				if !bytes.Equal(got, tc.p) || !slices.Equal(r.items, []string{"DO 1"}) || d.Pending() {
					t.Fatalf("budget %d (Write sent %d): peer decodes %q, commands %q, want %q", budget, n, got, r.items, tc.p)
				}
			}
		})
	}
}
