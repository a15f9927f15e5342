package callbackd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// Defaults for Config fields left zero.
const (
	DefaultAttempts         = 3
	DefaultBackoff          = 10 * time.Second
	DefaultExpiry           = 2 * time.Minute
	DefaultMaxConcurrent    = 4
	DefaultDialTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 30 * time.Second
	// pendingPerSlot sizes the default MaxPending.
	pendingPerSlot = 16
)

// Config is the callback policy.
type Config struct {
	// Delay is the wait after Schedule before the first dial (the line
	// the caller hung up must be free to ring). Zero dials at once.
	Delay time.Duration
	// Attempts is the number of dials per job; zero means DefaultAttempts.
	Attempts int
	// Backoff is the wait after the first failed attempt; it doubles
	// after each further failure (see Backoff). Zero means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts; zero means no cap below
	// the expiry.
	MaxBackoff time.Duration
	// Expiry is a job's lifetime from Schedule; zero means DefaultExpiry.
	Expiry time.Duration
	// MaxConcurrent bounds attempts (dial and proof) in progress at once;
	// jobs beyond it wait for a slot, first come first served (the wait
	// counts against their expiry). A user, and an address, has at most
	// one job and so holds at most one slot. Zero means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// MaxPending bounds the jobs scheduled and not yet finished; Schedule
	// refuses more with ErrFull. Zero means 16 × MaxConcurrent.
	MaxPending int
	// DialTimeout and HandshakeTimeout bound one dial and one proof; zero
	// means the defaults. Both are cut short by the job's expiry. A slot
	// is held for at most their sum per attempt.
	DialTimeout, HandshakeTimeout time.Duration
}

// FromConfig converts the [callback] section of config.toml.
func FromConfig(c config.Callback) Config {
	return Config{
		Delay:            c.Delay.Duration,
		Attempts:         c.Attempts,
		Backoff:          c.Backoff.Duration,
		Expiry:           c.Expiry.Duration,
		MaxConcurrent:    c.MaxConcurrent,
		HandshakeTimeout: c.HandshakeTimeout.Duration,
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.Delay < 0 || c.Attempts < 0 || c.Backoff < 0 || c.MaxBackoff < 0 || c.Expiry < 0 ||
		c.MaxConcurrent < 0 || c.MaxPending < 0 || c.DialTimeout < 0 || c.HandshakeTimeout < 0 {
		return c, errors.New("callbackd: negative value in Config")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	def(&c.Backoff, DefaultBackoff)
	def(&c.Expiry, DefaultExpiry)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxPending == 0 {
		c.MaxPending = pendingPerSlot * c.MaxConcurrent
	}
	if c.Expiry <= c.Delay {
		return c, fmt.Errorf("callbackd: Config.Expiry %v must be longer than Config.Delay %v", c.Expiry, c.Delay)
	}
	return c, nil
}

// Placer proves a callback on a freshly dialled line.
type Placer interface {
	// Place runs the proof for job on line and returns the session's
	// octet stream: the LAPM link for V.42, the line itself for text.
	// It must return when ctx ends (the Service also hangs up the line
	// then). Errors wrapping ErrWrongParty or ErrNoRetry end the job;
	// others are retried. On error the Service hangs up the line; on
	// success the Handoff owns line and the returned stream.
	Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error)
}

// PlacerFunc adapts a function to Placer.
type PlacerFunc func(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error)

// Place calls f.
func (f PlacerFunc) Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
	return f(ctx, line, job)
}

// Modes picks a Placer by Job.Mode. A nil entry refuses that mode with
// ErrNoRetry.
type Modes struct {
	Text, V42 Placer
}

// Place implements Placer.
func (m Modes) Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
	p := m.Text
	if job.Mode == ModeV42 {
		p = m.V42
	}
	if p == nil {
		return nil, fmt.Errorf("callbackd: no placer for %v callbacks: %w", job.Mode, ErrNoRetry)
	}
	return p.Place(ctx, line, job)
}

// Session is a proved callback, handed to the bridge.
type Session struct {
	// Conn carries the session's octets (see Placer.Place).
	Conn io.ReadWriteCloser
	// Line is the dialled line under Conn; closing it hangs up.
	Line transport.Line
	// Attempts is the number of dials it took (for the call record).
	Attempts int
}

// HandoffFunc takes over a proved callback. It runs on the job's goroutine
// and may block for the whole session; ctx ends when the Service closes.
// It owns the session: it must close Conn and Line when done.
type HandoffFunc func(ctx context.Context, job Job, s Session)

// Logger is the narrow logger of the package.
type Logger interface {
	Printf(format string, args ...any)
}

// DialLine places a callback to a line address: transport.Dial, except
// that a telnet:// line opens the telnet negotiation (tcp.Options.Open).
// The party called back answers as a modem: tcpser, for one, takes the
// call for telnet only when its first octet is IAC and never opens
// itself, and would otherwise pass the line's telnet encoding (IAC IAC,
// CR NUL) to its terminal as data.
func DialLine(ctx context.Context, address string) (transport.Line, error) {
	u, err := transport.Parse(address)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "telnet" {
		return tcp.Dial(ctx, u.Host, tcp.Options{Telnet: true, Open: true})
	}
	return transport.Dial(ctx, address)
}

// Options configure New. Place and Handoff are required.
type Options struct {
	Config Config
	// Dial places a call to a line address; nil means DialLine.
	Dial func(ctx context.Context, address string) (transport.Line, error)
	// Place proves each callback (usually Modes{Text: TextConfirm{...},
	// V42: V42{...}}).
	Place Placer
	// Handoff receives proved callbacks.
	Handoff HandoffFunc
	// Recorder receives every attempt; nil records nothing.
	Recorder Recorder
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// Logger receives one line per attempt; nil logs nothing.
	Logger Logger
}

// Service runs pending callbacks. Create it with New; it is safe for
// concurrent use.
type Service struct {
	cfg     Config
	dial    func(ctx context.Context, address string) (transport.Line, error)
	place   Placer
	handoff HandoffFunc
	rec     Recorder
	clock   Clock
	log     Logger

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[uint64]*entry // by session
	byUser  map[string]*entry
	byAddr  map[string]*entry
	closed  bool
}

// entry is a scheduled job while it is pending: in the three maps of the
// Service until it is handed off, ends, or is superseded.
type entry struct {
	job       Job
	scheduled time.Time               // when Schedule took it
	cancel    context.CancelCauseFunc // ends the job's context (supersede)
	// finished is closed when the job's goroutine holds no slot and no
	// line any more (before its Handoff).
	finished chan struct{}
	// state and attempt: what the job does now (Jobs); under the
	// Service's mu.
	state   JobState
	attempt int
}

// New returns a Service for opts.
func New(opts Options) (*Service, error) {
	cfg, err := opts.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Place == nil || opts.Handoff == nil {
		return nil, errors.New("callbackd: Options need Place and Handoff")
	}
	s := &Service{
		cfg: cfg, dial: opts.Dial, place: opts.Place, handoff: opts.Handoff,
		rec: opts.Recorder, clock: opts.Clock, log: opts.Logger,
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		pending: map[uint64]*entry{}, byUser: map[string]*entry{}, byAddr: map[string]*entry{},
	}
	if s.dial == nil {
		s.dial = DialLine
	}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Config returns the policy in force (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// Schedule accepts a job and returns at once; the callback runs in its own
// goroutine. It fails with ErrBadJob, ErrDuplicate, ErrAddressBusy, ErrFull
// or ErrClosed, and then changes nothing.
//
// At most one job per user and one per address is pending. A job for a
// user who already has one supersedes it: the older job ends with a
// Superseded record (an attempt of it in progress is hung up), and the new
// one starts its delay once the older one has let go of its line and
// slot. The newer request is the one whose caller is waiting now: a user
// who calls again has given up on the older callback, and over V.42 only
// the newest ticket's holder can prove the callback (the older dialer has
// usually gone). Logging in again therefore restarts the user's one
// callback; it never adds a second, nor a second slot. A job for an
// address that another user's pending job will dial is refused with
// ErrAddressBusy (two accounts may share a line; one must not cancel the
// other's callback).
func (s *Service) Schedule(job Job) error {
	if err := job.validate(); err != nil {
		return err
	}
	now := s.clock.Now()
	deadline := now.Add(s.cfg.Expiry)
	if !job.Expires.IsZero() && job.Expires.Before(deadline) {
		deadline = job.Expires
	}
	if job.Ticket != nil && job.Ticket.Expires.Before(deadline) {
		deadline = job.Ticket.Expires
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, dup := s.pending[job.Session]; dup {
		return fmt.Errorf("%w: session %d", ErrDuplicate, job.Session)
	}
	old := s.byUser[job.User]
	if other := s.byAddr[lineKey(job.Address)]; other != nil && other != old {
		return fmt.Errorf("%w: %s (session %d)", ErrAddressBusy, job.Address, other.job.Session)
	}
	if old == nil && len(s.pending) >= s.cfg.MaxPending {
		return fmt.Errorf("%w (%d)", ErrFull, s.cfg.MaxPending)
	}
	if old != nil {
		s.forget(old)
		old.cancel(fmt.Errorf("%w (session %d)", ErrSuperseded, job.Session))
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	e := &entry{job: job, scheduled: now, cancel: cancel, finished: make(chan struct{})}
	s.pending[job.Session], s.byUser[job.User], s.byAddr[lineKey(job.Address)] = e, e, e
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sess, ok := s.run(ctx, e, deadline, old)
		cancel(nil)
		close(e.finished)
		if ok {
			s.handoff(s.ctx, job, sess)
		}
	}()
	return nil
}

// Cancel withdraws the pending job of session, as if it had never been
// scheduled, and reports whether there was one. It is for a caller that
// was not promised the callback after all (the V.42 CONFIRM could not be
// sent): the job dials no more (an attempt in progress is hung up) and
// ends with a Withdrawn record; its ticket is wiped. A job that the
// withdrawn one superseded is not restored: it has ended already (its
// attempt hung up, its Superseded record written), and the user, by
// calling again, gave up on it.
func (s *Service) Cancel(session uint64) bool { return s.Withdraw(session, "") }

// Withdraw withdraws the pending job of session as Cancel does, with why
// (if not "") in its record: an operator's "gateway hangup" of a
// callback not placed yet ("by the operator").
func (s *Service) Withdraw(session uint64, why string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.pending[session]
	if e == nil {
		return false
	}
	s.withdraw(e, why)
	return true
}

// withdraw ends the pending job e with a Withdrawn record saying why;
// s.mu is held, as Schedule supersedes: a job that finds itself no
// longer pending (done) finds its ctx's cause set too.
func (s *Service) withdraw(e *entry, why string) {
	s.forget(e)
	err := fmt.Errorf("%w (session %d)", ErrWithdrawn, e.job.Session)
	if why != "" {
		err = fmt.Errorf("%w: %s", err, why)
	}
	e.cancel(err)
}

// WithdrawIf withdraws, as Cancel does, every pending job for which
// stale reports why it must not go on ("" keeps it), and returns the
// sessions withdrawn. It is for an operator's change that the jobs
// scheduled before it must follow (a reload that disables or deletes an
// account, or moves its callback address): the job's record says why.
func (s *Service) WithdrawIf(stale func(job Job) string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for session, e := range s.pending {
		if why := stale(e.job); why != "" {
			s.withdraw(e, why)
			out = append(out, session)
		}
	}
	slices.Sort(out)
	return out
}

// Waiting is a pending job as Jobs reports it.
type Waiting struct {
	Session   uint64
	User      string
	Address   string
	Mode      Mode
	Scheduled time.Time // when the login asked for it
	// State is what the job does now: StateDelay, StateBackoff,
	// StateLine or StateCalling; Attempt is the number of the attempt
	// it waits for or makes (from 1).
	State   JobState
	Attempt int
}

// JobState is what a pending callback job is doing.
type JobState int

const (
	StateDelay   JobState = iota // waiting for [callback] delay before the first attempt
	StateBackoff                 // waiting to retry after a failed attempt
	StateLine                    // waiting for a free outgoing line (max_concurrent)
	StateCalling                 // dialling, or proving the call (CALLBACK, ACCEPT)
)

// String names the state as gateway calls shows it.
func (st JobState) String() string {
	switch st {
	case StateDelay:
		return "delay"
	case StateBackoff:
		return "retry-wait"
	case StateLine:
		return "line-wait"
	case StateCalling:
		return "calling"
	}
	return "unknown"
}

// setState notes what e does now, for Jobs.
func (s *Service) setState(e *entry, st JobState, attempt int) {
	s.mu.Lock()
	e.state, e.attempt = st, attempt
	s.mu.Unlock()
}

// Jobs lists the pending jobs (waiting for their delay or backoff, being
// dialled or proved), by session: the callbacks an operator may want to
// see, and withdraw (WithdrawIf), before they become calls.
func (s *Service) Jobs() []Waiting {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Waiting, 0, len(s.pending))
	for _, e := range s.pending {
		out = append(out, Waiting{Session: e.job.Session, User: e.job.User, Address: e.job.Address, Mode: e.job.Mode, Scheduled: e.scheduled,
			State: e.state, Attempt: max(e.attempt, 1)})
	}
	slices.SortFunc(out, func(a, b Waiting) int { return cmp.Compare(a.Session, b.Session) })
	return out
}

// Pending reports how many jobs are scheduled and not finished (a job
// whose session was handed off is finished, and so is a superseded one).
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// EndPending stops the Service taking jobs and ends those not handed off
// yet, as Close does (each with its Shutdown record, written before
// EndPending returns), without waiting for the sessions already handed
// off: those are calls of the gateway, which drains them. For a gateway
// that stops: its calls drain after this; Close follows.
func (s *Service) EndPending() {
	s.mu.Lock()
	s.closed = true
	waiting := make([]*entry, 0, len(s.pending))
	for _, e := range s.pending {
		waiting = append(waiting, e)
	}
	s.mu.Unlock()
	s.cancel()
	for _, e := range waiting {
		<-e.finished
	}
}

// Close stops the Service: no new jobs, waiting jobs end with a Shutdown
// record, attempts in progress are cut (their lines hung up), and the ctx
// of running Handoffs ends. It waits for every job goroutine, including
// Handoffs, to return.
func (s *Service) Close() error {
	s.EndPending()
	s.wg.Wait()
	return nil
}

func (s *Service) logf(format string, args ...any) {
	if s.log != nil {
		s.log.Printf(format, args...)
	}
}

// forget removes e from the pending maps; s.mu is held.
func (s *Service) forget(e *entry) {
	delete(s.pending, e.job.Session)
	delete(s.byUser, e.job.User)
	delete(s.byAddr, lineKey(e.job.Address))
}

// lineKey is the callback address as one line has one key, however the
// users file spells it: the host and port it reaches, the host in lower
// case, an IP address and the port in their shortest form. The scheme is
// how the gateway speaks on the line, not another line: telnet:// and
// tcp:// to one port reach the same socket (callback trial: two
// accounts' callbacks were pending to it at once). Two accounts whose
// addresses are telnet://GW.example:2323/ and tcp://gw.example:2323
// share a line (a host name and its address are not matched: that
// would take a DNS lookup). An address that does not parse is its own
// key.
func lineKey(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return addr
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return addr
	}
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	if n, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(n)
	}
	return net.JoinHostPort(host, port)
}

// done ends e's time as a pending job, and reports false if it was no
// longer pending (superseded).
func (s *Service) done(e *entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[e.job.Session] != e {
		return false
	}
	s.forget(e)
	return true
}

// run is one job from its delay to its handoff (ok: the caller hands sess
// off) or final failure. ctx ends when the job is superseded or
// withdrawn or the Service closes. A job that supersedes old starts when old has let go of
// its line and slot, so that a user never has two attempts at once.
//
// A job that ends without a handoff wipes its ticket: the job's goroutine
// is its only user by then (a superseding job has its own ticket).
func (s *Service) run(ctx context.Context, e *entry, deadline time.Time, old *entry) (sess Session, ok bool) {
	job := e.job
	defer func() {
		if !ok && job.Ticket != nil {
			job.Ticket.Wipe()
		}
	}()
	if old != nil {
		// Not cut short by ctx: a job superseded in turn still lets old
		// go first, so a chain of them never overlaps. old's ctx has
		// ended, and its dial and proof end with it.
		<-old.finished
	}
	wait := s.cfg.Delay
	for n := 1; ; n++ {
		if n > 1 {
			s.setState(e, StateBackoff, n)
		}
		if err := s.sleep(ctx, wait, deadline); err != nil {
			s.finish(ctx, e, n-1, err)
			return Session{}, false
		}
		s.setState(e, StateLine, n)
		if err := s.acquire(ctx, deadline); err != nil {
			s.finish(ctx, e, n-1, err)
			return Session{}, false
		}
		s.setState(e, StateCalling, n)
		if job.Ticket != nil && job.Ticket.Spent() {
			// Wiped (CONFIRM not sent, an operator) or used: a dial
			// would only ring the user for a proof that cannot succeed.
			<-s.sem
			s.finish(ctx, e, n-1, fmt.Errorf("%w: session %d: the ticket is spent", ErrWithdrawn, job.Session))
			return Session{}, false
		}
		a := Attempt{Session: job.Session, User: job.User, Address: job.Address, Listener: job.Listener, Mode: job.Mode, Number: n, Dials: n, Start: s.clock.Now()}
		sess, res, err := s.attempt(ctx, job, deadline)
		<-s.sem
		a.End, a.Result, a.Err = s.clock.Now(), res, err
		if res == Connected {
			a.Final = true
			if !s.done(e) {
				// Superseded (or withdrawn) after the proof: the
				// newer job calls back; this line is hung up.
				sess.Conn.Close()
				sess.Line.Close()
				res, cause := cut(ctx)
				a.Result, a.Err = res, fmt.Errorf("%w; proved callback hung up", cause)
				s.record(a)
				return Session{}, false
			}
			sess.Attempts = n
			s.record(a)
			return sess, true
		}
		wait = Backoff(s.cfg.Backoff, s.cfg.MaxBackoff, n)
		a.Final = res != DialFailed && res != HandshakeFailed || errors.Is(err, ErrNoRetry) ||
			n >= s.cfg.Attempts || !a.End.Add(wait).Before(deadline)
		s.record(a)
		if a.Final {
			s.done(e)
			return Session{}, false
		}
	}
}

// ended is the error of a job whose ctx ended: its cause if it was
// superseded or withdrawn (also if the Service closed since), else
// ErrClosed.
func (s *Service) ended(ctx context.Context) error {
	if _, err := cut(ctx); err != nil {
		return err
	}
	return ErrClosed
}

// cut returns the cause of the job's ctx and its Result if the job was
// superseded or withdrawn; else 0, nil.
func cut(ctx context.Context) (Result, error) {
	switch err := context.Cause(ctx); {
	case errors.Is(err, ErrSuperseded):
		return Superseded, err
	case errors.Is(err, ErrWithdrawn):
		return Withdrawn, err
	}
	return 0, nil
}

// finish ends a job that could not make (another) attempt after dials
// dial attempts.
func (s *Service) finish(ctx context.Context, e *entry, dials int, err error) {
	res := Expired
	switch {
	case errors.Is(err, ErrClosed):
		res = Shutdown
	case errors.Is(err, ErrSuperseded):
		res = Superseded
	case errors.Is(err, ErrWithdrawn):
		res = Withdrawn
	}
	now := s.clock.Now()
	job := e.job
	s.record(Attempt{Session: job.Session, User: job.User, Address: job.Address, Listener: job.Listener, Mode: job.Mode,
		Dials: dials, Start: now, End: now, Result: res, Err: err, Final: true})
	s.done(e)
}

func (s *Service) record(a Attempt) {
	if a.Err != nil {
		s.logf("callbackd: session %d user %s attempt %d to %s: %v: %v", a.Session, a.User, a.Number, a.Address, a.Result, a.Err)
	} else {
		s.logf("callbackd: session %d user %s attempt %d to %s: %v", a.Session, a.User, a.Number, a.Address, a.Result)
	}
	if s.rec != nil {
		s.rec.RecordAttempt(a)
	}
}

// errTimedOut is the cause of contexts ended by the Clock.
var errTimedOut = fmt.Errorf("callbackd: timed out: %w", context.DeadlineExceeded)

// withTimeout is context.WithTimeout on the Service's Clock.
func (s *Service) withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := s.clock.AfterFunc(d, func() { cancel(errTimedOut) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// sleep waits d, or until deadline if that comes first (ErrExpired), or
// until the job's ctx ends (ErrClosed, ErrSuperseded).
func (s *Service) sleep(ctx context.Context, d time.Duration, deadline time.Time) error {
	left := deadline.Sub(s.clock.Now())
	expire := d >= left
	if expire {
		d = left
	}
	if d > 0 {
		fired := make(chan struct{})
		stop := s.clock.AfterFunc(d, func() { close(fired) })
		select {
		case <-fired:
		case <-ctx.Done():
			stop()
			return s.ended(ctx)
		}
	}
	if ctx.Err() != nil {
		return s.ended(ctx)
	}
	if expire {
		return ErrExpired
	}
	return nil
}

// acquire takes a concurrency slot before deadline. Waiting jobs get
// slots in the order they began to wait: a slot given back goes to the
// longest waiting sender on s.sem.
func (s *Service) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	default:
	}
	left := deadline.Sub(s.clock.Now())
	if left <= 0 {
		return ErrExpired
	}
	fired := make(chan struct{})
	stop := s.clock.AfterFunc(left, func() { close(fired) })
	defer stop()
	select {
	case s.sem <- struct{}{}:
		if !s.clock.Now().Before(deadline) { // the slot came free at the deadline
			<-s.sem
			return fmt.Errorf("%w waiting for a free line", ErrExpired)
		}
		return nil
	case <-fired:
		return fmt.Errorf("%w waiting for a free line (%d callbacks in progress)", ErrExpired, s.cfg.MaxConcurrent)
	case <-ctx.Done():
		return s.ended(ctx)
	}
}

// UnprovedLinger bounds the hang-up of a callback's line whose answering
// party has not proved the callback (where the line lets it be set, as
// tcp.Line does): how long it waits for that party to close its side,
// as for a refused caller (bridge). A party that answers, fails the proof
// and never closes would otherwise hold the line, and a stop, for the
// line's full linger (TCP: 5 s).
const UnprovedLinger = time.Second

// unprovedReadBudget bounds what the party that answers a callback may
// send before it has proved the callback (where the line counts it, as
// tcp.Line and ws.Line do), as an inbound caller's octets before login
// are bounded (bridge's maxPreLogin): the proof takes a few KiB, and a
// modem's idle flags at 33,600 bit/s fill it in about four minutes. Over
// it the line's reads fail and the attempt fails. Without it a party
// sending what the confirmation prompt ignores (8-bit octets, endless
// escape sequences) kept the gateway reading at network speed until
// handshake_timeout (security trial: 3.73 GB in 11 s, 8.5 s of CPU).
const unprovedReadBudget = 1 << 20

// attempt dials once and runs the proof; the end of ctx (the job's) cuts
// both.
func (s *Service) attempt(ctx context.Context, job Job, deadline time.Time) (Session, Result, error) {
	left := deadline.Sub(s.clock.Now())
	dctx, cancel := s.withTimeout(ctx, min(s.cfg.DialTimeout, left))
	line, err := s.dial(dctx, job.Address)
	cause := context.Cause(dctx)
	cancel()
	if err != nil {
		cutRes, cutErr := cut(ctx)
		switch {
		case cutRes != 0:
			return Session{}, cutRes, fmt.Errorf("%w: dialling %s: %w", cutErr, job.Address, err)
		case s.ctx.Err() != nil:
			return Session{}, Shutdown, fmt.Errorf("%w: dialling %s: %w", ErrClosed, job.Address, err)
		case errors.Is(err, transport.ErrBadAddress) || errors.Is(err, transport.ErrUnknownScheme):
			return Session{}, DialFailed, fmt.Errorf("callbackd: dialling %s: %w: %w", job.Address, ErrNoRetry, err)
		case cause == errTimedOut && left < s.cfg.DialTimeout:
			// The callback's expiry, not the dial timeout, ended it
			// (callback trial: a blackholed address was recorded "no
			// answer: ... operation was canceled").
			return Session{}, Expired, fmt.Errorf("%w while dialling %s, %v after the dial began: no answer: %w", ErrExpired, job.Address, left.Round(time.Millisecond), err)
		case cause == errTimedOut:
			return Session{}, DialFailed, fmt.Errorf("callbackd: dialling %s: no answer: %w", job.Address, err)
		}
		return Session{}, DialFailed, fmt.Errorf("callbackd: dialling %s: %w", job.Address, err)
	}

	lingerer, _ := line.(transport.Lingerer)
	if lingerer != nil {
		lingerer.SetLinger(UnprovedLinger)
	}
	budgeter, _ := line.(transport.ReadBudgeter)
	if budgeter != nil {
		budgeter.SetReadBudget(unprovedReadBudget)
	}
	left = deadline.Sub(s.clock.Now())
	pctx, cancel := s.withTimeout(ctx, min(s.cfg.HandshakeTimeout, left))
	defer cancel()
	// Whatever the Placer does, the end of pctx hangs up the line, which
	// unblocks any read or write it is stuck in.
	stopHangup := context.AfterFunc(pctx, func() { line.Close() })
	conn, err := s.place.Place(pctx, line, job)
	if err == nil && conn == nil {
		err = fmt.Errorf("callbackd: placer returned no session: %w", ErrNoRetry)
	}
	if !stopHangup() && err == nil {
		err = fmt.Errorf("callbackd: proof finished after the line was hung up: %w", context.Cause(pctx))
		conn.Close()
	}
	if err == nil {
		if lingerer != nil {
			lingerer.SetLinger(0) // proved: the line's own linger
		}
		if budgeter != nil {
			budgeter.SetReadBudget(-1) // proved: the session's octets
		}
		return Session{Conn: conn, Line: line}, Connected, nil
	}
	line.Close()
	cutRes, cutErr := cut(ctx)
	switch {
	case cutRes != 0:
		return Session{}, cutRes, fmt.Errorf("%w: line hung up during the proof: %w", cutErr, err)
	case s.ctx.Err() != nil:
		return Session{}, Shutdown, fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, ErrWrongParty):
		return Session{}, WrongParty, err
	case errors.Is(err, auth.ErrTicketExpired):
		return Session{}, Expired, err
	case context.Cause(pctx) == errTimedOut && left < s.cfg.HandshakeTimeout:
		// The callback's expiry, not the proof's timeout, ended it
		// (callback trial: "proof timed out … within 996.772814ms",
		// and a hint about ringing modems).
		return Session{}, Expired, fmt.Errorf("%w during the proof, %v after the answer, so the gateway hung up: %w", ErrExpired, left.Round(time.Millisecond), err)
	case context.Cause(pctx) == errTimedOut:
		// The line drop that err reports is ours: the end of pctx hung up.
		return Session{}, HandshakeFailed, fmt.Errorf("callbackd: proof timed out: not confirmed within %v of the answer (a modem that rings its terminal first counts the rings), so the gateway hung up: %w", min(s.cfg.HandshakeTimeout, left), err)
	}
	return Session{}, HandshakeFailed, err
}
