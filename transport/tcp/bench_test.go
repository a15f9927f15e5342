//go:build unix

package tcp

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchInputs are 64 KiB of typical BBS text (CR LF lines, no IAC) and of
// random octets (an IAC every 256 octets on average, and bare CRs).
func benchInputs() map[string][]byte {
	text := []byte(strings.Repeat("Welcome to the board. Press RETURN to continue.\r\n", 1400)[:64<<10])
	random := make([]byte, 64<<10)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(random)
	return map[string][]byte{"text": text, "random": random}
}

func BenchmarkEncode(b *testing.B) {
	for name, src := range benchInputs() {
		for _, binary := range []bool{true, false} {
			mode := "nvt"
			if binary {
				mode = "binary"
			}
			b.Run(mode+"/"+name, func(b *testing.B) {
				dst := make([]byte, 0, 2*len(src))
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					dst = appendEncoded(dst[:0], src, binary)
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for name, raw := range benchInputs() {
		for _, binary := range []bool{true, false} {
			mode := "nvt"
			if binary {
				mode = "binary"
			}
			src := appendEncoded(nil, raw, binary)
			b.Run(mode+"/"+name, func(b *testing.B) {
				t := newTelnet(true, Options{})
				t.dec.BinaryIn = binary
				dst := make([]byte, 0, len(src))
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					dst = t.decode(dst[:0], src)
				}
				if len(dst) != len(raw) {
					b.Fatalf("decoded %d octets, want %d", len(dst), len(raw))
				}
			})
		}
	}
}

// BenchmarkDecodeInPlace decodes a 32 KiB chunk without IAC in place, in
// BINARY mode, as Line.Read does with an LAPM bit stream.
func BenchmarkDecodeInPlace(b *testing.B) {
	buf := make([]byte, writeChunk)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(buf)
	for i, c := range buf {
		if c == cmdIAC {
			buf[i] = 0x7E
		}
	}
	t := newTelnet(true, Options{})
	t.dec.BinaryIn = true
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if n := len(t.decode(buf[:0], buf)); n != len(buf) {
			b.Fatalf("decoded %d octets, want %d", n, len(buf))
		}
	}
}

// benchPair returns the two ends of a loopback connection: as Lines when
// lineMode is "tcp" or "telnet", as plain net.Conns for "direct".
func benchPair(b *testing.B, mode string) (srv, cli io.ReadWriteCloser) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	if mode == "direct" {
		return s, c
	}
	o := Options{Telnet: mode == "telnet"}
	sl, cl := NewLine(s, true, o), NewLine(c, false, o)
	return sl, cl
}

// BenchmarkRelay measures bulk throughput through a relay: caller line ->
// gateway line, bridged with io.Copy both ways to a backend line -> backend.
// "direct" is one plain TCP connection for comparison in the same run. The
// data is random (an IAC every 256 octets on average) except in
// "telnet-noiac", which has none, like an LAPM bit stream. cpu-ns/B is the
// process's CPU time (all ends, user and kernel) per octet: unlike MB/s it
// barely moves when other programs share the machine.
func BenchmarkRelay(b *testing.B) {
	const chunk = 256 << 10
	for _, name := range []string{"direct", "tcp", "telnet", "telnet-noiac"} {
		mode, _, _ := strings.Cut(name, "-")
		b.Run(name, func(b *testing.B) {
			gwIn, caller := benchPair(b, mode) // the caller dials the gateway
			sink := gwIn
			var wg sync.WaitGroup
			if mode != "direct" {
				backend, gwOut := benchPair(b, mode) // the gateway dials the backend
				sink = backend
				wg.Add(2)
				go func() { defer wg.Done(); _, _ = io.Copy(gwOut, gwIn); closeW(gwOut) }()
				go func() { defer wg.Done(); _, _ = io.Copy(gwIn, gwOut); closeW(gwIn) }()
				defer func() { gwIn.Close(); gwOut.Close() }()
			}
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, caller) }()
			got := make(chan int64)
			go func() {
				n, _ := io.Copy(io.Discard, sink)
				got <- n
			}()
			for _, rw := range []io.ReadWriteCloser{caller, sink} {
				// Let BINARY settle so the relay carries octets unchanged.
				for l, ok := rw.(*Line); ok && l.tn != nil; {
					if in, out := l.Binary(); in && out {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			buf := make([]byte, chunk)
			_, _ = rand.NewChaCha8([32]byte{1}).Read(buf)
			if name == "telnet-noiac" {
				for i, c := range buf {
					if c == cmdIAC {
						buf[i] = 0x7E
					}
				}
			}
			b.SetBytes(chunk)
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := caller.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			closeW(caller)
			<-got
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/chunk, "cpu-ns/B")
			b.StopTimer()
			closeW(sink)
			var cw sync.WaitGroup
			cw.Add(2)
			go func() { defer cw.Done(); caller.Close() }()
			go func() { defer cw.Done(); sink.Close() }()
			cw.Wait()
			wg.Wait()
		})
	}
}

// processCPU returns the CPU time (user and system) the process has used.
// It is getrusage(2), which is why this file builds on Unix only.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func closeW(c io.ReadWriteCloser) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// BenchmarkRelayEcho measures one keystroke's round trip: the caller sends
// one octet through the relay, the backend echoes it, the caller reads it.
// ns/op is the round-trip time; compare "direct" for the added latency.
func BenchmarkRelayEcho(b *testing.B) {
	for _, mode := range []string{"direct", "tcp", "telnet"} {
		b.Run(mode, func(b *testing.B) {
			gwIn, caller := benchPair(b, mode)
			backend := gwIn
			var wg sync.WaitGroup
			if mode != "direct" {
				var gwOut io.ReadWriteCloser
				backend, gwOut = benchPair(b, mode)
				wg.Add(2)
				go func() { defer wg.Done(); _, _ = io.Copy(gwOut, gwIn); closeW(gwOut) }()
				go func() { defer wg.Done(); _, _ = io.Copy(gwIn, gwOut); closeW(gwIn) }()
				defer func() { gwIn.Close(); gwOut.Close() }()
			}
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(backend, backend); closeW(backend) }()
			key := []byte{'k'}
			got := make([]byte, 1)
			for b.Loop() {
				if _, err := caller.Write(key); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(caller, got); err != nil {
					b.Fatal(err)
				}
			}
			closeW(caller)
			_, _ = io.Copy(io.Discard, caller)
			var cw sync.WaitGroup
			cw.Add(2)
			go func() { defer cw.Done(); caller.Close() }()
			go func() { defer cw.Done(); backend.Close() }()
			cw.Wait()
			wg.Wait()
		})
	}
}

// BenchmarkConnect is a call's first round trip on loopback: dial, accept,
// the caller's first octet echoed by the answerer. "direct" uses plain
// net.Conns; "raw" and "telnet" this package's lines on both ends (telnet:
// the server's opening negotiation crosses the line meanwhile).
func BenchmarkConnect(b *testing.B) {
	for _, mode := range []string{"direct", "raw", "telnet"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := Listen("127.0.0.1:0", Options{Telnet: mode == "telnet"})
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			addr := ln.ln.Addr().String()
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 64)
				for {
					var c io.ReadWriteCloser
					if mode == "direct" {
						nc, err := ln.ln.Accept()
						if err != nil {
							return
						}
						c = nc
					} else {
						l, err := ln.AcceptLine(context.Background())
						if err != nil {
							return
						}
						c = l
					}
					n, err := c.Read(buf)
					if err == nil {
						_, _ = c.Write(buf[:n])
					}
					c.Close()
				}
			}()
			buf := make([]byte, 64)
			b.ResetTimer()
			for range b.N {
				var c io.ReadWriteCloser
				if mode == "direct" {
					nc, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					c = nc
				} else {
					l, err := Dial(context.Background(), addr, Options{Telnet: mode == "telnet"})
					if err != nil {
						b.Fatal(err)
					}
					c = l
				}
				if _, err := c.Write([]byte{'x'}); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf[:1]); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
			b.StopTimer()
			ln.Close()
			<-done
		})
	}
}
