package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Errors of the verifier.
var (
	// ErrDenied is the one answer for an unknown user, a wrong password, a
	// disabled or expired account, and a throttled user or source. Verify
	// returns this very value (not wrapped), so the cases cannot be told
	// apart by the error either.
	ErrDenied = errors.New("auth: access denied")
	// ErrBusy is returned by Verify when every hashing slot is taken and
	// the queue is full: the gateway sheds load instead of running out of
	// memory. The protocol answers "busy".
	ErrBusy = errors.New("auth: busy: too many password checks in progress")
	// ErrBadHash is wrapped for a malformed argon2id PHC string or
	// unacceptable parameters.
	ErrBadHash = errors.New("auth: malformed argon2id hash")
)

// Argon2Params are argon2id cost parameters (RFC 9106 §3.1).
type Argon2Params struct {
	Time      uint32 // t: passes over memory
	MemoryKiB uint32 // m: memory in KiB
	Threads   uint8  // p: lanes (degree of parallelism)
}

// DefaultArgon2Params is RFC 9106 §4's second recommended option, the
// "uniformly safe" choice when 2 GiB per hash is too much: t=3, m=64 MiB,
// p=4. A gateway verifies several logins at once (Verifier bounds that to
// about one per core), so 64 MiB per hash keeps the peak near 128 MiB on two
// cores while a hash still costs an attacker 64 MiB x 3 passes per guess.
var DefaultArgon2Params = Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Sizes and bounds of stored hashes.
const (
	argon2SaltLen   = 16 // RFC 9106 §4: 128-bit salt
	argon2KeyLen    = 32 // RFC 9106 §4: 256-bit tag
	argon2MinSalt   = 8
	argon2MaxSalt   = 64
	argon2MinKey    = 16
	argon2MaxKey    = 64
	argon2MaxTime   = 64
	argon2MaxMemory = 4 << 20 // KiB: 4 GiB
)

// check reports parameters argon2id cannot run or that would let a users
// file exhaust the machine.
func (p Argon2Params) check() error {
	switch {
	case p.Time < 1 || p.Time > argon2MaxTime:
		return fmt.Errorf("%w: t=%d outside 1..%d", ErrBadHash, p.Time, argon2MaxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: p=0", ErrBadHash)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > argon2MaxMemory:
		return fmt.Errorf("%w: m=%d KiB outside %d..%d (8 KiB per lane)", ErrBadHash, p.MemoryKiB, 8*uint32(p.Threads), argon2MaxMemory)
	}
	return nil
}

func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// HashPassword hashes password with argon2id and a fresh random 128-bit
// salt, returning the PHC string
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (base64
// without padding), the form stored in the users file.
func HashPassword(password string, p Argon2Params) (string, error) {
	if password == "" || len(password) > MaxPasswordLen {
		return "", fmt.Errorf("auth: password length %d outside 1..%d", len(password), MaxPasswordLen)
	}
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	h := argon2Hash{p: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argon2KeyLen)}
	return h.String(), nil
}

// argon2Hash is a parsed PHC string.
type argon2Hash struct {
	p         Argon2Params
	salt, key []byte
}

func (h argon2Hash) String() string {
	enc := base64.RawStdEncoding
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) + "$" + h.p.String() + "$" +
		enc.EncodeToString(h.salt) + "$" + enc.EncodeToString(h.key)
}

// parseArgon2Hash strictly parses $argon2id$v=19$m=M,t=T,p=P$salt$hash:
// exactly that parameter order, no keyid or data, canonical unpadded
// base64, bounded sizes.
func parseArgon2Hash(s string) (argon2Hash, error) {
	var h argon2Hash
	bad := func(why string) (argon2Hash, error) { return argon2Hash{}, fmt.Errorf("%w: %s", ErrBadHash, why) }
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if f[1] != "argon2id" {
		return bad(fmt.Sprintf("algorithm %q is not argon2id", f[1]))
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad(fmt.Sprintf("version %q is not v=%d", f[2], argon2.Version))
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("parameters must be m=...,t=...,p=...")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return bad("parameters must be m=...,t=...,p=... in that order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || (len(v) > 1 && v[0] == '0') {
			return bad(fmt.Sprintf("parameter %s%s is not a decimal number", name, v))
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return bad(fmt.Sprintf("p=%d exceeds 255", vals[2]))
	}
	h.p = Argon2Params{MemoryKiB: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	if err := h.p.check(); err != nil {
		return argon2Hash{}, err
	}
	if strings.ContainsAny(f[4]+f[5], "\r\n") { // the decoder would skip them
		return bad("line break inside the salt or hash")
	}
	enc := base64.RawStdEncoding.Strict()
	var err error
	if h.salt, err = enc.DecodeString(f[4]); err != nil {
		return bad("salt is not unpadded base64")
	}
	if len(h.salt) < argon2MinSalt || len(h.salt) > argon2MaxSalt {
		return bad(fmt.Sprintf("salt of %d octets outside %d..%d", len(h.salt), argon2MinSalt, argon2MaxSalt))
	}
	if h.key, err = enc.DecodeString(f[5]); err != nil {
		return bad("hash is not unpadded base64")
	}
	if len(h.key) < argon2MinKey || len(h.key) > argon2MaxKey {
		return bad(fmt.Sprintf("hash of %d octets outside %d..%d", len(h.key), argon2MinKey, argon2MaxKey))
	}
	return h, nil
}

// VerifierConfig configures a Verifier. Zero fields take the defaults
// given.
type VerifierConfig struct {
	// Argon2 is the cost of new hashes and of the dummy hash checked for
	// unknown users; it also sets the memory one hashing slot stands for.
	// Default DefaultArgon2Params.
	Argon2 Argon2Params
	// MaxConcurrent is the number of hashing slots; the argon2id memory in
	// use never exceeds MaxConcurrent x Argon2.MemoryKiB (a stored hash with
	// a larger m takes several slots; one larger than all of them together
	// is never run: its user is denied, with the reason in the log).
	// Default runtime.GOMAXPROCS(0).
	MaxConcurrent int
	// MaxQueue is how many verifications may wait for a slot; beyond it
	// Verify fails at once with ErrBusy. Default 8 x MaxConcurrent;
	// negative means no queue.
	MaxQueue int
	// MinFailureTime is the least time a denied Verify takes, measured from
	// its start, so that unknown users, wrong passwords, disabled accounts
	// and throttled attempts all take the same time. Default 1 s; it should
	// exceed the time of one hash plus a typical queue wait.
	MinFailureTime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// Logf, if set, receives one line per denial with the true reason,
	// for the operator's log (never for the peer).
	Logf func(format string, args ...any)
	// LogfContext, if set, receives those lines instead of Logf, with
	// the ctx of the Verify call, which may carry what the caller needs
	// to name the call in its log (a session number).
	LogfContext func(ctx context.Context, format string, args ...any)
	// LogDenial, if set, receives each denial instead of Logf and
	// LogfContext, its parts apart for a structured log.
	LogDenial func(ctx context.Context, d Denial)
}

// Denial is one denied login, for the operator's log: Line is the whole
// line ("login \"alice\" from 198.51.100.7:50312 denied: wrong
// password"), which a log must keep as it is (fail2ban filters match it);
// the rest are its parts. User is empty for a name that is no account
// (see loggedName).
type Denial struct {
	Line, User, Source, Reason string
}

const defaultMinFailureTime = time.Second

// Verifier checks passwords against the user store. It is safe for
// concurrent use. Hashing runs behind a global semaphore with a bounded
// FIFO queue; see VerifierConfig.
type Verifier struct {
	users     atomic.Pointer[Users]
	th        *Throttle
	params    Argon2Params
	slots     int
	minFail   time.Duration
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	logDenial func(context.Context, Denial)
	dummy     argon2Hash
	lim       hashLimiter

	hashing, peak atomic.Int64
	hashes        atomic.Uint64
	testHook      func() // runs inside the counted hashing section (tests)
}

// NewVerifier returns a verifier over users (nil means none), throttled by
// th (nil means no throttling).
func NewVerifier(users *Users, cfg VerifierConfig, th *Throttle) *Verifier {
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2Params
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	switch {
	case cfg.MaxQueue == 0:
		cfg.MaxQueue = 8 * cfg.MaxConcurrent
	case cfg.MaxQueue < 0:
		cfg.MaxQueue = 0
	}
	if cfg.MinFailureTime <= 0 {
		cfg.MinFailureTime = defaultMinFailureTime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.LogfContext == nil {
		logf := cfg.Logf
		if logf == nil {
			logf = func(string, ...any) {}
		}
		cfg.LogfContext = func(_ context.Context, format string, args ...any) { logf(format, args...) }
	}
	if cfg.LogDenial == nil {
		logf := cfg.LogfContext
		cfg.LogDenial = func(ctx context.Context, d Denial) { logf(ctx, "%s", d.Line) }
	}
	v := &Verifier{
		th: th, params: cfg.Argon2, slots: cfg.MaxConcurrent, minFail: cfg.MinFailureTime,
		now: cfg.Now, sleep: cfg.Sleep, logDenial: cfg.LogDenial,
		lim: hashLimiter{capacity: cfg.MaxConcurrent, maxQueue: cfg.MaxQueue},
	}
	if users == nil {
		users = NewUsers()
	}
	v.users.Store(users)
	// The dummy hash is random and matches no password (probability
	// 2^-256); checking it costs what checking a real hash with the
	// configured parameters costs.
	v.dummy = argon2Hash{p: cfg.Argon2, salt: make([]byte, argon2SaltLen), key: make([]byte, argon2KeyLen)}
	_, _ = rand.Read(v.dummy.salt)
	_, _ = rand.Read(v.dummy.key)
	return v
}

// SetUsers atomically replaces the user store (reload); verifications
// already running finish against the store they started with.
func (v *Verifier) SetUsers(u *Users) {
	if u == nil {
		u = NewUsers()
	}
	v.users.Store(u)
}

// Users returns the current user store.
func (v *Verifier) Users() *Users { return v.users.Load() }

// Verify checks userID's password, on behalf of a caller at source (a
// remote address; see Throttle). It returns the account on success;
// ErrDenied (the same value for every reason) after at least
// MinFailureTime; ErrBusy at once when the hashing queue is full; or an
// error wrapping ctx.Err() when ctx ends while waiting for a slot or for
// other attempts at the same user or source to end (Throttle.AdmitWait).
//
// Every attempt that gets a slot runs exactly one argon2id computation:
// against the account's hash, or against a dummy hash with the configured
// parameters when the account does not exist. Attempts refused by the
// throttle run none (the padding hides the difference). An attempt counts
// against the throttle from the moment it is admitted, before it waits for
// a slot, so that attempts started at once are held to the same back-off
// as attempts made one after another (see Throttle.Admit).
func (v *Verifier) Verify(ctx context.Context, userID, password, source string) (User, error) {
	start := v.now()
	u, err := v.verify(ctx, userID, password, source)
	if err == ErrDenied {
		if d := v.minFail - v.now().Sub(start); d > 0 {
			_ = v.sleep(ctx, d)
		}
	}
	return u, err
}

// unknownUserMark is what the denial log line says instead of a user ID
// that names no account.
const unknownUserMark = "(unknown user)"

// loggedName is how the denial log line names userID: quoted when it
// names an account, else unknownUserMark. A name that is no account may
// be a password typed at the wrong prompt, and the log must not hold it
// (login(1) logs such names as UNKNOWN for the same reason).
func loggedName(userID string, exists bool) string {
	if !exists {
		return unknownUserMark
	}
	return strconv.Quote(userID)
}

func (v *Verifier) verify(ctx context.Context, userID, password, source string) (User, error) {
	u, found := v.users.Load().Lookup(userID)
	name, known := loggedName(userID, found), found // found may change below
	deny := func(reason string) {
		d := Denial{Line: fmt.Sprintf("login %s from %s denied: %s", name, source, reason), Source: source, Reason: reason}
		if known {
			d.User = userID
		}
		v.logDenial(ctx, d)
	}
	// Admitted before waiting for a slot, the attempt counts against the
	// back-off while it waits and hashes: attempts started together get
	// no more guesses than attempts made one after another.
	att, d, err := v.th.AdmitWait(ctx, userID, source)
	if err != nil {
		return User{}, err
	}
	if d > 0 {
		// Rounded for people ("throttled for 999.868895ms" in the
		// log and the call record: operator trial).
		r := d.Round(time.Millisecond)
		if d >= time.Second {
			r = d.Round(100 * time.Millisecond)
		}
		deny(fmt.Sprintf("throttled for %v", max(r, time.Millisecond)))
		return User{}, ErrDenied
	}
	defer att.Abandon() // no password checked: busy, or ctx ended
	h := v.dummy
	if found {
		var err error
		if h, err = parseArgon2Hash(u.Hash); err != nil {
			found, h = false, v.dummy // Users validates hashes; never expected
		}
	}
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen]
		found = false
	}
	weight := v.weight(h.p)
	tooBig := false
	if weight > v.slots {
		// Running it would break the memory bound MaxConcurrent x
		// Argon2.MemoryKiB: check the dummy instead, and tell the operator.
		tooBig, found, h = true, false, v.dummy
		weight = v.weight(h.p)
	}
	// A user at a source trusted for them (they logged in from it
	// lately) goes before the queue: a spray of guesses from many
	// addresses fills it, and would turn away with it the users who call
	// from where they always do (security trial: alice got "checks busy"
	// in 5 of 6 tries while 1,000 addresses guessed at unknown names).
	// Only a login makes a source trusted, and only for that user.
	if err := v.lim.acquire(ctx, weight, v.th.Trusted(userID, source)); err != nil {
		return User{}, err
	}
	match := v.check(h, password)
	v.lim.release(weight)

	reason := ""
	switch {
	case tooBig:
		reason = fmt.Sprintf("stored hash needs m=%d KiB, more than the verifier's %d slots of %d KiB (raise the slots or their memory, the gateway's [security] max_hashing or argon2_memory_kib, or set a new password)", u.hashMemory(), v.slots, v.params.MemoryKiB)
	case !found:
		reason = "unknown user"
	case !match:
		reason = "wrong password"
	case u.Disabled:
		reason = "account disabled"
	case u.Expired(v.now()):
		reason = "account expired"
	}
	if reason != "" {
		// A hash too costly to run counts as a failure too: its dummy
		// hash costs a slot like any check, and an unthrottled name
		// would stand out from unknown ones (review).
		att.Failure()
		deny(reason)
		return User{}, ErrDenied
	}
	att.Success()
	return u, nil
}

// weight is how many slots a hash with parameters p occupies:
// ceil(m / configured m), at least 1. More than every slot (reported as
// slots+1) means the hash cannot run within the memory bound.
func (v *Verifier) weight(p Argon2Params) int {
	n := (uint64(p.MemoryKiB) + uint64(v.params.MemoryKiB) - 1) / uint64(v.params.MemoryKiB)
	return int(max(1, min(n, uint64(v.slots)+1)))
}

// TooCostly reports whether u's stored hash needs more argon2id memory
// than a verifier with slots hashing slots of memKiB each may use at once
// (VerifierConfig.MaxConcurrent and Argon2.MemoryKiB): such a user is
// always denied, and their password is never checked.
func (u User) TooCostly(slots int, memKiB uint32) bool {
	m := u.hashMemory()
	if slots <= 0 || memKiB == 0 || m == 0 {
		return false
	}
	return (uint64(m)+uint64(memKiB)-1)/uint64(memKiB) > uint64(slots)
}

// hashMemory returns the m parameter of u's stored hash (0 if malformed).
func (u User) hashMemory() uint32 {
	h, err := parseArgon2Hash(u.Hash)
	if err != nil {
		return 0
	}
	return h.p.MemoryKiB
}

func (v *Verifier) check(h argon2Hash, password string) bool {
	v.hashes.Add(1)
	n := v.hashing.Add(1)
	for {
		p := v.peak.Load()
		if n <= p || v.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if v.testHook != nil {
		v.testHook()
	}
	key := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, uint32(len(h.key)))
	v.hashing.Add(-1)
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// VerifierStats is a snapshot of a Verifier's load.
type VerifierStats struct {
	Hashing     int    // argon2id computations running now
	PeakHashing int    // most computations ever running at once
	Hashes      uint64 // computations started in total
	Queued      int    // verifications waiting for a slot
	Shed        uint64 // verifications refused with ErrBusy
}

// Stats returns the verifier's current load figures.
func (v *Verifier) Stats() VerifierStats {
	v.lim.mu.Lock()
	q, shed := len(v.lim.queue)+len(v.lim.prio), v.lim.shed
	v.lim.mu.Unlock()
	return VerifierStats{Hashing: int(v.hashing.Load()), PeakHashing: int(v.peak.Load()), Hashes: v.hashes.Load(), Queued: q, Shed: shed}
}

// hashLimiter is a weighted semaphore with two bounded FIFO queues: prio,
// for the logins of users at sources trusted for them (Throttle.Trusted),
// goes before queue, the others', and has a bound of its own, so that a
// flood of others' checks neither sheds nor delays those logins beyond the
// checks running and prio's own waiters.
type hashLimiter struct {
	mu       sync.Mutex
	capacity int
	maxQueue int // each queue's
	used     int
	queue    []*hashWaiter
	prio     []*hashWaiter
	shed     uint64
}

type hashWaiter struct {
	n       int
	ready   chan struct{}
	granted bool
}

// acquire waits for n slots, in the priority queue if prio.
func (l *hashLimiter) acquire(ctx context.Context, n int, prio bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("auth: verify: %w", err)
	}
	l.mu.Lock()
	if len(l.prio) == 0 && (prio || len(l.queue) == 0) && l.used+n <= l.capacity {
		l.used += n
		l.mu.Unlock()
		return nil
	}
	q := &l.queue
	if prio {
		q = &l.prio
	}
	if len(*q) >= l.maxQueue {
		l.shed++
		l.mu.Unlock()
		return ErrBusy
	}
	w := &hashWaiter{n: n, ready: make(chan struct{})}
	*q = append(*q, w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		l.used -= n
	} else if i := slices.Index(*q, w); i >= 0 {
		*q = slices.Delete(*q, i, i+1)
	}
	l.grantLocked()
	l.mu.Unlock()
	return fmt.Errorf("auth: verify: %w", ctx.Err())
}

func (l *hashLimiter) release(n int) {
	l.mu.Lock()
	l.used -= n
	l.grantLocked()
	l.mu.Unlock()
}

// grantLocked grants waiters in order, prio's first, while their slots
// are free.
func (l *hashLimiter) grantLocked() {
	for {
		q := &l.prio
		if len(*q) == 0 {
			q = &l.queue
		}
		if len(*q) == 0 || l.used+(*q)[0].n > l.capacity {
			return
		}
		w := (*q)[0]
		(*q)[0] = nil
		*q = (*q)[1:]
		l.used += w.n
		w.granted = true
		close(w.ready)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
