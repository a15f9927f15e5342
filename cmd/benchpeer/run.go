package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dialgate/dialgate/auth"
)

// benchUser is the account the run creates. Its hash is deliberately
// cheap (the minimum argon2id cost) so that session set-up figures exclude
// argon2id; the default cost is measured separately.
const (
	benchUser = "bench"
	benchPass = "bench-password-1"
)

var cheapArgon2 = auth.Argon2Params{Time: 1, MemoryKiB: 8, Threads: 1}

// defaultArgon2 is the gateway's default cost for new hashes (the
// [security] argon2_* defaults of internal/config).
var defaultArgon2 = auth.Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 1}

// settings are the sizes of one run.
type settings struct {
	reps int
	// Bulk transfers are sized per path so that each lasts about bulkTime
	// (streamTime for the many-streams figure): 16 MiB over direct TCP
	// take 10 ms, which scheduling noise alone can double. bulk and
	// streamBytes are the sizes of the calibrating transfer and the
	// least a measured one moves.
	bulk         int64 // octets per single-stream transfer, at least
	bulkTime     time.Duration
	streams      int
	streamBytes  int64 // octets per stream, at least
	streamTime   time.Duration
	echoes       int
	setups       int
	idle         int // idle sessions through the text login to the demo backend
	idleFull     int // idle full-stack sessions to the TCP backend
	idleFullDemo int // idle full-stack sessions to the demo backend
	idleWarm     int // idle raw sessions after a bulk transfer each
	closeBytes   int64
	fullPar      int           // full-stack set-ups at once in the idle phase
	timeout      time.Duration // bound of the whole measurement phase
}

var (
	quickSettings = settings{reps: 3, bulk: 16 << 20, bulkTime: 250 * time.Millisecond, streams: 100, streamBytes: 256 << 10, streamTime: 300 * time.Millisecond, echoes: 2000, setups: 20,
		idle: 1000, idleFull: 200, idleFullDemo: 200, idleWarm: 300, closeBytes: 1 << 20, timeout: 45 * time.Second}
	fullSettings = settings{reps: 5, bulk: 64 << 20, bulkTime: time.Second, streams: 100, streamBytes: 1 << 20, streamTime: time.Second, echoes: 20000, setups: 100,
		idle: 10000, idleFull: 2000, idleFullDemo: 10000, idleWarm: 5000, closeBytes: 4 << 20, timeout: 10 * time.Minute}
)

type runner struct {
	s           settings
	clientProcs int // GOMAXPROCS in one-call phases (-client-procs); 0 = unchanged
	dir         string
	ep          endpoints
	gatewayPID  int
	backendPID  int
	relayPID    int // benchpeer relay
	socatPID    int
	gateway     *exec.Cmd
	gwBinary    string
	gwConfig    string
	metrics     string // host:port of the gateway's metrics endpoint
	procs       []*exec.Cmd
	rows        []row
	ratios      map[string]float64
	profileDir  string
	log         *os.File
	ports       portRange // -ports; zero: random free ports
}

// row is one line of the result table.
type row struct {
	figure, dialgate, baseline, ratio, target string
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	gateway := fs.String("gateway", "", "the built gateway binary (required)")
	quick := fs.Bool("quick", false, "smaller sizes; finishes in well under a minute")
	reps := fs.Int("reps", 0, "repetitions per figure (0: 3 quick, 5 full)")
	idle := fs.Int("idle", 0, "idle text-login sessions (0: 1,000 quick, 10,000 full)")
	idleFull := fs.Int("idle-full", 0, "idle full-stack sessions to the TCP backend (0: 200 quick, 2,000 full; the gateway holds two descriptors per session)")
	idleFullDemo := fs.Int("idle-full-demo", 0, "idle full-stack sessions to the built-in demo backend (0: 200 quick, 10,000 full; one descriptor per session)")
	idleOnly := fs.Bool("idle-only", false, "measure only the idle sessions (no bulk, echo, set-up or streams figures, no throughput_ratio_vs_direct line)")
	fullPar := fs.Int("full-par", 8, "full-stack sessions set up at once in the idle phase (many more than the cores can serve within T400 may time out detection; see docs/BENCHMARKS.md)")
	lapmOut := fs.String("lapm", "", "output of the lapm Go benchmarks to fold into the table")
	dir := fs.String("dir", "", "working directory (default: a new temporary one, removed afterwards)")
	bulkOnly := fs.String("bulk-only", "", "measure only single-stream bulk transfers on these paths (comma-separated, e.g. full,raw), each interleaved with direct TCP, -reps times: prints each transfer's MB/s and the caller's and the gateway's cycles per octet and context switches per MB, then their medians")
	bulkSize := fs.Int64("bulk-size", 256<<20, "octets per transfer with -bulk-only")
	streamsOnly := fs.Bool("streams-only", false, "measure only the many-streams figure, each repetition interleaved with direct TCP: prints each run's aggregate MB/s and the load client's, the gateway's and the backend's cycles per aggregate octet (from when the sessions are set up), then their medians")
	clientProcs := fs.Int("client-procs", 1, "GOMAXPROCS of this load client while it carries one call at a time (single-stream bulk, hang-ups, echo, set-up), as gateway dial runs on one processor; 0 leaves it alone. The 100-stream and idle phases use every core")
	ports := fs.String("ports", "", "take every port this run listens on (the backend, the relay, socat, websockify, the gateway's listeners and metrics: 10 in all) from this range, LO-HI, on a machine shared with other runs (default: random free ports)")
	profile := fs.String("profile", "", "after the figures, profile bulk transfers and echoes on the full and raw paths into this directory (load client: pprof; gateway: perf record, if perf works); while each idle phase's sessions are open, save the gateway's heap profile, goroutines and metrics there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gateway == "" {
		return errors.New("benchpeer: run: -gateway is required")
	}
	if errMeasure != nil {
		return errMeasure
	}
	r := &runner{s: fullSettings, ratios: map[string]float64{}, profileDir: *profile, clientProcs: *clientProcs}
	if *ports != "" {
		pr, err := parsePortRange(*ports)
		if err != nil {
			return err
		}
		r.ports = pr
	}
	if *quick {
		r.s = quickSettings
	}
	if *reps > 0 {
		r.s.reps = *reps
	}
	if *idle > 0 {
		r.s.idle = *idle
	}
	if *idleFull > 0 {
		r.s.idleFull = *idleFull
	}
	if *idleFullDemo > 0 {
		r.s.idleFullDemo = *idleFullDemo
	}
	r.s.fullPar = max(1, *fullPar)
	if *dir == "" {
		d, err := os.MkdirTemp("", "dialgate-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	r.dir = *dir
	lf, err := os.Create(filepath.Join(r.dir, "processes.log"))
	if err != nil {
		return err
	}
	defer lf.Close()
	r.log = lf
	defer r.stopAll()
	if err := r.start(*gateway); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.s.timeout)
	defer cancel()
	printMachine(r.clientProcs)
	measure := r.measure
	if *bulkOnly != "" {
		return r.measureBulk(ctx, strings.Split(*bulkOnly, ","), *bulkSize)
	}
	if *streamsOnly {
		return r.measureStreams(ctx)
	}
	if *idleOnly {
		measure = r.measureIdle
	}
	if err := measure(ctx); err != nil {
		r.printTable()
		return err
	}
	if *lapmOut != "" {
		r.lapmRows(*lapmOut)
	}
	r.printTable()
	if *idleOnly {
		return nil
	}
	if r.profileDir != "" {
		if err := r.profile(ctx); err != nil {
			return fmt.Errorf("benchpeer: profile phase: %w", err)
		}
	}
	fmt.Printf("throughput_ratio_vs_direct full=%.3f raw=%.3f\n", r.ratios["full"], r.ratios["raw"])
	return nil
}

func printMachine(clientProcs int) {
	model, mhz := cpuInfo()
	client := ""
	if clientProcs > 0 {
		client = fmt.Sprintf(" (load client %d while it carries one call)", clientProcs)
	}
	fmt.Printf("machine: %s, %d CPUs at %.0f MHz, %s, %s, GOMAXPROCS %d%s\n",
		model, runtime.NumCPU(), mhz, kernelName(), runtime.Version(), runtime.GOMAXPROCS(0), client)
}

// viaGateway reports whether path p goes through the gateway (whose CPU
// then counts with the caller's).
func viaGateway(p string) bool { return p == pathFull || p == pathRaw || p == pathWS }

// relaying is the process that relays path p (the gateway, the bare
// relay), whose CPU a transfer measures; 0 for the others.
func (r *runner) relaying(p string) int {
	switch {
	case viaGateway(p):
		return r.gatewayPID
	case p == pathRelay:
		return r.relayPID
	}
	return 0
}

// oneCall sets this process's GOMAXPROCS for a phase that carries one
// call at a time (-client-procs: gateway dial runs on one processor, and
// so do single-threaded callers such as telnet) and returns the function
// that restores it. The gateway, a process of its own, keeps every core.
func (r *runner) oneCall() (restore func()) {
	if r.clientProcs <= 0 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(r.clientProcs)
	return func() { runtime.GOMAXPROCS(prev) }
}

// cpuInfo returns the CPU model and clock from /proc/cpuinfo.
func cpuInfo() (string, float64) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU", 0
	}
	model, mhz := "unknown CPU", 0.0
	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "cpu MHz":
			if mhz == 0 {
				fmt.Sscanf(strings.TrimSpace(v), "%g", &mhz)
			}
		}
	}
	return model, mhz
}

// freePort returns a loopback address nothing listens on right now, with
// a port below the kernel's ephemeral range: the gateway is restarted on
// the same ports between phases, and a port from the ephemeral range may
// meanwhile be taken as the local port of one of the thousands of
// connections a run (or anything else on the machine) makes, so that the
// new gateway cannot listen on it.
func freePort() (string, error) {
	lo := ephemeralLow()
	for range 100 {
		port := lo/2 + rand.IntN(lo/2)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("benchpeer: run: no free port below %d", lo)
}

// portRange is the -ports range, lo to hi inclusive; next is the first
// port not handed out yet.
type portRange struct {
	lo, hi, next int
}

// parsePortRange parses -ports: LO-HI, 1 ≤ LO ≤ HI ≤ 65535.
func parsePortRange(s string) (portRange, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo || hi > 65535 {
		return portRange{}, fmt.Errorf("benchpeer: run: -ports %q: want LO-HI, for example 24200-24299", s)
	}
	return portRange{lo: lo, hi: hi, next: lo}, nil
}

// freePort returns a loopback address for one of the run's listeners:
// with -ports, the next port of the range that nothing listens on (each
// handed out once); without, freePort's.
func (r *runner) freePort() (string, error) {
	pr := &r.ports
	if pr.lo == 0 {
		return freePort()
	}
	for ; pr.next <= pr.hi; pr.next++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pr.next)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		pr.next++
		return addr, nil
	}
	return "", fmt.Errorf("benchpeer: run: no free port left in -ports %d-%d", pr.lo, pr.hi)
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux
// default 32768).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < 2048 {
		return 32768
	}
	return lo
}

// waitPort waits until something accepts on addr.
func waitPort(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("benchpeer: run: nothing answers on %s after %v: %w", addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *runner) spawn(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = r.log
	cmd.Stderr = r.log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchpeer: run: starting %s: %w", name, err)
	}
	r.procs = append(r.procs, cmd)
	return cmd, nil
}

func (r *runner) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		c := r.procs[i]
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	r.procs = nil
}

// start brings up the backend, the baselines and the gateway.
func (r *runner) start(gateway string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The backend, in its own process so that its CPU is not counted as
	// the client's.
	beAddr, err := r.listenAddr()
	if err != nil {
		return err
	}
	be := exec.Command(self, "backend", "-listen", beAddr)
	be.Stderr = r.log
	be.SysProcAttr = childAttr()
	out, err := be.StdoutPipe()
	if err != nil {
		return err
	}
	if err := be.Start(); err != nil {
		return fmt.Errorf("benchpeer: run: starting the backend: %w", err)
	}
	r.procs = append(r.procs, be)
	r.backendPID = be.Process.Pid
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("benchpeer: run: the backend did not say its address: %w", err)
	}
	r.ep.backend = strings.TrimSpace(line)
	r.ep.user, r.ep.pass = benchUser, benchPass

	// The bare relay, a process of its own as the gateway is.
	rlAddr, err := r.listenAddr()
	if err != nil {
		return err
	}
	rl := exec.Command(self, "relay", "-listen", rlAddr, "-to", r.ep.backend)
	rl.Stderr = r.log
	rl.SysProcAttr = childAttr()
	if out, err = rl.StdoutPipe(); err != nil {
		return err
	}
	if err := rl.Start(); err != nil {
		return fmt.Errorf("benchpeer: run: starting the relay: %w", err)
	}
	r.procs = append(r.procs, rl)
	r.relayPID = rl.Process.Pid
	if line, err = bufio.NewReader(out).ReadString('\n'); err != nil {
		return fmt.Errorf("benchpeer: run: the relay did not say its address: %w", err)
	}
	r.ep.relay = strings.TrimSpace(line)

	ports := make([]string, 8)
	for i := range ports {
		if ports[i], err = r.freePort(); err != nil {
			return err
		}
	}
	r.ep.socat, r.ep.text, r.ep.modem, r.ep.idle, r.ep.idleFull = ports[0], ports[1], ports[2], ports[3], ports[4]
	wsAddr, wsfyAddr, metrics := ports[5], ports[6], ports[7]
	r.ep.ws = "ws://" + wsAddr + "/line"
	r.ep.websockify = "ws://" + wsfyAddr + "/"

	socat, err := r.spawn("socat", "TCP-LISTEN:"+port(r.ep.socat)+",bind=127.0.0.1,reuseaddr,fork", "TCP:"+r.ep.backend)
	if err != nil {
		return err
	}
	r.socatPID = socat.Process.Pid
	if _, err := r.spawn("websockify", wsfyAddr, r.ep.backend); err != nil {
		return err
	}

	users := auth.NewUsers()
	hash, err := auth.HashPassword(benchPass, cheapArgon2)
	if err != nil {
		return err
	}
	if err := users.Add(auth.User{ID: benchUser, Hash: hash}); err != nil {
		return err
	}
	usersFile := filepath.Join(r.dir, "users.toml")
	if err := users.Save(usersFile); err != nil {
		return err
	}
	cfg := gatewayConfig(filepath.Join(r.dir, "state"), usersFile, metrics, wsAddr, &r.ep)
	r.gwConfig = filepath.Join(r.dir, "gateway.toml")
	if err := os.WriteFile(r.gwConfig, []byte(cfg), 0o600); err != nil {
		return err
	}
	r.gwBinary, r.metrics = gateway, metrics
	if err := r.startGateway(); err != nil {
		return err
	}
	for _, a := range []string{r.ep.socat, wsfyAddr} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return fmt.Errorf("%w; end of %s:\n%s", err, r.log.Name(), r.logTail())
		}
	}
	return nil
}

// listenAddr is the -listen address of the backend and the relay: a port
// of -ports, or any free one (they are not restarted).
func (r *runner) listenAddr() (string, error) {
	if r.ports.lo == 0 {
		return "127.0.0.1:0", nil
	}
	return r.freePort()
}

// startGateway starts the gateway and waits until it answers.
func (r *runner) startGateway() error {
	gw, err := r.spawn(r.gwBinary, "serve", "--config", r.gwConfig)
	if err != nil {
		return err
	}
	r.gateway, r.gatewayPID = gw, gw.Process.Pid
	for _, a := range []string{r.ep.text, r.ep.modem, r.ep.idle, r.ep.idleFull, r.metrics} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return fmt.Errorf("%w; end of %s:\n%s", err, r.log.Name(), r.logTail())
		}
	}
	return nil
}

// logTail is the end of the processes' log (which scripts/bench removes
// with its working directory).
func (r *runner) logTail() string {
	b, err := os.ReadFile(r.log.Name())
	if err != nil {
		return err.Error()
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

// restartGateway stops the gateway (SIGTERM, drain) and starts a fresh
// one, so that a memory figure starts from a process without the garbage
// of earlier phases.
func (r *runner) restartGateway() error {
	_ = r.gateway.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.gateway.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.gateway.Process.Kill()
		<-done
	}
	for i, c := range r.procs {
		if c == r.gateway {
			r.procs = append(r.procs[:i], r.procs[i+1:]...)
			break
		}
	}
	return r.startGateway()
}

// waitQuiet waits until the gateway has ended the calls of a phase: its
// goroutine count is back near base.
func (r *runner) waitQuiet(ctx context.Context, base int) error {
	for {
		g, err := r.goroutines()
		if err != nil {
			return err
		}
		if g <= base+20 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("benchpeer: run: the gateway still has %d goroutines (%d before the phase): %w", g, base, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// idleProfiles saves, while a phase's idle sessions are open, the
// gateway's heap profile (in use, after a collection), its goroutines and
// its metrics (the runtime's memory statistics) under the profile
// directory as <name>.gateway.{heap.pprof,goroutines.txt,metrics.txt}.
func (r *runner) idleProfiles(name string) error {
	if err := os.MkdirAll(r.profileDir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct{ url, file string }{
		{"/debug/pprof/heap?gc=1", ".gateway.heap.pprof"},
		{"/debug/pprof/goroutine?debug=1", ".gateway.goroutines.txt"},
		{"/metrics", ".gateway.metrics.txt"},
	} {
		if err := r.metricsGet(f.url, filepath.Join(r.profileDir, name+f.file)); err != nil {
			return err
		}
	}
	return nil
}

// metricsGet saves what the gateway's metrics endpoint serves at path.
func (r *runner) metricsGet(path, file string) error {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + r.metrics + path)
	if err != nil {
		return fmt.Errorf("benchpeer: run: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("benchpeer: run: %s: %s", path, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("benchpeer: run: %s: %w", path, err)
	}
	return f.Close()
}

// goroutines reads go_goroutines from the gateway's metrics endpoint.
func (r *runner) goroutines() (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + r.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			var n float64
			_, err := fmt.Sscanf(v, "%g", &n)
			return int(n), err
		}
	}
	return 0, fmt.Errorf("benchpeer: run: no go_goroutines in the gateway's metrics: %v", sc.Err())
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// gatewayConfig is the gateway configuration of a run (configTemplate)
// for these files and addresses.
func gatewayConfig(stateDir, usersFile, metrics, wsAddr string, ep *endpoints) string {
	return fmt.Sprintf(configTemplate, stateDir, usersFile, metrics,
		ep.text, ep.modem, ep.idle, ep.idleFull, wsAddr, ep.backend)
}

// configTemplate is the gateway configuration of a run: loopback only,
// no limits that a benchmark would trip over (per-source limits, hold-off,
// throttling of the one source address), warnings only in the log.
const configTemplate = `gateway_name = "bench"
state_dir = %q
users_file = %q
default_backend = "backend"

[log]
level = "warn"

[metrics]
listen = %q
pprof = true

[lines]
max_concurrent = 30000
per_source = 0
holdoff = "0s"
drain_timeout = "2s"

[security]
mode = "optional"
text_login = "allow"
handshake_deadline = "60s"
max_hashing = 2
hash_queue = 30000
max_pending_per_source = 30000

[[listener]]
name = "text"
address = "telnet://%s"
v42 = "off"
text_login = "allow"

[[listener]]
name = "modem"
address = "telnet://%s"
v42 = "detect"
security = "required"

[[listener]]
name = "idle"
address = "telnet://%s"
v42 = "off"
text_login = "allow"
backend = "demo"

[[listener]]
name = "idlefull"
address = "telnet://%s"
v42 = "detect"
security = "required"
backend = "demo"

[[listener]]
name = "web"
address = "ws://%s/line"
v42 = "off"
text_login = "allow"
allowed_origins = ["*"]

[[backend]]
name = "backend"
type = "tcp"
address = %q
connect_timeout = "10s"

[[backend]]
name = "demo"
type = "demo"
`

// measure runs every figure. Paths compared with each other are
// interleaved within each repetition so that drifts in machine load hit
// them alike.
func (r *runner) measure(ctx context.Context) error {
	_, mhz := cpuInfo()
	s := r.s
	allCores := r.oneCall() // called before the streams phase
	bulkPaths := []string{pathDirect, pathSocat, pathRelay, pathRaw, pathFull, pathWS, pathWebsockify}
	// One calibrating transfer per path (which also warms it up) sizes
	// the measured ones.
	size := map[string]int64{}
	for _, p := range bulkPaths {
		res, err := throughput(ctx, &r.ep, p, s.bulk, 0)
		if err != nil {
			return fmt.Errorf("benchpeer: bulk phase: %w", err)
		}
		size[p] = transferSize(res.bytesPerSec, s.bulkTime, s.bulk)
	}
	rates := map[string][]float64{}
	var fullCPU, rawCPU []float64 // cycles per octet, caller + gateway
	for range s.reps {
		for _, p := range bulkPaths {
			gw := r.relaying(p)
			res, err := throughput(ctx, &r.ep, p, size[p], gw)
			if err != nil {
				return fmt.Errorf("benchpeer: bulk phase: %w", err)
			}
			rates[p] = append(rates[p], res.bytesPerSec)
			cyc := (res.cpu.self + res.cpu.gateway).Seconds() * mhz * 1e6 / float64(size[p])
			switch p {
			case pathFull:
				fullCPU = append(fullCPU, cyc)
			case pathRaw:
				rawCPU = append(rawCPU, cyc)
			}
		}
	}
	// Ratios are medians of the ratios within each repetition (the
	// paths of one repetition ran back to back, under the same load).
	direct := median(rates[pathDirect])
	for _, p := range bulkPaths[1:] {
		r.ratios[p] = pairedRatio(rates[p], rates[pathDirect])
	}
	each := func(p string) string { return fmt.Sprintf("; %d MiB each", size[p]>>20) }
	r.add("bulk, 1 stream: direct TCP (baseline)", mbps(direct), "spread "+spread(rates[pathDirect])+each(pathDirect), "", "")
	r.add("bulk, 1 stream: socat relay", mbps(median(rates[pathSocat])), "direct; spread "+spread(rates[pathSocat])+each(pathSocat), ratio(r.ratios[pathSocat]), "")
	r.add("bulk, 1 stream: bare Go relay (splice, no protocol)", mbps(median(rates[pathRelay])), "direct; spread "+spread(rates[pathRelay])+each(pathRelay), ratio(r.ratios[pathRelay]), "")
	r.add("bulk, 1 stream: raw (telnet line, text login)", mbps(median(rates[pathRaw])), "direct; spread "+spread(rates[pathRaw])+each(pathRaw), ratioSpread(rates[pathRaw], rates[pathDirect]), ">= 0.60")
	r.add("bulk, 1 stream: full (LAPM + sealed)", mbps(median(rates[pathFull])), "direct; spread "+spread(rates[pathFull])+each(pathFull), ratioSpread(rates[pathFull], rates[pathDirect]), ">= 0.20")
	wsfy := median(rates[pathWebsockify])
	r.add("bulk, 1 stream: ws line, text login", mbps(median(rates[pathWS])), "websockify "+mbps(wsfy), ratio(pairedRatio(rates[pathWS], rates[pathWebsockify])), ">= 1.00")
	r.add("CPU per payload octet, full (caller+gateway)", fmt.Sprintf("%.1f cycles", median(fullCPU)), fmt.Sprintf("raw %.1f cycles", median(rawCPU)), "", "<= 10 cycles")

	// Close: the backend sends and hangs up at once.
	for _, p := range []string{pathWS, pathWebsockify, pathRaw, pathFull} {
		got, err := closeLoss(ctx, &r.ep, p, s.closeBytes)
		if err != nil {
			return fmt.Errorf("benchpeer: close phase: %w", err)
		}
		r.add("octets delivered when the backend hangs up: "+p, fmt.Sprintf("%d of %d", got, s.closeBytes), "", ratio(float64(got)/float64(s.closeBytes)), map[bool]string{true: "all", false: ""}[p != pathWebsockify])
	}
	// Close: the caller sends and hangs up at once.
	for _, p := range []string{pathWS, pathWebsockify, pathRaw, pathFull} {
		got, err := closeLossUp(ctx, &r.ep, p, s.closeBytes)
		if err != nil {
			return fmt.Errorf("benchpeer: close phase: %w", err)
		}
		r.add("octets delivered when the caller hangs up: "+p, fmt.Sprintf("%d of %d", got, s.closeBytes), "", ratio(float64(got)/float64(s.closeBytes)), map[bool]string{true: "all", false: ""}[p != pathWebsockify])
	}

	// Echo latency, with the socat relay as the baseline of what one
	// relaying process in the path costs on this machine; then again with
	// every process on one CPU, which leaves out the cross-CPU wake-ups
	// (pinProcesses).
	if err := r.echoRows(ctx, ""); err != nil {
		return err
	}
	if restore, err := pinProcesses([]int{os.Getpid(), r.gatewayPID, r.backendPID, r.socatPID}); err != nil {
		fmt.Fprintf(os.Stderr, "%v: no echo figures on one CPU\n", err)
	} else {
		err = r.echoRows(ctx, ", one CPU")
		restore()
		if err != nil {
			return err
		}
	}

	// Session set-up, argon2id excluded (the run's user has the minimum
	// cost), then argon2id at the default cost on its own.
	for _, p := range []string{pathDirect, pathFull, pathRaw} {
		d, err := setupTime(ctx, &r.ep, p, s.setups)
		if err != nil {
			return fmt.Errorf("benchpeer: set-up phase: %w", err)
		}
		r.add("session set-up to data flowing: "+p, us(d), "", "", map[string]string{pathFull: "<= 2 ms"}[p])
	}
	var hashes []time.Duration
	for range 3 {
		start := time.Now()
		if _, err := auth.HashPassword(benchPass, defaultArgon2); err != nil {
			return err
		}
		hashes = append(hashes, time.Since(start))
	}
	r.add("argon2id at the default cost ("+defaultArgon2.String()+")", us(median(hashes)), "", "", "(reported only)")

	// Many streams at once, sized like the bulk transfers: one process
	// carries all of them, on every core.
	allCores()
	perStream, err := r.streamSizes(ctx)
	if err != nil {
		return err
	}
	var agg = map[string][]float64{}
	for range s.reps {
		for _, p := range []string{pathDirect, pathFull} {
			v, err := streams(ctx, &r.ep, p, s.streams, perStream[p], nil)
			if err != nil {
				return fmt.Errorf("benchpeer: streams phase: %w", err)
			}
			agg[p] = append(agg[p], v)
		}
	}
	r.add(fmt.Sprintf("bulk, %d streams: full, aggregate", s.streams), mbps(median(agg[pathFull])),
		fmt.Sprintf("direct %s; %d / %d KiB per stream", mbps(median(agg[pathDirect])), perStream[pathFull]>>10, perStream[pathDirect]>>10),
		ratioSpread(agg[pathFull], agg[pathDirect]), ">= 0.20")

	return r.measureIdle(ctx)
}

// measureIdle measures idle, established sessions: the RSS growth and the
// goroutines per session of a freshly started gateway while they are all
// open, and how long setting them up took. Full-stack sessions are
// measured to the demo backend, so that 10,000 of them fit in the
// container's 20,000 descriptors (one per call in the gateway), and, in
// fewer numbers, to the TCP backend (two per call).
func (r *runner) measureIdle(ctx context.Context) error {
	s := r.s
	for _, c := range []struct {
		path       string
		warm       int64
		count, par int
		what       string
	}{
		{pathIdle, 0, s.idle, 32, "text login, demo backend"},
		{pathRaw, 128 << 10, s.idleWarm, 32, "text login, TCP backend, after 128 KiB each"},
		{pathIdleFull, 0, s.idleFullDemo, s.fullPar, "full, demo backend"},
		{pathFull, 0, s.idleFull, s.fullPar, "full, TCP backend"},
	} {
		if err := r.restartGateway(); err != nil {
			return err
		}
		g0, err := r.goroutines()
		if err != nil {
			return err
		}
		res, err := idleSessions(ctx, &r.ep, c.path, c.warm, c.count, c.par, r.gatewayPID, func() error {
			g1, err := r.goroutines()
			if err != nil {
				return err
			}
			res := float64(g1-g0) / float64(c.count)
			r.add(fmt.Sprintf("idle sessions (%s): gateway goroutines per session", c.what), fmt.Sprintf("%.2f", res), "", "", "")
			if r.profileDir == "" {
				return nil
			}
			return r.idleProfiles("idle-" + c.path)
		})
		if err != nil {
			return err
		}
		if err := r.waitQuiet(ctx, g0); err != nil {
			return err
		}
		r.add(fmt.Sprintf("idle sessions (%s): RSS per session", c.what), fmt.Sprintf("%.1f KiB x %d", res.rssPerSess/1024, res.sessions),
			fmt.Sprintf("RSS %d -> %d MiB", res.rssBefore>>20, res.rssAfter>>20), fmt.Sprintf("set-up %.1f s", res.setupElapsed.Seconds()), "<= 64 KiB x 10,000")
	}
	return nil
}

// transferSize is how many octets a transfer at rate (octets/s) moves in
// d: at least least, at most maxSource.
func transferSize(rate float64, d time.Duration, least int64) int64 {
	n := int64(min(rate*d.Seconds(), maxSource))
	return max(n, least)
}

// pairedRatio is the median of v[i]/base[i].
func pairedRatio(v, base []float64) float64 {
	return median(ratios(v, base))
}

// ratios are v[i]/base[i] where base[i] is not 0.
func ratios(v, base []float64) []float64 {
	var q []float64
	for i := range min(len(v), len(base)) {
		if base[i] > 0 {
			q = append(q, v[i]/base[i])
		}
	}
	return q
}

// ratioSpread is the median of v[i]/base[i] with the lowest and highest.
func ratioSpread(v, base []float64) string {
	q := ratios(v, base)
	if len(q) == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f (%.2f..%.2f)", median(q), slices.Min(q), slices.Max(q))
}

func (r *runner) add(figure, v, base, ratio, target string) {
	r.rows = append(r.rows, row{figure, v, base, ratio, target})
}

// lapmRows folds the lapm package's benchmark results into the table.
func (r *runner) lapmRows(file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		r.add("lapm benchmarks", "not run: "+err.Error(), "", "", "")
		return
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		switch name {
		case "BenchmarkCodec4K":
			r.add("LAPM codec, 4 KiB frames, FCS-32 (one core)", field(f, "MB/s"), "", "", ">= 1000 MB/s")
		case "BenchmarkLinkGoodput33600":
			r.add("33,600 bit/s, BER 1e-5: goodput", field(f, "%physical")+", "+field(f, "octets/s"), "", "", ">= 90 %physical")
		}
	}
}

// field returns "value unit" for the unit in a benchmark result line.
func field(f []string, unit string) string {
	for i := 1; i < len(f); i++ {
		if f[i] == unit {
			return f[i-1] + " " + unit
		}
	}
	return "?"
}

func (r *runner) printTable() {
	w := []int{0, 0, 0, 0, 0}
	cells := func(x row) []string { return []string{x.figure, x.dialgate, x.baseline, x.ratio, x.target} }
	head := row{"figure", "dialgate", "baseline (same run)", "ratio", "target"}
	for _, x := range append([]row{head}, r.rows...) {
		for i, c := range cells(x) {
			w[i] = max(w[i], len(c))
		}
	}
	for i, x := range append([]row{head}, r.rows...) {
		var b strings.Builder
		for j, c := range cells(x) {
			fmt.Fprintf(&b, "| %-*s ", w[j], c)
		}
		fmt.Println(b.String() + "|")
		if i == 0 {
			b.Reset()
			for j := range w {
				b.WriteString("|" + strings.Repeat("-", w[j]+2))
			}
			fmt.Println(b.String() + "|")
		}
	}
}

// spread is the lowest and highest of v, in MB/s.
func spread(v []float64) string {
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f..%.0f MB/s", slices.Min(v)/1e6, slices.Max(v)/1e6)
}

func mbps(bps float64) string { return fmt.Sprintf("%.1f MB/s", bps/1e6) }
func ratio(x float64) string  { return fmt.Sprintf("%.2f", x) }
func us(d time.Duration) string {
	return fmt.Sprintf("%.0f us", float64(d)/float64(time.Microsecond))
}

// profile records CPU profiles of bulk transfers and 1-octet echoes on the
// full and raw paths: the load client (the caller's side) with
// runtime/pprof (CPU, and allocations as a difference against a base
// taken at the start), the gateway with perf record (cpu-clock, so it
// works without hardware counters) when perf is installed, and for both
// processes the read, write and futex system calls and context switches
// (perf stat), with the octets moved, so that they can be put per MiB.
// Profiling is a phase of its own so that it does not disturb the figures.
func (r *runner) profile(ctx context.Context) error {
	defer r.oneCall()() // one call at a time, as the figures were measured
	if err := os.MkdirAll(r.profileDir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{pathFull, pathRaw} {
		for _, kind := range []string{"bulk", "echo"} {
			name := filepath.Join(r.profileDir, p+"-"+kind)
			stop, err := r.startProfiles(name)
			if err != nil {
				return err
			}
			var moved int64
			if kind == "bulk" {
				// Enough samples on fast paths too: at least 3 s.
				for start := time.Now(); time.Since(start) < 3*time.Second; {
					if _, err = throughput(ctx, &r.ep, p, r.s.bulk, 0); err != nil {
						break
					}
					moved += r.s.bulk
				}
			} else {
				_, err = echoLatency(ctx, &r.ep, p, r.s.echoes)
				moved = int64(r.s.echoes + echoWarmup)
			}
			stop()
			if err != nil {
				return err
			}
			if err := os.WriteFile(name+".octets", fmt.Appendf(nil, "%d\n", moved), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("profiles in %s: go tool pprof -top <name>.client.pprof; go tool pprof -sample_index=alloc_space -diff_base <name>.client.allocs-base.pprof -top <name>.client.allocs.pprof; perf report -i <name>.gateway.perf.data (gateway: %s); system calls in <name>.{client,gateway}.perf-stat.txt for the octets in <name>.octets\n", r.profileDir, r.gwBinary)
	return nil
}

// startProfiles starts the client's CPU profile, perf record on the
// gateway and perf stat on both.
func (r *runner) startProfiles(name string) (stop func(), err error) {
	if err := writeAllocs(name + ".client.allocs-base.pprof"); err != nil {
		return nil, err
	}
	f, err := os.Create(name + ".client.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var perfs []*exec.Cmd
	if path, err := exec.LookPath("perf"); err == nil {
		gw := fmt.Sprint(r.gatewayPID)
		events := "syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_futex,context-switches"
		for _, args := range [][]string{
			{"record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o", name + ".gateway.perf.data", "-p", gw},
			{"stat", "-e", events, "-o", name + ".gateway.perf-stat.txt", "-p", gw},
			{"stat", "-e", events, "-o", name + ".client.perf-stat.txt", "-p", fmt.Sprint(os.Getpid())},
		} {
			perf := exec.Command(path, args...)
			perf.Stdout, perf.Stderr = r.log, r.log
			if err := perf.Start(); err == nil {
				perfs = append(perfs, perf)
			}
		}
		if len(perfs) > 0 {
			time.Sleep(300 * time.Millisecond) // perf attaches
		}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		for _, perf := range perfs {
			_ = perf.Process.Signal(os.Interrupt)
			_ = perf.Wait()
		}
		_ = writeAllocs(name + ".client.allocs.pprof")
	}, nil
}

// writeAllocs writes the allocation profile (cumulative since the start).
func writeAllocs(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measureBulk is -bulk-only: single-stream transfers of size octets on
// each path, interleaved with direct TCP, r.s.reps times. It prints every
// transfer and the medians of the caller's and the gateway's CPU per
// octet (cycles at the clock of /proc/cpuinfo) and of the gateway's
// context switches per MB: the figures to compare two builds by.
func (r *runner) measureBulk(ctx context.Context, paths []string, size int64) error {
	defer r.oneCall()()
	_, mhz := cpuInfo()
	type sample struct{ rate, caller, gateway, csw, ccsw float64 }
	got := map[string][]sample{}
	cycles := func(d time.Duration) float64 { return d.Seconds() * mhz * 1e6 / float64(size) }
	order := append([]string{pathDirect}, paths...)
	for i := range r.s.reps {
		for _, p := range order {
			gw := r.relaying(p)
			cs0, cc0 := contextSwitches(gw), contextSwitches(os.Getpid())
			res, err := throughput(ctx, &r.ep, p, size, gw)
			if err != nil {
				return fmt.Errorf("benchpeer: bulk phase: %w", err)
			}
			s := sample{res.bytesPerSec, cycles(res.cpu.self), cycles(res.cpu.gateway), float64(contextSwitches(gw)-cs0) / (float64(size) / 1e6), float64(contextSwitches(os.Getpid())-cc0) / (float64(size) / 1e6)}
			got[p] = append(got[p], s)
			fmt.Printf("%d %-6s %7.1f MB/s  caller %5.2f  gateway %5.2f  total %5.2f cycles/octet  csw/MB caller %5.1f gateway %5.1f\n",
				i, p, s.rate/1e6, s.caller, s.gateway, s.caller+s.gateway, s.ccsw, s.csw)
		}
	}
	for _, p := range order {
		var rate, caller, gateway, total, csw, ccsw []float64
		for _, s := range got[p] {
			rate, caller, gateway = append(rate, s.rate/1e6), append(caller, s.caller), append(gateway, s.gateway)
			total, csw, ccsw = append(total, s.caller+s.gateway), append(csw, s.csw), append(ccsw, s.ccsw)
		}
		fmt.Printf("median %-6s %7.1f MB/s  caller %5.2f  gateway %5.2f  total %5.2f (%.2f..%.2f) cycles/octet  csw/MB caller %5.1f gateway %5.1f\n",
			p, median(rate), median(caller), median(gateway), median(total), slices.Min(total), slices.Max(total), median(ccsw), median(csw))
	}
	return nil
}

// contextSwitches is the sum over pid's threads of their voluntary and
// involuntary context switches (0 for pid 0).
func contextSwitches(pid int) int64 {
	if pid == 0 {
		return 0
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				sum += n
			} else if v, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				sum += n
			}
		}
	}
	return sum
}

// measureStreams is -streams-only: the many-streams phase alone, direct
// TCP and the full path interleaved -reps times, with the CPU each process
// spent per aggregate octet (all of the load client's calls, the gateway,
// the backend; the kernel's work on their behalf included).
func (r *runner) measureStreams(ctx context.Context) error {
	_, mhz := cpuInfo()
	s := r.s
	perStream, err := r.streamSizes(ctx)
	if err != nil {
		return err
	}
	type sample struct{ rate, client, gateway, backend, clientSys, gatewaySys float64 }
	got := map[string][]sample{}
	kernel := func(pid int) time.Duration {
		_, k, _ := statTimes(pid)
		return k
	}
	for i := range s.reps {
		for _, p := range []string{pathDirect, pathFull} {
			cpu := func() (c, g, b time.Duration) {
				c, _ = processCPU(os.Getpid())
				if viaGateway(p) {
					g, _ = processCPU(r.gatewayPID)
				}
				b, _ = processCPU(r.backendPID)
				return c, g, b
			}
			// From when the sessions are set up: counted in, 100 full
			// set-ups (Access Security, the calls' notes and records)
			// added 0.2-2.1 cycles per octet to the gateway's figure
			// (docs/BENCHMARKS.md, twenty-seventh session).
			var ck0, gk0, c0, g0, b0 time.Duration
			v, err := streams(ctx, &r.ep, p, s.streams, perStream[p], func() {
				ck0, gk0 = kernel(os.Getpid()), kernel(r.gatewayPID)
				c0, g0, b0 = cpu()
			})
			if err != nil {
				return fmt.Errorf("benchpeer: streams phase: %w", err)
			}
			c1, g1, b1 := cpu()
			ck1, gk1 := kernel(os.Getpid()), kernel(r.gatewayPID)
			octets := float64(perStream[p] * int64(s.streams))
			cyc := func(d time.Duration) float64 { return d.Seconds() * mhz * 1e6 / octets }
			x := sample{v / 1e6, cyc(c1 - c0), cyc(g1 - g0), cyc(b1 - b0), cyc(ck1 - ck0), 0}
			if viaGateway(p) {
				x.gatewaySys = cyc(gk1 - gk0)
			}
			got[p] = append(got[p], x)
			fmt.Printf("%d %-6s %7.1f MB/s  client %5.2f (kernel %4.2f)  gateway %5.2f (kernel %4.2f)  backend %5.2f  total %5.2f cycles/octet\n",
				i, p, x.rate, x.client, x.clientSys, x.gateway, x.gatewaySys, x.backend, x.client+x.gateway+x.backend)
		}
	}
	var ratios []float64
	for i := range got[pathFull] {
		ratios = append(ratios, got[pathFull][i].rate/got[pathDirect][i].rate)
	}
	for _, p := range []string{pathDirect, pathFull} {
		var rate, client, gateway, backend []float64
		for _, x := range got[p] {
			rate, client, gateway, backend = append(rate, x.rate), append(client, x.client), append(gateway, x.gateway), append(backend, x.backend)
		}
		fmt.Printf("median %-6s %7.1f MB/s  client %5.2f  gateway %5.2f  backend %5.2f cycles/octet\n",
			p, median(rate), median(client), median(gateway), median(backend))
	}
	fmt.Printf("streams_ratio_vs_direct full=%.3f (%.3f..%.3f)\n", median(ratios), slices.Min(ratios), slices.Max(ratios))
	return nil
}

// echoRows measures 1-octet echoes on direct TCP, the socat relay and the
// full and raw paths, interleaved -reps times, and adds their medians to
// the table; what is appended to "echo 1 octet" in the figure's name.
func (r *runner) echoRows(ctx context.Context, what string) error {
	s := r.s
	var lat = map[string][]latencies{}
	for range s.reps {
		for _, p := range []string{pathDirect, pathSocat, pathFull, pathRaw} {
			l, err := echoLatency(ctx, &r.ep, p, s.echoes/s.reps)
			if err != nil {
				return fmt.Errorf("benchpeer: echo phase%s: %w", what, err)
			}
			lat[p] = append(lat[p], l)
		}
	}
	pick := func(p string, f func(latencies) time.Duration) time.Duration {
		var v []time.Duration
		for _, l := range lat[p] {
			v = append(v, f(l))
		}
		return median(v)
	}
	p50 := func(l latencies) time.Duration { return l.p50 }
	p99 := func(l latencies) time.Duration { return l.p99 }
	for _, p := range []string{pathFull, pathRaw, pathSocat} {
		r.add("echo 1 octet"+what+", "+p+": p50 / p99", fmt.Sprintf("%s / %s", us(pick(p, p50)), us(pick(p, p99))),
			fmt.Sprintf("direct %s / %s", us(pick(pathDirect, p50)), us(pick(pathDirect, p99))),
			fmt.Sprintf("+%s p99", us(pick(p, p99)-pick(pathDirect, p99))),
			map[string]string{pathFull: "<= 60 / 200 us"}[p])
	}
	return nil
}

// streamSizes runs one trial of the many-streams phase on direct TCP and
// the full path and returns, per path, the octets per stream that make a
// repetition last about the settings' streamTime.
func (r *runner) streamSizes(ctx context.Context) (map[string]int64, error) {
	s := r.s
	perStream := map[string]int64{}
	for _, p := range []string{pathDirect, pathFull} {
		v, err := streams(ctx, &r.ep, p, s.streams, s.streamBytes, nil)
		if err != nil {
			return nil, fmt.Errorf("benchpeer: streams phase: %w", err)
		}
		perStream[p] = transferSize(v, s.streamTime, s.streamBytes*int64(s.streams)) / int64(s.streams)
	}
	return perStream, nil
}
