package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/burstlog"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/retry"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
)

// ErrShutdown is returned by Serve after Shutdown, and by HandleLine for
// calls arriving while the gateway drains.
var ErrShutdown = errors.New("bridge: gateway shutting down")

// ErrUnknownListener is wrapped when a line is handed to a listener name
// the configuration does not define.
var ErrUnknownListener = errors.New("bridge: unknown listener")

// Options configure a Server. Config, Store and Verifier are required.
type Options struct {
	Config   *config.Config
	Store    store.Store
	Verifier Verifier
	// Logger receives the call log (per-call fields: session, listener,
	// remote, transport, user). nil logs nothing.
	Logger *zap.Logger
	// Metrics, if set, is updated for every call.
	Metrics *Metrics
	// Now is the clock of records and protocol timers (default
	// time.Now). Deadlines set on lines are wall-clock time.
	Now func() time.Time
	// V42 answers V.42 callers (LAPM + Access Security). nil: listeners
	// with v42 = "detect" treat every caller as a caller without V.42,
	// and listeners with v42 = "lapm" refuse calls.
	V42 V42Answerer
	// Callback takes over a call whose user has a callback address
	// (callbackd). nil: such users are refused with a message, never
	// bridged without the callback the operator configured.
	Callback CallbackFunc
}

// CallbackRequest is handed to the callback service after the gateway
// hung up on an authenticated caller whose account has a callback address.
type CallbackRequest struct {
	Session  uint64
	Account  Account
	Listener string
	Remote   string
	// Mode is "text" for a text login, "v42" after Access Security.
	Mode string
	// Ticket is the Access Security callback ticket (an *auth.Ticket) for
	// V.42 callers; nil after a text login.
	Ticket any
}

// CallbackFunc schedules a callback. It is called before the caller is
// promised the callback and must not block for long: a text caller hears
// "you will be called back" only after it returned nil (an error: "cannot
// place now"); for a V.42 caller it is called during Access Security,
// before CONFIRM (an error: REJECT callback-unavailable). A refused call
// is recorded as refused with the error.
//
// withdraw, if not nil, unschedules the callback (callbackd
// Service.Cancel): the Server calls it, at most once, when a V.42
// caller's CONFIRM could not be sent after all, so that no one is called
// back who was not promised it.
type CallbackFunc func(ctx context.Context, req CallbackRequest) (withdraw func(), err error)

// state is what Reload replaces.
type state struct {
	cfg      *config.Config
	backends map[string]Backend
	verifier Verifier
}

// Server answers calls. Create it with New; it is safe for concurrent use.
type Server struct {
	log     *zap.Logger
	store   store.Store
	metrics *Metrics
	now     func() time.Time
	v42     V42Answerer
	cb      atomic.Pointer[CallbackFunc]

	st          atomic.Pointer[state]
	slots       *slots
	busyRecords busyRecorder
	// shedLogins sums the text logins shed because the queue of
	// password checks was full into warnings (loginShed).
	shedLogins burstlog.Log
	// proxyRefusals sums the calls refused for a PROXY protocol header
	// the listener does not take (proxyHeaderRefused) into warnings: a
	// proxy's health checks against a listener not set up for them
	// would otherwise warn every few seconds.
	proxyRefusals burstlog.Log
	// keptRecords, lostRecords and reserveFailures sum a full disk's
	// troubles into at most a line a second each (recordError,
	// SetReserveFailed): a flood of calls on a full disk made one line
	// per call (operator trial: 7.7 MB of log in 5 s).
	keptRecords, lostRecords, reserveFailures burstlog.Log
	// overLines is how many calls a listener answers at once beyond
	// max_concurrent (maxCallsOverLines; tests lower it).
	overLines int

	// stopCtx ends every call at once (the drain deadline passed).
	stopCtx context.Context
	stop    context.CancelFunc

	mu        sync.Mutex
	listeners map[transport.Listener]struct{}
	draining  bool
	// refusing counts the calls a listener accepted during the drain,
	// which hear BUSY and are hung up (within refusedLinger); the drain
	// does not wait for them.
	refusing sync.WaitGroup
	active   activeCalls // calls in progress (Calls, HangUp)
	calls    sync.WaitGroup
	serving  sync.WaitGroup
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Store == nil || opts.Verifier == nil {
		return nil, errors.New("bridge: Options need Config, Store and Verifier")
	}
	s := &Server{
		log:       opts.Logger,
		store:     opts.Store,
		metrics:   opts.Metrics,
		now:       opts.Now,
		v42:       opts.V42,
		listeners: map[transport.Listener]struct{}{},
		overLines: maxCallsOverLines,
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.busyRecords.summary.Emit = func(n int, _ string) {
		s.log.Warn("connection flood: calls turned away (BUSY, or outside allowed_sources) hung up without a call record", zap.Int("calls", n))
	}
	s.proxyRefusals.Emit = func(n int, last string) {
		s.log.Warn(last, zap.Int("calls", n))
	}
	s.shedLogins.Emit = func(n int, last string) {
		s.log.Warn("password checks busy: logins shed (raise [security] hash_queue or max_hashing if this persists)", zap.Int("logins", n), zap.String("last_remote", last))
	}
	s.keptRecords.Emit = func(n int, last string) {
		s.log.Warn("call record not written yet: kept in memory until the state directory has room", zap.Int("records", n), zap.String("error", last))
	}
	s.lostRecords.Emit = func(n int, last string) {
		s.log.Error("call record lost", zap.Int("records", n), zap.String("error", last))
	}
	s.reserveFailures.Emit = func(n int, last string) {
		s.log.Error("session numbers not reserved on disk; calls go on with numbers from memory", zap.Int("reservations", n), zap.String("error", last))
	}
	if r, ok := s.store.(reserveReporter); ok {
		// The calls go on with numbers from memory (store.File
		// NextSession); the operator hears of the failed reservations
		// (one a block of numbers) at most once a second, not of every
		// call.
		r.SetReserveFailed(func(err error) { s.reserveFailures.Add(err.Error()) })
	}
	if r, ok := s.store.(lateReporter); ok {
		r.SetLateWritten(func(n int) {
			s.log.Info("call records kept through a full disk written", zap.Int("records", n))
		})
	}
	s.SetCallback(opts.Callback)
	if s.now == nil {
		s.now = time.Now
	}
	st, err := newState(opts.Config, opts.Verifier)
	if err != nil {
		return nil, err
	}
	s.st.Store(st)
	s.slots = newSlots(limitsOf(opts.Config))
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

func newState(c *config.Config, v Verifier) (*state, error) {
	b, err := buildBackends(c)
	if err != nil {
		return nil, err
	}
	return &state{cfg: c, backends: b, verifier: v}, nil
}

func limitsOf(c *config.Config) slotLimits {
	return slotLimits{
		max:         c.Lines.MaxConcurrent,
		perSource:   c.Lines.PerSource,
		maintenance: c.Lines.Maintenance,
		holdoff:     c.Lines.Holdoff.Duration,
	}
}

// Reload swaps in new backends, line limits, the maintenance switch and
// verifier (users) for calls that arrive from now on. Calls in progress
// keep what they started with. Listener addresses are not reloaded: the
// listeners named in c must be the ones being served (their per-listener
// settings do apply to new calls). v nil keeps the current verifier.
func (s *Server) Reload(c *config.Config, v Verifier) error {
	if v == nil {
		v = s.st.Load().verifier
	}
	st, err := newState(c, v)
	if err != nil {
		return err
	}
	s.st.Store(st)
	s.slots.setLimits(limitsOf(c))
	s.log.Debug("reloaded", zap.Int("backends", len(c.Backends)), zap.Bool("maintenance", c.Lines.Maintenance))
	return nil
}

// SetCallback installs (or, with nil, removes) the callback service for
// calls from now on; the service hands placed callbacks back with
// BridgeCallback.
func (s *Server) SetCallback(f CallbackFunc) {
	if f == nil {
		s.cb.Store(nil)
		return
	}
	s.cb.Store(&f)
}

// Config returns the configuration in effect for new calls.
func (s *Server) Config() *config.Config { return s.st.Load().cfg }

// ActiveCalls is the number of line slots in use.
func (s *Server) ActiveCalls() int { return s.slots.busy() }

// loginShed counts a text login from remote refused because the queue of
// password checks was full: in the metrics, and in a warning summed over
// at most a second (burstlog.Log).
func (s *Server) loginShed(remote string) {
	s.metrics.loginShed()
	s.shedLogins.Add(remote)
}

// reserveReporter is a store that hands out session numbers from memory
// when it cannot reserve them on disk, and tells of each failure
// (store.File).
type reserveReporter interface {
	SetReserveFailed(func(error))
}

// lateReporter is a store that keeps records it could not write and
// tells when they were written (store.File).
type lateReporter interface {
	SetLateWritten(func(int))
}

// healthReporter is a store that can say it cannot write its state
// (store.File).
type healthReporter interface {
	Health() error
}

// StoreHealth is nil while the store can write the state directory, else
// an error saying since when it cannot and why ("store: state_dir ... not
// writable since T: ..."): calls go on, but their session numbers are
// not reserved on disk (see store.File.NextSession), or their records
// are lost. For a health check; a store that cannot tell is taken as
// healthy.
func (s *Server) StoreHealth() error {
	if h, ok := s.store.(healthReporter); ok {
		return h.Health()
	}
	return nil
}

// Draining reports whether Shutdown has been called: the gateway no
// longer answers (new calls hear BUSY) and waits for the calls in
// progress to end.
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// maxCallsOverLines bounds the calls one listener answers at once beyond
// max_concurrent: the calls hung up without a line (BUSY, refused,
// throttled) while their lines close. Closing a TCP line waits up to its
// linger (5 s) for the caller's side, so without a bound one address that
// connects and never closes held a descriptor and a goroutine for every
// connection (2,000 after 2,000 connections) and could take the process
// to its descriptor limit, where every listener and the call records
// fail. At the bound the listener stops accepting until a call ends; new
// connections wait in the kernel's accept queue meanwhile, so the bound
// is a backstop as large as ws.DefaultMaxConns: a flood that reaches it
// delays every caller of the listener by up to the linger.
const maxCallsOverLines = 1024

// Accept failures (out of descriptors, EMFILE/ENFILE, and the like) are
// retried with internal/retry's back-off.
const (
	acceptRetryMin = retry.Min
	acceptRetryMax = retry.Max
	acceptCalm     = retry.Calm
)

var acceptRetry = retry.Accept

// Serve answers calls from l as listener name until l fails or Shutdown.
// Each call runs in its own goroutine; at most max_concurrent +
// maxCallsOverLines of l's calls run at once (see maxCallsOverLines).
// Failed accepts are retried with a back-off and logged at most once a
// second, with their count. It returns ErrShutdown after Shutdown.
func (s *Server) Serve(name string, l transport.Listener) error {
	if _, ok := s.Config().Listener(name); !ok {
		return fmt.Errorf("%w %q", ErrUnknownListener, name)
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		l.Close()
		return ErrShutdown
	}
	s.listeners[l] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	failures := burstlog.Log{Emit: func(n int, last string) {
		s.log.Warn("accept failed; retrying with back-off", zap.String("listener", name),
			zap.Int("failures", n), zap.String("error", last))
	}}
	defer failures.Close()
	paused := burstlog.Log{Emit: func(n int, _ string) {
		s.log.Warn("listener at its bound of calls at once; new callers wait to be answered",
			zap.String("listener", name), zap.Int("limit", s.callLimit()), zap.Int("pauses", n))
	}}
	defer paused.Close()
	var (
		g       callGate
		backoff retry.Backoff
	)
	for {
		if !g.enter(s.stopCtx, s.callLimit, func() { paused.Add("") }) {
			return ErrShutdown
		}
		line, err := l.Accept(s.stopCtx)
		if err != nil {
			g.leave()
			s.mu.Lock()
			d := s.draining
			s.mu.Unlock()
			if d {
				return ErrShutdown
			}
			if errors.Is(err, transport.ErrHungUp) || errors.Is(err, context.Canceled) || isClosed(err) {
				return fmt.Errorf("bridge: listener %s: %w", name, err)
			}
			// Transient (EMFILE and the like): back off.
			delay := backoff.Next(s.now())
			failures.Add(err.Error())
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopCtx.Done():
				t.Stop()
				return ErrShutdown
			}
			continue
		}
		if !s.addAnswerable() {
			// Draining: the listener stays open until the drain ends,
			// so that callers hear BUSY with the reason
			// ("shutting down; try again later") instead of having
			// their connection refused (operator trial: an upgrade
			// refused every caller for the whole drain_timeout).
			// handle answers it BUSY (the drained slots), with its
			// record, as a call turned away at max_concurrent.
			go func() {
				defer s.refusing.Done()
				defer g.leave()
				s.handle(name, line)
			}()
			continue
		}
		go func() {
			defer s.calls.Done()
			defer g.leave()
			s.handle(name, line)
		}()
	}
}

// callLimit is how many calls a listener answers at once.
func (s *Server) callLimit() int {
	return s.Config().Lines.MaxConcurrent + s.overLines
}

// callGate counts one listener's calls in flight.
type callGate struct {
	mu    sync.Mutex
	n     int
	freed chan struct{} // closed when a call ends; nil while nobody waits
}

// enter counts a call about to be accepted, first waiting while limit()
// calls are in flight (calling paused once if it has to); false means
// ctx ended first.
func (g *callGate) enter(ctx context.Context, limit func() int, paused func()) bool {
	waited := false
	for {
		g.mu.Lock()
		if g.n < limit() {
			g.n++
			g.mu.Unlock()
			return true
		}
		if g.freed == nil {
			g.freed = make(chan struct{})
		}
		freed := g.freed
		g.mu.Unlock()
		if !waited {
			waited = true
			paused()
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// leave ends a call counted by enter.
func (g *callGate) leave() {
	g.mu.Lock()
	g.n--
	if g.freed != nil {
		close(g.freed)
		g.freed = nil
	}
	g.mu.Unlock()
}

// addAnswerable is addCall for a call a listener accepted: while the
// gateway drains it is not added, and counted in refusing instead.
func (s *Server) addAnswerable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.stopCtx.Err() != nil {
		s.refusing.Add(1)
		return false
	}
	s.calls.Add(1)
	return true
}

func (s *Server) addCall() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopCtx.Err() != nil {
		return false
	}
	s.calls.Add(1)
	return true
}

func (s *Server) refuseDraining(name string, line transport.Line) {
	msg := busyMessage(s.Config().GatewayName, line.Info().Transport, busyDraining, 0)
	_, _ = line.Write([]byte(msg))
	if l, ok := line.(transport.Lingerer); ok {
		l.SetLinger(refusedLinger)
	}
	line.Close()
}

// HandleLine answers one call that arrived on listener name and returns
// when it has ended and been recorded. It is the entry point for lines
// that do not come from a Listener (in-process tests, callbacks placed by
// callbackd). The Server owns line from now on.
func (s *Server) HandleLine(name string, line transport.Line) error {
	if _, ok := s.Config().Listener(name); !ok {
		line.Close()
		return fmt.Errorf("%w %q", ErrUnknownListener, name)
	}
	if !s.addCall() {
		s.refuseDraining(name, line)
		return ErrShutdown
	}
	defer s.calls.Done()
	s.handle(name, line)
	return nil
}

// Shutdown stops answering (new calls hear BUSY: "shutting down; try
// again later") and waits for calls in progress to end; the listeners
// close once they have. When ctx ends first, the remaining calls are
// told the gateway is shutting down and hung up; Shutdown then waits for
// them to be recorded and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	ls := make([]transport.Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	s.slots.drain()
	s.endLogins()
	s.noticeDrain(ctx)
	done := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		msg := "drain deadline passed; hanging up the remaining calls"
		if !errors.Is(err, context.DeadlineExceeded) {
			msg = "drain cut short; hanging up the remaining calls" // a second signal (gateway serve)
		}
		s.log.Warn(msg, zap.Int("calls", s.slots.busy()))
	}
	s.mu.Lock()
	s.stop() // hangs up what is left, and Serve loops return
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	<-done
	s.serving.Wait()
	s.refusing.Wait()
	s.busyRecords.summary.Close()
	s.shedLogins.Close()
	s.proxyRefusals.Close()
	s.keptRecords.Close()
	s.lostRecords.Close()
	s.reserveFailures.Close()
	return err
}

// endLogins hangs up the calls still logging in as the gateway starts to
// drain ("NO CARRIER (the gateway is shutting down)"): the drain waits
// for sessions, and a caller silent at the login prompt, or one that
// would log in to a session cut off at the deadline, held every stop
// for the whole drain_timeout (operator trial).
func (s *Server) endLogins() {
	for _, c := range s.active.list() {
		c.viewMu.Lock()
		end := c.endLogin
		if c.view.Phase != PhaseLogin {
			end = nil
		}
		c.viewMu.Unlock()
		if end != nil {
			end()
		}
	}
}

// noticeDrain tells the callers in session whose line can carry a notice
// (WebSocket lines: the browser page shows it in its status line) that
// the gateway is draining, and when their call will end at the latest
// (ctx's deadline), so that a user can save their work: the page stayed
// "connected" until the hang-up (browser trial: vim's unsaved text was
// lost without a word). Each goes on a goroutine of its own: a caller
// that has stopped reading must not hold up the drain; the write ends
// with its line at the latest.
func (s *Server) noticeDrain(ctx context.Context) {
	text := "the gateway is shutting down"
	if d, ok := ctx.Deadline(); ok {
		if secs := int(time.Until(d).Round(time.Second) / time.Second); secs > 0 {
			text += fmt.Sprintf(": this call ends within %d s", secs)
		}
	}
	for _, c := range s.active.list() {
		c.viewMu.Lock()
		inSession := c.view.Phase == PhaseSession
		c.viewMu.Unlock()
		n, ok := lineAs[interface{ SendNotice(string) error }](c.line)
		if inSession && ok {
			go func() { _ = n.SendNotice(text) }()
		}
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
