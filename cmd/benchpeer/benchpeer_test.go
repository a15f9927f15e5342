package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

func TestParseCommand(t *testing.T) {
	good := map[string]command{
		"ECHO":             {op: "ECHO"},
		"IDLE\r":           {op: "IDLE"},
		"SRC 0":            {op: "SRC"},
		"SRC 1048576":      {op: "SRC", n: 1 << 20},
		"SRCCLOSE 7":       {op: "SRCCLOSE", n: 7},
		"SRCGO 4294967296": {op: "SRCGO", n: maxSource},
		"SINK a-1":         {op: "SINK", id: "a-1"},
		"COUNT Z9":         {op: "COUNT", id: "Z9"},
	}
	for in, want := range good {
		got, err := parseCommand(in)
		if err != nil || got != want {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "echo", "ECHO 1", "SRC", "SRC -1", "SRC x", "SRC 4294967297", "SRC 1 2", "NOPE 1", "SINK", "SINK a b", "COUNT " + strings.Repeat("x", 33), "SINK a\x00"} {
		if _, err := parseCommand(in); err == nil || !strings.HasPrefix(err.Error(), "benchpeer: ") {
			t.Errorf("parseCommand(%q): err = %v, want a benchpeer error", in, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	f.Add("SRC 100")
	f.Add("ECHO")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCommand(s)
		if err != nil {
			return
		}
		if c.n < 0 || c.n > maxSource {
			t.Fatalf("parseCommand(%q) accepted length %d", s, c.n)
		}
	})
}

func TestPattern(t *testing.T) {
	for _, off := range []int64{0, 1, 94, 95, 96, 1<<20 + 3} {
		p := patternAt(off, 300)
		for i, c := range p {
			if c != byte(' '+(off+int64(i))%patternPeriod) || c == 0xFF || c == '\r' {
				t.Fatalf("patternAt(%d)[%d] = %#x", off, i, c)
			}
		}
	}
}

// startBackend serves the backend protocol on a loopback port until the
// test ends.
func startBackend(t *testing.T) *endpoints {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveListener(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("serveListener: %v", err)
		}
	})
	return &endpoints{backend: ln.Addr().String()}
}

// TestDirectPath runs every measurement against the backend directly:
// the protocol, the pattern check and the clean-up of the load code.
func TestDirectPath(t *testing.T) {
	testutil.CheckGoroutines(t)
	ep := startBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	res, err := throughput(ctx, ep, pathDirect, 3<<20+17, 0)
	if err != nil || res.bytesPerSec <= 0 {
		t.Fatalf("throughput: %+v, %v", res, err)
	}
	if _, err := streams(ctx, ep, pathDirect, 5, 100<<10, nil); err != nil {
		t.Fatalf("streams: %v", err)
	}
	if _, err := echoLatency(ctx, ep, pathDirect, 50); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if _, err := setupTime(ctx, ep, pathDirect, 3); err != nil {
		t.Fatalf("setup: %v", err)
	}
	got, err := closeLoss(ctx, ep, pathDirect, 1<<20)
	if err != nil || got != 1<<20 {
		t.Fatalf("closeLoss: %d, %v; want all %d", got, err, 1<<20)
	}
	got, err = closeLossUp(ctx, ep, pathDirect, 1<<20+5)
	if err != nil || got != 1<<20+5 {
		t.Fatalf("closeLossUp: %d, %v; want all %d", got, err, 1<<20+5)
	}
}

// TestRelayPath: the bare relay baseline carries the backend protocol
// both ways intact, half-closes each side when the other ends (nothing
// is lost when either hangs up), and leaves no goroutine behind.
func TestRelayPath(t *testing.T) {
	testutil.CheckGoroutines(t)
	ep := startBackend(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveRelay(ln, ep.backend) }()
	defer func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("serveRelay: %v", err)
		}
	}()
	ep.relay = ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := throughput(ctx, ep, pathRelay, 3<<20+17, 0)
	if err != nil || res.bytesPerSec <= 0 {
		t.Fatalf("throughput: %+v, %v", res, err)
	}
	if _, err := echoLatency(ctx, ep, pathRelay, 50); err != nil {
		t.Fatalf("echo: %v", err)
	}
	got, err := closeLoss(ctx, ep, pathRelay, 1<<20)
	if err != nil || got != 1<<20 {
		t.Fatalf("closeLoss: %d, %v; want all %d", got, err, 1<<20)
	}
	got, err = closeLossUp(ctx, ep, pathRelay, 1<<20+5)
	if err != nil || got != 1<<20+5 {
		t.Fatalf("closeLossUp: %d, %v; want all %d", got, err, 1<<20+5)
	}
}

// TestReceiveDetectsCorruption checks that a lost octet is reported.
func TestReceiveDetectsCorruption(t *testing.T) {
	data := append([]byte(nil), patternAt(0, 1000)...)
	data = append(data[:500], data[501:]...) // one octet lost
	got, err := receive(strings.NewReader(string(data)), 1000)
	if !errors.Is(err, errCorrupt) || got != 0 {
		t.Fatalf("receive of a stream with a lost octet: %d, %v", got, err)
	}
	got, err = receive(strings.NewReader(string(data[:400])), 1000)
	if !errors.Is(err, io.EOF) || got != 400 {
		t.Fatalf("receive of a short stream: %d, %v; want 400, EOF", got, err)
	}
}

func TestUnknownCommandAnswered(t *testing.T) {
	testutil.CheckGoroutines(t)
	ep := startBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dial(ctx, ep, pathDirect, "BOGUS")
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("dial with a bad command: %v", err)
	}
}

func TestTransferSizeAndRatio(t *testing.T) {
	for _, c := range []struct {
		rate        float64
		d           time.Duration
		least, want int64
	}{
		{1e9, time.Second / 4, 16 << 20, 250e6},
		{1e6, time.Second / 4, 16 << 20, 16 << 20},
		{1e12, time.Second, 1, maxSource},
	} {
		if got := transferSize(c.rate, c.d, c.least); got != c.want {
			t.Errorf("transferSize(%g, %v, %d) = %d, want %d", c.rate, c.d, c.least, got, c.want)
		}
	}
	// Within each repetition: 0.5, 0.25, 1 (the base of the last is 0
	// and left out): median 0.5, where the ratio of the medians is 0.625.
	if got := pairedRatio([]float64{1, 4, 8, 5}, []float64{2, 16, 8, 0}); got != 0.5 {
		t.Errorf("pairedRatio = %g, want 0.5", got)
	}
	if got := ratioSpread([]float64{1, 4, 8, 5}, []float64{2, 16, 8, 0}); got != "0.50 (0.25..1.00)" {
		t.Errorf("ratioSpread = %q", got)
	}
}

// TestFreePortBelowEphemeral: the gateway's ports come from below the
// ephemeral range, where no outgoing connection takes them between the
// gateway's restarts.
func TestFreePortBelowEphemeral(t *testing.T) {
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(addr)
	if n, err := strconv.Atoi(p); err != nil || n >= ephemeralLow() || n < 1024 {
		t.Fatalf("freePort() = %s, want a port in [1024, %d)", addr, ephemeralLow())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on freePort's %s: %v", addr, err)
	}
	ln.Close()
}

// TestGatewayConfig checks that the run's gateway configuration is valid
// and puts each idle path's listener where the measurements expect it: the
// full-stack idle sessions to the demo backend (no backend descriptor) with
// V.42 detection and Access Security required, and pprof served.
func TestGatewayConfig(t *testing.T) {
	ep := &endpoints{backend: "127.0.0.1:1001", text: "127.0.0.1:1002", modem: "127.0.0.1:1003", idle: "127.0.0.1:1004", idleFull: "127.0.0.1:1005"}
	dir := t.TempDir()
	cfg, err := config.Parse("gateway.toml", []byte(gatewayConfig(dir, dir+"/users.toml", "127.0.0.1:1006", "127.0.0.1:1007", ep)))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Metrics.PProf {
		t.Error("metrics.pprof is off: -profile cannot save the idle phases' heap profiles")
	}
	for _, want := range []struct {
		name, addr, backend string
		v42                 config.V42Mode
	}{
		{"text", ep.text, "backend", config.V42Off},
		{"modem", ep.modem, "backend", config.V42Detect},
		{"idle", ep.idle, "demo", config.V42Off},
		{"idlefull", ep.idleFull, "demo", config.V42Detect},
	} {
		l, ok := cfg.Listener(want.name)
		if !ok {
			t.Errorf("no listener %q", want.name)
			continue
		}
		if l.Address != "telnet://"+want.addr || l.Backend != want.backend || l.V42 != want.v42 {
			t.Errorf("listener %q: address %q, backend %q, v42 %q; want %q, %q, %q", want.name, l.Address, l.Backend, l.V42, "telnet://"+want.addr, want.backend, want.v42)
		}
		if want.v42 == config.V42Detect && l.Security != config.SecurityRequired {
			t.Errorf("listener %q: security %q, want required (the full path runs Access Security)", want.name, l.Security)
		}
	}
	if b, ok := cfg.Backend("backend"); !ok || string(b.Address) != ep.backend {
		t.Errorf("backend %q: %+v, want the TCP backend at %s", "backend", b, ep.backend)
	}
}

// TestPortsFromRange: with -ports every listener's port comes from the
// range, each handed out once, a port something else listens on is
// skipped, and a used-up range is an error, not a port outside it.
func TestPortsFromRange(t *testing.T) {
	for _, bad := range []string{"", "24200", "24299-24200", "0-10", "1-70000", "a-b"} {
		if _, err := parsePortRange(bad); err == nil {
			t.Errorf("parsePortRange(%q): no error", bad)
		}
	}
	// A port of the ephemeral range that this test holds: busy.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, bp, _ := net.SplitHostPort(busy.Addr().String())
	p, _ := strconv.Atoi(bp)
	pr, err := parsePortRange(bp + "-" + bp)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{ports: pr}
	if addr, err := r.freePort(); err == nil {
		t.Fatalf("freePort() = %s with the range's only port busy, want an error", addr)
	}
	busy.Close()
	if pr, err = parsePortRange(strconv.Itoa(p) + "-" + strconv.Itoa(p)); err != nil {
		t.Fatal(err)
	}
	r = &runner{ports: pr}
	if addr, err := r.freePort(); err != nil || addr != busy.Addr().String() {
		t.Fatalf("freePort() = %s, %v; want %s", addr, err, busy.Addr())
	}
	if addr, err := r.freePort(); err == nil {
		t.Fatalf("second freePort() = %s from a one-port range, want an error", addr)
	}
	if addr, err := r.listenAddr(); err == nil {
		t.Fatalf("listenAddr() = %s from a used-up range, want an error", addr)
	}
	if addr, err := (&runner{}).listenAddr(); err != nil || addr != "127.0.0.1:0" {
		t.Fatalf("listenAddr() without -ports = %s, %v; want 127.0.0.1:0", addr, err)
	}
}

// countingListener counts the connections it has accepted.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestStreamsStartedAfterSetUp: streams calls its started hook once, when
// every session is set up and before any of them moves data, so that the
// many-streams figure's CPU per octet is the transfer's, without the
// set-ups (which it included before).
func TestStreamsStartedAfterSetUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	done := make(chan error, 1)
	go func() { done <- serveListener(cl) }()
	defer func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("serveListener: %v", err)
		}
	}()
	ep := &endpoints{backend: ln.Addr().String()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const count, per = 7, 64 << 10
	calls := 0
	if _, err := streams(ctx, ep, pathDirect, count, per, func() {
		calls++
		if n := cl.n.Load(); n != count {
			t.Errorf("started with %d of %d sessions set up", n, count)
		}
	}); err != nil {
		t.Fatalf("streams: %v", err)
	}
	if calls != 1 {
		t.Fatalf("started called %d times, want 1", calls)
	}
}
