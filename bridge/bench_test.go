//go:build unix

package bridge

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
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

func pull(b *testing.B, c io.Writer, r io.Reader) {
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
	cpu0 := processCPU()
	pull(b, c, c)
	reportCPU(b, cpu0)
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
	cpu0 := processCPU()
	pull(b, conn, br)
	reportCPU(b, cpu0)
}

// BenchmarkFullPathTCP measures the full path in one process: a caller
// with LAPM (N401 4096, k 127, FCS-32, SREJ) and sealed payloads on a
// loopback telnet-modem line, the gateway (V.42 detection, Access
// Security required) and a TCP backend sending benchChunk octets per
// request, backend -> caller (DESIGN.md target: at least 20 % of
// BenchmarkDirectTCP). cpu-ns/B is the CPU of the whole process (caller,
// gateway and backend) per payload octet. The caller's goroutines carry
// the profiler label side=caller and the gateway's side=gateway, so that
// a CPU profile splits the budget (go tool pprof -tagfocus side=caller).
func BenchmarkFullPathTCP(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	addr := fullPathGateway(b, sourceServer(b))
	link := fullPathCall(ctx, b, addr)
	defer link.Close()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	pprof.Do(ctx, pprof.Labels("side", "caller"), func(context.Context) {
		pull(b, link, link)
	})
	reportCPU(b, cpu0)
}

// BenchmarkFullPathStreams is BenchmarkFullPathTCP with 100 calls pulling
// at once (issue 7: the aggregate should reach 20 % of direct TCP); one op
// is benchChunk/16 octets on every call.
func BenchmarkFullPathStreams(b *testing.B) {
	const calls, per = 100, benchChunk / 16
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src := tcpBackendServer(b, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		one := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, one); err != nil {
				return
			}
			for sent := 0; sent < per; sent += len(buf) {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}
	})
	addr := fullPathGateway(b, src)
	links := make([]*lapm.Link, calls)
	for i := range links {
		links[i] = fullPathCall(ctx, b, addr)
		defer links[i].Close()
	}
	b.SetBytes(calls * per)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, calls)
		for _, l := range links {
			wg.Go(func() {
				if _, err := l.Write([]byte{1}); err != nil {
					errs <- err
					return
				}
				if _, err := io.CopyN(io.Discard, l, per); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/(calls*per), "cpu-ns/B")
}

// fullPathGateway starts a gateway like scripts/bench's: a telnet-modem
// listener "test" on loopback with V.42 detection and Access Security
// required, bridged to the TCP backend at backend. It returns the
// listener's host:port. Its goroutines carry the label side=gateway.
func fullPathGateway(b *testing.B, backend string) string {
	b.Helper()
	c := testConfig(b, config.Backend{Name: "be", Type: config.BackendTCP, Address: config.HostPort(backend)})
	c.Listeners[0].V42 = config.V42Detect
	c.Listeners[0].Security = config.SecurityRequired
	c.Lines.MaxConcurrent = 1000
	key, err := auth.GenerateHostKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Config: c, Store: st, Verifier: &fakeVerifier{users: map[string]string{"vic": "pw"}},
		V42: &LAPMAnswerer{HostKey: key, Name: "bench"}})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	l, err := tcp.Listen("127.0.0.1:0", tcp.Options{Telnet: true})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	served := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels("side", "gateway"), func(context.Context) {
		go func() {
			defer close(served)
			_ = s.Serve("test", l)
		}()
	})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
		st.Close()
	})
	return strings.TrimPrefix(l.Addr(), "telnet://")
}

// fullPathCall dials addr as gateway dial does (detection, LAPM offering
// 4096/127/FCS-32/SREJ, Access Security, SABME/UA) with its goroutines
// labelled side=caller, and waits until the backend's side of the
// session is up (it answers the first octet with a chunk, which this
// reads).
func fullPathCall(ctx context.Context, b *testing.B, addr string) *lapm.Link {
	b.Helper()
	var link *lapm.Link
	var err error
	pprof.Do(ctx, pprof.Labels("side", "caller"), func(ctx context.Context) {
		var line transport.Line
		if line, err = transport.Dial(ctx, "telnet://"+addr); err != nil {
			return
		}
		res, left, derr := lapm.Detect(ctx, line, lapm.Originator)
		if derr != nil || res != lapm.DetectLAPM {
			line.Close()
			err = fmt.Errorf("detection: %v %w", res, derr)
			return
		}
		if link, err = lapm.Open(ctx, line, left, lapm.Config{Role: lapm.Originator, Params: lapm.LinkParams{N401: 4096, K: 127, FCS32: true, SREJ: true}}); err != nil {
			line.Close()
			return
		}
		var cr *auth.CallResult
		if cr, err = auth.Call(ctx, link, auth.CallerConfig{UserID: "vic", Password: "pw", HostName: addr,
			CheckHostKey: func([]byte) error { return nil }}); err != nil {
			link.Close()
			return
		}
		link.SetTransform(cr.Transform)
		if err = link.Establish(ctx); err != nil {
			link.Close()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return link
}

// processCPU is the CPU time (user and system) this process has used.
// It is getrusage(2), which is why this file builds on Unix only.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per payload octet since cpu0
// (caller, gateway and backend together: all run in this process). Unlike
// MB/s it barely moves when other programs share the machine.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/benchChunk, "cpu-ns/B")
}
