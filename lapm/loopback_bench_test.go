package lapm

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// aeadTransform is a stand-in for Access Security's sealing (ChaCha20-
// Poly1305 with an implicit counter, as auth's transform does) so that the
// link benchmarks below pay the same per-frame sealing cost.
type aeadTransform struct {
	aead       cipher.AEAD
	sent, recd uint64
}

func newAEADTransform() *aeadTransform {
	a, _ := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
	return &aeadTransform{aead: a}
}

func (t *aeadTransform) Overhead() int { return t.aead.Overhead() }

func (t *aeadTransform) Seal(dst, plain []byte) []byte {
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], t.sent)
	t.sent++
	return t.aead.Seal(dst, nonce[:], plain, nil)
}

func (t *aeadTransform) Open(dst, sealed []byte) ([]byte, error) {
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], t.recd)
	t.recd++
	return t.aead.Open(dst, nonce[:], sealed, nil)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(b *testing.B) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := <-ch
	if c == nil {
		b.Fatal("accept failed")
	}
	return a, c
}

// BenchmarkLinkLoopbackTCP moves data one way over a sealed link on a
// real loopback TCP connection (the gateway's situation), once with what
// the answerer negotiates when it offers lapm's defaults (N401 128, k 15,
// FCS-16, REJ) and once with the largest parameters (N401 4096, k 63,
// FCS-32, SREJ). On loopback the first is bound by the window: 15 frames
// of 112 plain octets per round trip through four goroutines per end.
func BenchmarkLinkLoopbackTCP(b *testing.B) {
	for _, c := range []struct {
		name string
		p    LinkParams
	}{
		{"defaults", LinkParams{}},
		{"4096x63", LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			ca, cb := tcpPair(b)
			la, lb := openPair(b, ctx, ca, cb, Config{Params: c.p}, Config{Params: c.p})
			la.SetTransform(newAEADTransform())
			lb.SetTransform(newAEADTransform())
			establishPair(b, ctx, la, lb)
			buf := make([]byte, 64<<10)
			total := int64(b.N) * int64(len(buf))
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, lb, total)
				done <- err
			}()
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := la.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			la.Close()
			lb.Close()
			ca.Close()
			cb.Close()
		})
	}
}
