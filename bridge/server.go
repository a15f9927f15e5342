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

	"github.com/dialgate/dialgate/internal/config"
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
	// Now is the clock (default time.Now).
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

// CallbackFunc schedules a callback. It must not block for long: the
// call's line is already hung up. An error is recorded with the call.
type CallbackFunc func(ctx context.Context, req CallbackRequest) error

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

	// stopCtx ends every call at once (the drain deadline passed).
	stopCtx context.Context
	stop    context.CancelFunc

	mu        sync.Mutex
	listeners map[transport.Listener]struct{}
	draining  bool
	calls     sync.WaitGroup
	serving   sync.WaitGroup
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
	}
	if s.log == nil {
		s.log = zap.NewNop()
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

// Serve answers calls from l as listener name until l fails or Shutdown.
// Each call runs in its own goroutine. It returns ErrShutdown after
// Shutdown.
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
	var delay time.Duration
	for {
		line, err := l.Accept(s.stopCtx)
		if err != nil {
			s.mu.Lock()
			d := s.draining
			s.mu.Unlock()
			if d {
				return ErrShutdown
			}
			if errors.Is(err, transport.ErrHungUp) || errors.Is(err, context.Canceled) || isClosed(err) {
				return fmt.Errorf("bridge: listener %s: %w", name, err)
			}
			// Transient (EMFILE and the like): back off like net/http.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", zap.String("listener", name), zap.Error(err), zap.Duration("retry_in", delay))
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopCtx.Done():
				t.Stop()
				return ErrShutdown
			}
			continue
		}
		delay = 0
		if !s.addCall() {
			// Draining: this call gets BUSY like any other.
			go s.refuseDraining(name, line)
			continue
		}
		go func() {
			defer s.calls.Done()
			s.handle(name, line)
		}()
	}
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
	_, _ = line.Write([]byte("BUSY\r\n"))
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

// Shutdown stops answering (listeners closed, new calls hear BUSY) and
// waits for calls in progress to end. When ctx ends first, the remaining
// calls are told the gateway is shutting down and hung up; Shutdown then
// waits for them to be recorded and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	ls := make([]transport.Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	s.slots.drain()
	for _, l := range ls {
		l.Close()
	}
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
		s.log.Warn("drain deadline passed; hanging up the remaining calls", zap.Int("calls", s.slots.busy()))
	}
	s.mu.Lock()
	s.stop() // hangs up what is left, and Serve loops return
	s.mu.Unlock()
	<-done
	s.serving.Wait()
	return err
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
