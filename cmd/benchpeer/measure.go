package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errCorrupt is returned when received octets differ from the pattern.
var errCorrupt = errors.New("benchpeer: received octets differ from what the backend sent")

// receive reads n pattern octets starting at stream offset 0, checking
// every octet. It returns how many arrived intact before an error.
func receive(r io.Reader, n int64) (int64, error) {
	buf := make([]byte, chunk)
	var off int64
	for off < n {
		k, err := r.Read(buf[:min(int64(len(buf)), n-off)])
		if k > 0 {
			if !bytes.Equal(buf[:k], patternAt(off, k)) {
				return off, fmt.Errorf("%w at offset %d", errCorrupt, off)
			}
			off += int64(k)
		}
		if err != nil {
			if off == n {
				break
			}
			return off, err
		}
	}
	return off, nil
}

// cpuTimes is CPU time used by this process and by the gateway process.
type cpuTimes struct{ self, gateway time.Duration }

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTick = 100

// processCPU returns the CPU time pid has used: the sum over its threads
// of the first field of /proc/<pid>/task/<tid>/schedstat (nanoseconds on
// the CPU), which resolves the few hundred milliseconds of one transfer;
// utime+stime of /proc/<pid>/stat count in 10 ms ticks and are the
// fallback where schedstat is missing. Threads that ended are not counted
// (a Go program keeps its threads).
func processCPU(pid int) (time.Duration, error) {
	if d, err := schedstatCPU(pid); err == nil {
		return d, nil
	}
	return statCPU(pid)
}

func schedstatCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("benchpeer: %s/%s/schedstat: empty", dir, t.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("benchpeer: %s/%s/schedstat: %w", dir, t.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// statCPU reads utime+stime of pid from /proc (10 ms resolution).
func statCPU(pid int) (time.Duration, error) {
	u, k, err := statTimes(pid)
	return u + k, err
}

// statTimes reads utime and stime of pid from /proc (10 ms resolution):
// the CPU time it spent in user space and in the kernel.
func statTimes(pid int) (user, kernel time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may contain spaces).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("benchpeer: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("benchpeer: /proc/%d/stat: short", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("benchpeer: /proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut) * time.Second / clockTick, time.Duration(st) * time.Second / clockTick, nil
}

// rssBytes reads VmRSS of pid.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("benchpeer: no VmRSS for %d", pid)
}

// throughputResult is one bulk transfer.
type throughputResult struct {
	bytesPerSec float64
	cpu         cpuTimes // CPU used during the transfer
}

// throughput moves n octets from the backend to the client over path,
// timed from the first octet's request to the last octet's arrival
// (session set-up excluded), and the CPU this process and gatewayPID
// (0: none) used meanwhile.
func throughput(ctx context.Context, ep *endpoints, path string, n int64, gatewayPID int) (throughputResult, error) {
	p, err := dial(ctx, ep, path, fmt.Sprintf("SRCGO %d", n))
	if err != nil {
		return throughputResult{}, err
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	g0, s0 := gatewayCPU(gatewayPID), selfCPU()
	start := time.Now()
	if _, err := p.Write([]byte{'G'}); err != nil {
		return throughputResult{}, fmt.Errorf("benchpeer: %s: %w", path, err)
	}
	if got, err := receive(p, n); err != nil {
		return throughputResult{}, fmt.Errorf("benchpeer: %s: %d of %d octets: %w", path, got, n, err)
	}
	el := time.Since(start)
	g1, s1 := gatewayCPU(gatewayPID), selfCPU()
	return throughputResult{bytesPerSec: float64(n) / el.Seconds(), cpu: cpuTimes{self: s1 - s0, gateway: g1 - g0}}, nil
}

func gatewayCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	d, _ := processCPU(pid)
	return d
}

// streams moves per octets on each of count sessions of path at once and
// returns the aggregate rate. Sessions are set up first (bounded
// concurrency), then all start together; started, if not nil, is called
// in between, so that what the transfer costs can be measured without
// the set-ups.
func streams(ctx context.Context, ep *endpoints, path string, count int, per int64, started func()) (float64, error) {
	peers := make([]*peer, count)
	defer func() {
		for _, p := range peers {
			if p != nil {
				p.Close()
			}
		}
	}()
	if err := forEach(ctx, count, 16, func(i int) error {
		p, err := dial(ctx, ep, path, fmt.Sprintf("SRCGO %d", per))
		peers[i] = p
		return err
	}); err != nil {
		return 0, err
	}
	if started != nil {
		started()
	}
	start := time.Now()
	if err := forEach(ctx, count, count, func(i int) error {
		if _, err := peers[i].Write([]byte{'G'}); err != nil {
			return err
		}
		_, err := receive(peers[i], per)
		return err
	}); err != nil {
		return 0, fmt.Errorf("benchpeer: %s streams: %w", path, err)
	}
	return float64(per) * float64(count) / time.Since(start).Seconds(), nil
}

// forEach runs fn(0..n-1) with at most par at once and returns the first
// error.
func forEach(ctx context.Context, n, par int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, par)
	)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// latencies are round-trip times of 1-octet echoes.
type latencies struct{ p50, p99 time.Duration }

// echoWarmup is how many round trips echoLatency makes before timing.
const echoWarmup = 200

// echoLatency times count 1-octet round trips over path (after warm-up).
func echoLatency(ctx context.Context, ep *endpoints, path string, count int) (latencies, error) {
	p, err := dial(ctx, ep, path, "ECHO")
	if err != nil {
		return latencies{}, err
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	rtt := make([]time.Duration, 0, count)
	out, in := []byte{'x'}, make([]byte, 1)
	for i := range echoWarmup + count {
		out[0] = patternByte(int64(i))
		start := time.Now()
		if _, err := p.Write(out); err != nil {
			return latencies{}, fmt.Errorf("benchpeer: %s echo: %w", path, err)
		}
		if _, err := io.ReadFull(p, in); err != nil {
			return latencies{}, fmt.Errorf("benchpeer: %s echo: %w", path, err)
		}
		if in[0] != out[0] {
			return latencies{}, fmt.Errorf("benchpeer: %s echo: %w", path, errCorrupt)
		}
		if i >= echoWarmup {
			rtt = append(rtt, time.Since(start))
		}
	}
	slices.Sort(rtt)
	return latencies{p50: rtt[len(rtt)/2], p99: rtt[len(rtt)*99/100]}, nil
}

func patternByte(i int64) byte { return patternBuf[i%patternPeriod] }

// setupTime is the time from starting the TCP connection to the backend's
// first octet arriving (login or handshake included), median of count
// sequential calls.
func setupTime(ctx context.Context, ep *endpoints, path string, count int) (time.Duration, error) {
	d := make([]time.Duration, 0, count)
	for range count {
		start := time.Now()
		p, err := dial(ctx, ep, path, "IDLE")
		if err != nil {
			return 0, err
		}
		d = append(d, time.Since(start))
		p.Close()
	}
	return median(d), nil
}

// closeLoss asks the backend for n octets and an immediate close, and
// returns how many arrived intact before the path reported the end.
func closeLoss(ctx context.Context, ep *endpoints, path string, n int64) (int64, error) {
	p, err := dial(ctx, ep, path, fmt.Sprintf("SRCCLOSE %d", n))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	got, err := receive(p, n)
	if errors.Is(err, errCorrupt) {
		return got, err
	}
	return got, nil
}

// idleResult is the cost of idle established sessions in the gateway.
type idleResult struct {
	sessions     int
	rssPerSess   float64 // octets
	rssBefore    int64
	rssAfter     int64
	setupElapsed time.Duration
}

// idleSessions establishes count sessions over path, each sending IDLE
// to its backend (or, with warm > 0, first receiving warm octets so that
// the session's buffers have been used), and measures the gateway's RSS growth while all are
// open. It hangs them all up before returning.
// While they are open it calls during (if not nil).
func idleSessions(ctx context.Context, ep *endpoints, path string, warm int64, count, par int, gatewayPID int, during func() error) (idleResult, error) {
	before, err := rssBytes(gatewayPID)
	if err != nil {
		return idleResult{}, err
	}
	peers := make([]*peer, count)
	defer func() {
		_ = forEach(context.Background(), count, 64, func(i int) error {
			if peers[i] != nil {
				peers[i].Close()
			}
			return nil
		})
	}()
	// Not all at once: the caller's T400 (750 ms) bounds how long the
	// gateway may take to answer detection.
	start := time.Now()
	cmd := "IDLE"
	if warm > 0 {
		cmd = fmt.Sprintf("SRC %d", warm)
	}
	err = forEach(ctx, count, par, func(i int) error {
		p, err := dial(ctx, ep, path, cmd)
		peers[i] = p
		if err == nil && warm > 0 {
			_, err = receive(p, warm)
		}
		return err
	})
	el := time.Since(start)
	if err != nil {
		return idleResult{}, fmt.Errorf("benchpeer: %s idle sessions: %w", path, err)
	}
	// Let the gateway settle (timers, buffers released after set-up).
	time.Sleep(2 * time.Second)
	after, err := rssBytes(gatewayPID)
	if err != nil {
		return idleResult{}, err
	}
	if during != nil {
		if err := during(); err != nil {
			return idleResult{}, err
		}
	}
	return idleResult{sessions: count, rssBefore: before, rssAfter: after, rssPerSess: float64(after-before) / float64(count), setupElapsed: el}, nil
}

func median[T int64 | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// closeLossUp sends n octets from the client over path and hangs up at
// once, then asks the backend (directly) how many arrived intact.
func closeLossUp(ctx context.Context, ep *endpoints, path string, n int64) (int64, error) {
	id := fmt.Sprintf("%s-%d", path, time.Now().UnixNano())
	p, err := dial(ctx, ep, path, "SINK "+id)
	if err != nil {
		return 0, err
	}
	for off := int64(0); off < n; {
		k := int(min(chunk, n-off))
		if _, err := p.Write(patternAt(off, k)); err != nil {
			p.Close()
			return 0, fmt.Errorf("benchpeer: %s: sending: %w", path, err)
		}
		off += int64(k)
	}
	p.Close()
	// The backend records the count when its side of the call ends.
	for {
		got, err := sinkCount(ctx, ep, id)
		if err != nil || got >= 0 {
			return got, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sinkCount asks the backend for the count recorded under id (-1: none
// yet).
func sinkCount(ctx context.Context, ep *endpoints, id string) (int64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ep.backend)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "COUNT "+id+"\n"); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 32))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("benchpeer: COUNT answered %q", b)
	}
	return n, nil
}
