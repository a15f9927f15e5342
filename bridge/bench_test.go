package bridge

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/config"
)

// benchChunk is what the backend sends per request in the throughput
// benchmarks.
const benchChunk = 4 << 20

// sourceServer sends benchChunk octets for every octet it receives.
func sourceServer(b *testing.B) string {
	return tcpBackendServer(b, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		one := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, one); err != nil {
				return
			}
			for sent := 0; sent < benchChunk; sent += len(buf) {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}
	})
}

func pull(b *testing.B, c net.Conn, r io.Reader) {
	for i := 0; i < b.N; i++ {
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, r, benchChunk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectTCP is the reference: the client reads the backend
// directly over loopback TCP.
func BenchmarkDirectTCP(b *testing.B) {
	c, err := net.Dial("tcp", sourceServer(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(benchChunk)
	b.ResetTimer()
	pull(b, c, c)
}

// BenchmarkTextPathTCP measures the text path: a loopback TCP line into
// the gateway, text login, a raw TCP backend (DESIGN.md target: at least
// 60 % of BenchmarkDirectTCP).
func BenchmarkTextPathTCP(b *testing.B) {
	benchGateway(b)
}

func benchGateway(b *testing.B) {
	c := testConfig(b, config.Backend{Name: "src", Type: config.BackendTCP, Address: config.HostPort(sourceServer(b))})
	g := startLoopback(b, c, &fakeVerifier{users: map[string]string{"u": "p"}})
	conn := dialGateway(b, g)
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	rw := struct {
		io.Reader
		io.Writer
	}{br, conn}
	login(b, rw, "u", "p")
	if s, _ := br.ReadString('\n'); !strings.HasSuffix(s, "\r\n") {
		b.Fatalf("after login: %q", s)
	}
	b.SetBytes(benchChunk)
	b.ResetTimer()
	pull(b, conn, br)
}
