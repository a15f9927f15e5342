package ws

import (
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

const benchChunk = 32 << 10

// BenchmarkLineThroughput measures one-way throughput of a ws line over
// loopback (Go dialer writing, listener line reading), per subprotocol.
func BenchmarkLineThroughput(b *testing.B) {
	for _, proto := range []string{ProtoBinary, ProtoPlain, ProtoBase64} {
		b.Run(proto, func(b *testing.B) {
			testutil.CheckGoroutines(b)
			s := startServer(b, Options{})
			c, l := pair(b, s, DialOptions{Subprotocol: proto})
			benchStream(b, c, l)
		})
	}
}

// BenchmarkLineThroughputToDialer is the other direction (the listener
// writes: no masking on the sending side, unmasking on the receiving side).
func BenchmarkLineThroughputToDialer(b *testing.B) {
	testutil.CheckGoroutines(b)
	s := startServer(b, Options{})
	c, l := pair(b, s, DialOptions{Subprotocol: ProtoBinary})
	benchStream(b, l, c)
}

// BenchmarkTCPBaseline is plain loopback TCP with the same writes, for
// comparison in the same run.
func BenchmarkTCPBaseline(b *testing.B) {
	testutil.CheckGoroutines(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r := <-accepted
	defer r.Close()
	benchStream(b, w, r)
}

func benchStream(b *testing.B, w io.WriteCloser, r io.Reader) {
	buf := make([]byte, benchChunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, r)
		done <- n
	}()
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	if n := <-done; n != int64(b.N)*benchChunk {
		b.Fatalf("received %d octets, sent %d", n, int64(b.N)*benchChunk)
	}
}

func BenchmarkCodec(b *testing.B) {
	p := interopOctets(benchChunk)
	plain := appendPlain(nil, p)
	b64 := appendBase64(nil, p)
	var out []byte
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"plain-encode", func() { out = appendPlain(out[:0], p) }},
		{"plain-decode", func() { out, _ = appendPlainDecoded(out[:0], plain) }},
		{"base64-encode", func() { out = appendBase64(out[:0], p) }},
		{"base64-decode", func() { out, _ = appendBase64Decoded(out[:0], b64) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(benchChunk)
			for range b.N {
				bc.f()
			}
		})
	}
}

// BenchmarkIdleLineMemory reports the heap and stack held per idle
// established line (each pair is two lines: dialer and listener side, in
// the same process), with keepalive running. Run it with -benchtime 1x:
// the later runs of a longer benchmark report far less (not investigated),
// so only the first run is a fair figure. ns/op is meaningless here.
func BenchmarkIdleLineMemory(b *testing.B) {
	testutil.CheckGoroutines(b)
	s := startServer(b, Options{})
	const pairs = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	lines := make([]*Line, 0, 2*pairs)
	for range pairs {
		c, l := pair(b, s, DialOptions{})
		lines = append(lines, c, l)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLine := float64(int64(after.HeapAlloc+after.StackInuse)-int64(before.HeapAlloc+before.StackInuse)) / float64(len(lines))
	b.ReportMetric(perLine, "bytes/line")
	// The benchmark function runs more than once: free this run's lines.
	for _, l := range lines {
		l.Close()
	}
}
