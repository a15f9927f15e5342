package auth

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ErrTooManyPending is wrapped by Throttle.BeginHandshake when a source
// already has the maximum number of handshakes in progress.
var ErrTooManyPending = errors.New("auth: too many pending handshakes from this source")

// ThrottleConfig configures a Throttle. Zero fields take the defaults
// given.
//
// The back-off after n recent failures is Backoff(n, FreeFailures,
// BaseDelay, MaxDelay), counted from the last failure; one failure is
// forgotten per DecayInterval without failures. An attacker who keeps
// guessing is held to about one guess per MaxDelay per user and per
// source; when the guessing stops, the user can log in again at most
// MaxDelay after the last failure. There is no permanent lockout.
type ThrottleConfig struct {
	FreeFailures        int           // failures before any delay (default 3)
	BaseDelay           time.Duration // delay after the first delayed failure (default 1 s)
	MaxDelay            time.Duration // cap on the delay (default 5 min)
	DecayInterval       time.Duration // one failure forgotten per interval (default 10 min)
	MaxPendingPerSource int           // handshakes in progress per source (default 4)
	MaxEntries          int           // remembered users, and sources, each (default 65536)
	Now                 func() time.Time
}

// Throttle holds the failure counts per user and per source address and
// the handshakes in progress per source. It is safe for concurrent use;
// the nil *Throttle throttles nothing. Memory is bounded by MaxEntries per
// table: entries that have decayed to zero go first, then the oldest.
type Throttle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	users   map[string]throttleEntry
	sources map[string]throttleEntry
	pending map[string]int
}

type throttleEntry struct {
	failures int       // failures as of last
	last     time.Time // time of the last failure
}

// NewThrottle returns a throttle with cfg's settings.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.FreeFailures <= 0 {
		cfg.FreeFailures = 3
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 5 * time.Minute
	}
	if cfg.DecayInterval <= 0 {
		cfg.DecayInterval = 10 * time.Minute
	}
	if cfg.MaxPendingPerSource <= 0 {
		cfg.MaxPendingPerSource = 4
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1 << 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{
		cfg: cfg, users: map[string]throttleEntry{}, sources: map[string]throttleEntry{},
		pending: map[string]int{},
	}
}

// Backoff is the delay after failures recent failures: none up to free,
// then base, doubling with each further failure, capped at maxDelay.
func Backoff(failures, free int, base, maxDelay time.Duration) time.Duration {
	n := failures - free
	if n <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		if d > maxDelay/2 {
			return maxDelay
		}
		d *= 2
	}
	return min(d, maxDelay)
}

// DecayedFailures is the failure count after quiet time without failures:
// one failure is forgotten per interval.
func DecayedFailures(failures int, quiet, interval time.Duration) int {
	if quiet <= 0 {
		return failures
	}
	forgotten := quiet / interval
	if forgotten >= time.Duration(failures) {
		return 0
	}
	return failures - int(forgotten)
}

func (t *Throttle) remaining(e throttleEntry, now time.Time) time.Duration {
	n := DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval)
	return e.last.Add(Backoff(n, t.cfg.FreeFailures, t.cfg.BaseDelay, t.cfg.MaxDelay)).Sub(now)
}

// Delay returns how long user and source must still wait before another
// attempt is evaluated; 0 means go ahead. An empty user or source is not
// checked.
func (t *Throttle) Delay(user, source string) time.Duration {
	if t == nil {
		return 0
	}
	now := t.cfg.Now()
	src := SourceKey(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	if e, ok := t.users[user]; ok && user != "" {
		d = max(d, t.remaining(e, now))
	}
	if e, ok := t.sources[src]; ok && src != "" {
		d = max(d, t.remaining(e, now))
	}
	return max(d, 0)
}

// Failure records a failed attempt by user from source.
func (t *Throttle) Failure(user, source string) {
	if t == nil {
		return
	}
	now := t.cfg.Now()
	src := SourceKey(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	if user != "" {
		t.fail(t.users, user, now)
	}
	if src != "" {
		t.fail(t.sources, src, now)
	}
}

func (t *Throttle) fail(m map[string]throttleEntry, key string, now time.Time) {
	e, ok := m[key]
	if !ok && len(m) >= t.cfg.MaxEntries {
		t.evict(m, now)
	}
	e.failures = DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval) + 1
	e.last = now
	m[key] = e
}

// evict makes room in m: it drops every entry that has decayed to zero,
// then, if m is still over 90% full, the entries with the oldest failures.
func (t *Throttle) evict(m map[string]throttleEntry, now time.Time) {
	for k, e := range m {
		if DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval) == 0 {
			delete(m, k)
		}
	}
	target := t.cfg.MaxEntries * 9 / 10
	if len(m) <= target {
		return
	}
	type aged struct {
		key  string
		last time.Time
	}
	all := make([]aged, 0, len(m))
	for k, e := range m {
		all = append(all, aged{k, e.last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last.Before(all[j].last) })
	for _, a := range all[:len(all)-target] {
		delete(m, a.key)
	}
}

// Success records a successful login: it clears user's failures. The
// source's failures stay (one good account must not whitewash a source
// that guesses at others).
func (t *Throttle) Success(user, source string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	delete(t.users, user)
	t.mu.Unlock()
}

// Len returns the number of users and sources remembered.
func (t *Throttle) Len() (users, sources int) {
	if t == nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.users), len(t.sources)
}

// BeginHandshake admits one more handshake from source, or fails with
// ErrTooManyPending when MaxPendingPerSource are already in progress. The
// caller must call release (once; later calls do nothing) when the
// handshake ends, however it ends.
func (t *Throttle) BeginHandshake(source string) (release func(), err error) {
	if t == nil {
		return func() {}, nil
	}
	src := SourceKey(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[src] >= t.cfg.MaxPendingPerSource {
		return nil, fmt.Errorf("%w (%d from %s)", ErrTooManyPending, t.pending[src], src)
	}
	t.pending[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.pending[src]--; t.pending[src] <= 0 {
				delete(t.pending, src)
			}
		})
	}, nil
}

// Pending returns the number of handshakes in progress from source.
func (t *Throttle) Pending(source string) int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending[SourceKey(source)]
}

// SourceKey reduces a remote address to the unit throttled together: an
// IPv4 address, or the /64 network of an IPv6 address (one subscriber
// usually holds a whole /64); the port is dropped. An address that is not
// IP ("pipe", a test name) is used as it is.
func SourceKey(addr string) string {
	host := addr
	if h, port, err := net.SplitHostPort(addr); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err == nil {
			host = h
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
