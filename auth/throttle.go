package auth

import (
	"context"
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
// Failures are counted per user (from every source) and per source (for
// every user); a source is an IPv4 address or an IPv6 /64 (SourceKey).
// The back-off after n recent failures is Backoff(n, FreeFailures,
// BaseDelay, MaxDelay), counted from the last failure; one failure is
// forgotten per DecayInterval without failures. Once a user or source has
// a failure, an attempt admitted and not yet resolved (see Admit) counts
// as a failure made now, so attempts run at once get no more than
// attempts run one after another; an attempt held back only by those
// waits for them to end (AdmitWait) rather than being refused. Before
// a user or source has a failure, attempts in flight do not count, so
// that logins started together (a shared guest account) do not hold one
// another back.
//
// A source from which a user logged in within TrustFor is trusted for
// that user (the TrustedSources most recent ones): an attempt at the user
// from there is held back by the source's count only, not by the user's,
// so that guesses from elsewhere cannot keep the user out of the places
// they log in from. Failures there still count against the user
// elsewhere. A login brings the user's count (not the source's) down to
// FreeFailures-1 if it was higher, so that an account many callers share
// is not held back for everyone by a few of them mistyping. Trust is kept
// in memory only.
//
// An attacker who keeps guessing is held to about one guess per MaxDelay
// per source, and per user over all the sources not trusted for that
// user, except that each login of the user starts the user's back-off
// again (one more guess at once, then the ramp: about a dozen guesses at
// the defaults); only from the user's own trusted sources, if it can send
// from them, does it get up to one more per MaxDelay each. What it can still do
// is hold the user back at sources not trusted for them: new ones, and
// every one after a restart. There is no permanent lockout: when the
// guessing stops, an attempt is admitted at most MaxDelay after the last
// failure counted against its user and its source (and once the attempts
// in flight for them have ended).
type ThrottleConfig struct {
	FreeFailures        int           // failures before any delay (default 3)
	BaseDelay           time.Duration // delay after the first delayed failure (default 1 s)
	MaxDelay            time.Duration // cap on the delay (default 5 min)
	DecayInterval       time.Duration // one failure forgotten per interval (default 10 min)
	MaxPendingPerSource int           // handshakes in progress per source (default 4)
	MaxEntries          int           // remembered users, and sources, each (default 65536)
	TrustedSources      int           // trusted sources remembered per user (default 4; negative: none)
	TrustFor            time.Duration // trust after the user's last login from a source (default 30 days)
	Now                 func() time.Time
}

// Throttle holds the failure counts per user and per source address, the
// sources each user logged in from recently, and the handshakes in
// progress per source. It is safe for concurrent use; the nil *Throttle
// throttles nothing. Memory is bounded by MaxEntries per table (users,
// sources, users with trusted sources, TrustedSources each), plus the
// entries of attempts in flight: entries that have decayed to zero or
// expired go first, then the oldest.
type Throttle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	users   map[string]throttleEntry
	sources map[string]throttleEntry
	trusted map[string][]trustedSource // newest first
	pending map[string]int
	// changed is closed, and replaced, whenever an attempt ends (for
	// AdmitWait).
	changed chan struct{}
}

// trustedSource is a source a user logged in from, and when they last did.
type trustedSource struct {
	src  string
	last time.Time
}

type throttleEntry struct {
	failures int       // failures as of last
	last     time.Time // time of the last failure
	inFlight int       // attempts admitted and not yet resolved
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
	switch {
	case cfg.TrustedSources == 0:
		cfg.TrustedSources = 4
	case cfg.TrustedSources < 0:
		cfg.TrustedSources = 0
	}
	if cfg.TrustFor <= 0 {
		cfg.TrustFor = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{
		cfg: cfg, users: map[string]throttleEntry{}, sources: map[string]throttleEntry{},
		trusted: map[string][]trustedSource{}, pending: map[string]int{}, changed: make(chan struct{}),
	}
}

// SetLimits changes BaseDelay, MaxDelay and MaxPendingPerSource (zero or
// less: their defaults) from now on; the failures counted so far stay,
// and the delays owed for them follow the new limits (a reload: an
// operator who tightens the throttle during an attack means it at once).
func (t *Throttle) SetLimits(base, maxDelay time.Duration, maxPending int) {
	if t == nil {
		return
	}
	c := NewThrottle(ThrottleConfig{BaseDelay: base, MaxDelay: maxDelay, MaxPendingPerSource: maxPending}).cfg
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.BaseDelay, t.cfg.MaxDelay, t.cfg.MaxPendingPerSource = c.BaseDelay, c.MaxDelay, c.MaxPendingPerSource
	t.wakeLocked()
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

// remaining is how long e still holds the next attempt back. Once e has a
// failure to its name, attempts in flight may yet fail, now at the
// earliest: they count as failures made now, so that while one is in
// flight another is admitted only within the free failures, and guesses
// started together get no more checks than guesses made one after
// another. Without a failure they do not count: logins that start
// together (a shared guest account, callers behind one address, the many
// sessions of one user) must not hold one another back. The first burst
// of guesses at an account with no failure is bounded by the hashing
// slots and their queue, and per address by the logins in progress
// (MaxPendingPerSource); its failures then count.
func (t *Throttle) remaining(e throttleEntry, now time.Time, inFlight bool) time.Duration {
	n := DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval)
	last := e.last
	if inFlight && e.inFlight > 0 && n > 0 {
		n += e.inFlight
		last = now
	}
	return last.Add(Backoff(n, t.cfg.FreeFailures, t.cfg.BaseDelay, t.cfg.MaxDelay)).Sub(now)
}

// Delay returns how long user and source must still wait before another
// attempt is evaluated; 0 means go ahead. An empty user or source is not
// checked, nor is the user from a source trusted for them. While attempts
// are in flight it is the least wait, assuming they fail now. Delay only
// looks; Admit looks and reserves at once.
func (t *Throttle) Delay(user, source string) time.Duration {
	if t == nil {
		return 0
	}
	now := t.cfg.Now()
	src := SourceKey(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	d, _ := t.delayLocked(user, src, now)
	return d
}

// delayLocked returns the wait for user and src with the attempts in
// flight counted (d) and without them (settled): when only d is above
// zero, the wait ends as soon as those attempts end.
func (t *Throttle) delayLocked(user, src string, now time.Time) (d, settled time.Duration) {
	if e, ok := t.users[user]; ok && user != "" && !t.trustedLocked(user, src, now) {
		d = max(d, t.remaining(e, now, true))
		settled = max(settled, t.remaining(e, now, false))
	}
	if e, ok := t.sources[src]; ok && src != "" {
		d = max(d, t.remaining(e, now, true))
		settled = max(settled, t.remaining(e, now, false))
	}
	return max(d, 0), max(settled, 0)
}

// Attempt is one password check admitted by Throttle.Admit. Until it is
// resolved it counts as a failure of its user and its source, made now,
// for every other Admit and Delay. Resolve it exactly once, with Failure,
// Success or Abandon; only the first of these calls counts, so a deferred
// Abandon is a safe catch-all. The nil *Attempt (from the nil *Throttle)
// does nothing.
type Attempt struct {
	t         *Throttle
	user, src string
	done      bool // guarded by t.mu
}

// Admit checks and reserves in one step: if user and source must still
// wait it returns nil and the wait (see Delay); otherwise it returns an
// Attempt that counts against both until it is resolved. A caller that
// checks a password after waiting for a hashing slot must Admit before
// waiting: checking first and recording the failure after the hash would
// let every attempt started at once past the back-off.
func (t *Throttle) Admit(user, source string) (*Attempt, time.Duration) {
	if t == nil {
		return nil, 0
	}
	now := t.cfg.Now()
	src := SourceKey(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	a, d, _ := t.admitLocked(user, src, now)
	return a, d
}

// AdmitWait is Admit, except that an attempt held back only by other
// attempts in flight for its user or source waits for them to end (at
// most until ctx ends) and is then looked at again, instead of being
// refused: a login that comes while another is being checked is not
// turned away because that other might fail (callers logging in to a
// shared account at once, or from behind one address, after one of them
// mistyped), and guesses sent at once are still checked one after
// another. It returns ctx's error if ctx ends first.
func (t *Throttle) AdmitWait(ctx context.Context, user, source string) (*Attempt, time.Duration, error) {
	if t == nil {
		return nil, 0, nil
	}
	src := SourceKey(source)
	for {
		t.mu.Lock()
		a, d, settled := t.admitLocked(user, src, t.cfg.Now())
		changed := t.changed
		t.mu.Unlock()
		if a != nil || settled > 0 {
			return a, d, nil
		}
		// Woken when an attempt ends; and after recheckWait anyway,
		// since failures also decay with time and nothing wakes the
		// waiters for that.
		timer := time.NewTimer(recheckWait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, d, ctx.Err()
		}
		timer.Stop()
	}
}

// recheckWait bounds how long AdmitWait waits before it looks again.
const recheckWait = time.Second

// admitLocked admits an attempt if user and src need not wait; otherwise
// it returns the waits, with and without the attempts in flight.
func (t *Throttle) admitLocked(user, src string, now time.Time) (a *Attempt, d, settled time.Duration) {
	if d, settled = t.delayLocked(user, src, now); d > 0 {
		return nil, d, settled
	}
	if user != "" {
		t.begin(t.users, user, now)
	}
	if src != "" {
		t.begin(t.sources, src, now)
	}
	return &Attempt{t: t, user: user, src: src}, 0, 0
}

func (t *Throttle) begin(m map[string]throttleEntry, key string, now time.Time) {
	e, ok := m[key]
	if !ok && len(m) >= t.cfg.MaxEntries {
		t.evict(m, now)
	}
	e.inFlight++
	m[key] = e
}

// Failure resolves a as a failed login (see Throttle.Failure).
func (a *Attempt) Failure() { a.resolve(outcomeFailure) }

// Success resolves a as a successful login (see Throttle.Success).
func (a *Attempt) Success() { a.resolve(outcomeSuccess) }

// Abandon resolves a as no login at all: no password was checked (the
// verifier was busy, the caller gave up). It counts neither way.
func (a *Attempt) Abandon() { a.resolve(outcomeNone) }

type outcome int

const (
	outcomeNone outcome = iota
	outcomeFailure
	outcomeSuccess
)

// resolve records a's outcome and takes a out of flight in one step, so
// that no Admit can come between the two.
func (a *Attempt) resolve(o outcome) {
	if a == nil {
		return
	}
	t := a.t
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	switch o {
	case outcomeFailure:
		t.failLocked(a.user, a.src, now)
	case outcomeSuccess:
		t.successLocked(a.user, a.src, now)
	}
	t.end(t.users, a.user, now)
	t.end(t.sources, a.src, now)
	t.wakeLocked()
}

// wakeLocked wakes the attempts waiting in AdmitWait to look again. All of
// them wake, whatever user and source they wait for: at most the logins
// in progress (max_pending_per_source per address) wait, each for about
// one password check.
func (t *Throttle) wakeLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// end takes one attempt in flight off key's entry, and drops the entry if
// nothing else is left in it.
func (t *Throttle) end(m map[string]throttleEntry, key string, now time.Time) {
	e, ok := m[key]
	if key == "" || !ok {
		return
	}
	e.inFlight = max(e.inFlight-1, 0)
	if e.inFlight == 0 && DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval) == 0 {
		delete(m, key)
		return
	}
	m[key] = e
}

// Failure records a failed attempt by user from source that was not
// admitted with Admit.
func (t *Throttle) Failure(user, source string) {
	if t == nil {
		return
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(user, SourceKey(source), now)
}

func (t *Throttle) failLocked(user, src string, now time.Time) {
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
// Entries with attempts in flight stay (their attempts must find them when
// they end); there are only as many of them as attempts run at once.
func (t *Throttle) evict(m map[string]throttleEntry, now time.Time) {
	for k, e := range m {
		if e.inFlight == 0 && DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval) == 0 {
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
		if e.inFlight == 0 {
			all = append(all, aged{k, e.last})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last.Before(all[j].last) })
	for _, a := range all[:min(len(all), len(m)-target)] {
		delete(m, a.key)
	}
}

// Success records a successful login by user from source: the user's
// failure count is cleared (not the source's: one good account must not
// whitewash a source that guesses at others), and the source becomes
// trusted for user (see ThrottleConfig), the most recent of the user's
// trusted sources; the oldest beyond TrustedSources is forgotten.
func (t *Throttle) Success(user, source string) {
	if t == nil {
		return
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.successLocked(user, SourceKey(source), now)
	t.wakeLocked()
}

func (t *Throttle) successLocked(user, src string, now time.Time) {
	if e, ok := t.users[user]; ok && user != "" {
		// A login ends the user's back-off (not the source's): an
		// account many callers share (a BBS's guest login) is not held
		// back for everyone by a few of them mistyping. It brings the
		// count down to just below the free failures, not to zero: at
		// zero the attempts in flight would not count, and an attacker
		// guessing at the account would get a burst of concurrent
		// guesses after every login of its owner.
		if n := DecayedFailures(e.failures, now.Sub(e.last), t.cfg.DecayInterval); n >= t.cfg.FreeFailures {
			e.failures, e.last = t.cfg.FreeFailures-1, now
			t.users[user] = e
		}
	}
	if user == "" || src == "" || t.cfg.TrustedSources == 0 {
		return
	}
	old, ok := t.trusted[user]
	if !ok && len(t.trusted) >= t.cfg.MaxEntries {
		t.evictTrusted(now)
	}
	list := make([]trustedSource, 0, min(len(old)+1, t.cfg.TrustedSources))
	list = append(list, trustedSource{src: src, last: now})
	for _, ts := range old {
		if len(list) == t.cfg.TrustedSources {
			break
		}
		if ts.src != src && now.Sub(ts.last) < t.cfg.TrustFor {
			list = append(list, ts)
		}
	}
	t.trusted[user] = list
}

// Trusted reports whether source (SourceKey) is trusted for user: they
// logged in from it within TrustFor, and it is among their TrustedSources
// most recent. False for a nil Throttle.
func (t *Throttle) Trusted(user, source string) bool {
	if t == nil || user == "" {
		return false
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trustedLocked(user, SourceKey(source), now)
}

// trustedLocked reports whether user logged in from src within TrustFor
// (and src is still among the user's TrustedSources most recent).
func (t *Throttle) trustedLocked(user, src string, now time.Time) bool {
	if src == "" {
		return false
	}
	for _, ts := range t.trusted[user] {
		if ts.src == src {
			return now.Sub(ts.last) < t.cfg.TrustFor
		}
	}
	return false
}

// evictTrusted makes room in the trusted table: it drops every user whose
// trusted sources have all expired, then, if the table is still over 90%
// full, the users whose last login is oldest. Only logins fill it, so it
// holds at most as many users as log in within TrustFor.
func (t *Throttle) evictTrusted(now time.Time) {
	for u, list := range t.trusted {
		if now.Sub(list[0].last) >= t.cfg.TrustFor {
			delete(t.trusted, u)
		}
	}
	target := t.cfg.MaxEntries * 9 / 10
	if len(t.trusted) <= target {
		return
	}
	type aged struct {
		user string
		last time.Time
	}
	all := make([]aged, 0, len(t.trusted))
	for u, list := range t.trusted {
		all = append(all, aged{u, list[0].last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last.Before(all[j].last) })
	for _, a := range all[:len(all)-target] {
		delete(t.trusted, a.user)
	}
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
