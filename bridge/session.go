package bridge

// From an account to a bridged session: the backend dialled while the
// caller is watched for a hang-up, the pump both ways, breaks forwarded,
// and why the session ended.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// enter moves c to phase, unless an operator has hung it up (false).
func (c *call) enter(phase string) bool {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if c.byOperator {
		return false
	}
	c.view.Phase = phase
	return true
}

// reasonGoneWhileDialling is the record's reason for a caller that hung
// up while its backend was being dialled.
const reasonGoneWhileDialling = "caller hung up while the backend was being dialled"

// dialCheck is how often the caller's socket is asked, while its backend
// is dialled, whether the caller is still there (a variable for tests).
var dialCheck = 500 * time.Millisecond

// watchDial returns a context for dialling the backend that ends when
// the caller hangs up meanwhile (its socket says FIN or reset: nothing
// is read from the line during the dial), and a func that stops the
// watch and reports whether that happened. Before, a backend that did
// not answer (SYN dropped) held the line for its connect_timeout after
// the caller had gone, and the record blamed the backend (operator
// trial). Lines that cannot tell (in-memory, V.42's LAPM has its own
// line under it: asked through it) are not watched.
func (c *call) watchDial(ctx context.Context) (context.Context, func() bool) {
	ps, ok := lineAs[peerStater](c.line)
	if !ok {
		return ctx, func() bool { return false }
	}
	// A FIN alone may be a half-close of a caller that still reads (a
	// script whose input ended: gateway dial half-closes a TCP line at
	// the end of stdin). A WebSocket cannot half-close: its FIN is its
	// end. A telnet caller is sent IAC NOP, which its closed socket
	// answers with a reset. A raw TCP caller's FIN is left to the
	// session.
	ws := strings.HasPrefix(c.line.Info().Transport, "ws")
	nop, _ := lineAs[interface{ SendNOP() error }](c.line)
	dctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	gone, stopped, probed := false, false, false
	var t *time.Timer
	tick := func() {
		st := ps.PeerState()
		probe := false
		mu.Lock()
		switch {
		case stopped:
		case st == sockstate.Gone || st == sockstate.HalfClosed && ws:
			gone = true
			cancel()
		default:
			probe = st == sockstate.HalfClosed && nop != nil && !probed
			probed = probed || probe
			t.Reset(dialCheck)
		}
		mu.Unlock()
		if probe && errors.Is(nop.SendNOP(), tcp.ErrWouldWait) {
			// Output still queued (a caller that stopped reading):
			// nothing sent; probe again at the next check.
			mu.Lock()
			probed = false
			mu.Unlock()
		}
	}
	mu.Lock()
	t = time.AfterFunc(dialCheck, tick)
	mu.Unlock()
	return dctx, func() bool {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
		cancel()
		return gone
	}
}

// bridge connects the authenticated caller (octets from r, to c.w) to the
// backend and records how the session ended.
func (c *call) bridge(ctx context.Context, acct Account, r io.Reader) {
	s := c.s
	name := acct.Backend
	if name == "" {
		name = c.lc.Backend
	}
	c.rec.Backend = name
	c.setView(func(v *callView) { v.Backend, v.Phase = name, PhaseConnecting })
	be, found := c.st.backends[name]
	if !found {
		c.log.Error("no such backend", zap.String("backend", name))
		c.end(store.ResultBackendDown, fmt.Sprintf("no backend named %q", name), fmt.Sprintf("\r\nNO CARRIER (service %q is not available)\r\n", name))
		return
	}
	// Every window size the caller announces reaches the backend
	// bounded (MaxWindowDim): the first here, later ones through Resize.
	win := &windowLimit{log: c.log}
	c.bridged.Store(true)
	var (
		conn BackendConn
		err  error
	)
	dctx, callerGone := c.watchDial(ctx)
	onOwnStack(func() {
		conn, err = be.Connect(dctx, Session{
			Number: c.rec.Session, User: acct.Name, Listener: c.lc.Name,
			Remote: c.info.RemoteAddr, Local: c.info.LocalAddr,
			Term: c.line.Info().TermType, Window: win.bound(c.line.Info().Window),
			LineRate: c.lc.LineRate,
		})
	})
	gone := callerGone()
	if err != nil {
		if r, why, msg, ok := c.operatorEnd(); ok {
			// HangUp cut the dial short: not the backend's fault.
			c.end(r, why, msg)
			return
		}
		if gone {
			c.end(store.ResultAbandoned, reasonGoneWhileDialling, "")
			return
		}
		c.log.Warn("backend unavailable", zap.String("backend", name), zap.Error(err))
		msg := fmt.Sprintf("\r\nNO CARRIER (service %q is not available)\r\n", name)
		if s.stopCtx.Err() != nil {
			msg = msgShutdown
		}
		c.end(store.ResultBackendDown, err.Error(), msg)
		return
	}
	setReadBudget(c.line, -1) // bridged: the caller's octets are the session's
	program, _ := conn.(programEnder)
	c.followBackendEcho(conn)
	if c.lineText {
		r = enterAsCR(c.line, conn, r)
	}
	conn = win.wrap(conn)
	c.rec.Answer = s.now()
	c.setView(func(v *callView) { v.Phase, v.Answer = PhaseSession, c.rec.Answer })
	c.log.Info("session bridged", zap.String("backend", name))
	c.noteOpen()
	// The session's limits (idle_timeout, max_session) end it through
	// the pump's context, with their cause.
	lim := c.lc.SessionLimits(c.st.cfg.Lines)
	pctx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	watch := startSessionWatch(lim, realClock{s.now}, endSession)
	// On a paced line, output to the caller counts as activity as it is
	// written (see callerWriter).
	dropLoginEvents(c.line, c.breaks)
	stopBreaks := forwardBreaks(c.breaks, conn)
	res := pump(pctx, watch.callerReader(r), watch.callerWriter(c.w, c.lc.LineRate), c.cutOff, c.line, watch.backendConn(conn), &c.cnt)
	stopBreaks()
	watch.stop()
	c.sessionEnded(res, pctx, lim, program)
	if res.upDone != nil {
		<-res.upDone
	}
}

// followBackendEcho hands the caller's echo, which the text login left
// to the gateway (WILL ECHO), to the backend session conn if it decides
// it (backendEcho): a raw TCP service gives it back to the caller, a
// telnet backend passes on its own ECHO. Other backends keep it: a pty's
// tty echoes, and so does the demo board. V.42 callers have no telnet
// echo to the gateway.
func (c *call) followBackendEcho(conn BackendConn) {
	be, ok := conn.(backendEcho)
	ec, isEC := c.line.(transport.EchoController)
	if !ok || !isEC || !c.echoing {
		return
	}
	be.followEcho(func(on bool) {
		if err := ec.SetServerEcho(on); err != nil {
			c.log.Debug("caller's echo not changed", zap.Bool("gateway_echoes", on), zap.Error(err))
			return
		}
		c.log.Debug("caller's echo", zap.Bool("gateway_echoes", on))
	})
}

// sessionEnded records how the bridged session ended (res, the pump's
// context pctx, the limits lim, the pty program if any) and hangs up with
// the words for it. Not inlined: its locals stay off the frame of
// bridge, which the call's goroutine keeps for the session (see
// newCall).
//
//go:noinline
func (c *call) sessionEnded(res pumpResult, pctx context.Context, lim config.SessionLimits, program programEnder) {
	switch res.side {
	case endBackend:
		if res.backendErr != nil {
			c.end(store.ResultCompleted, "backend failed: "+res.backendErr.Error(), msgBackendFail)
		} else {
			reason, msg := "backend closed", msgBackendEnd
			if program != nil {
				// A door that failed or crashed says so in the record;
				// one that crashed, to the caller as well (operator
				// trial: a door killed by SIGKILL was "the service
				// ended the session", and gateway dial exited 0).
				if how := program.ProgramEnd(); how != "" {
					reason += " (program " + how + ")"
				}
				if program.ProgramCrashed() {
					msg = msgBackendFail
				}
			}
			c.end(store.ResultCompleted, reason, msg)
		}
	case endCaller:
		if errors.Is(res.callerErr, lapm.ErrPayloadRefused) {
			// A sealed payload that did not open arrived intact by
			// its FCS: altered on the way, replayed or forged. The
			// caller broke Access Security, as with a forged RESPONSE.
			c.end(store.ResultError, "Access Security protocol error: a data payload from the caller did not authenticate: "+res.callerErr.Error(), "")
			return
		}
		c.end(store.ResultCompleted, callerEndReason(res.callerErr), "")
	case endStopped:
		switch cause := context.Cause(pctx); {
		case errors.Is(cause, errIdleTimeout):
			c.log.Info("session idle: hanging up", zap.Duration("idle_timeout", lim.Idle))
			c.end(store.ResultCompleted, "idle timeout", msgIdle)
		case errors.Is(cause, errSessionLimit):
			c.log.Info("session time limit: hanging up", zap.Duration("max_session", lim.Max))
			c.end(store.ResultCompleted, "session time limit", msgTimeLimit)
		case errors.Is(cause, errOperatorHangup):
			c.end(store.ResultCompleted, reasonOperator, msgOperator)
		default:
			c.end(store.ResultShutdown, "gateway shut down", msgShutdown)
		}
	}
}

// forwardBreaks passes each break from breaks (a V.42 caller's) to the
// backend as an interrupt, as a telnet caller's BREAK is (see
// startControl), until stop is called; stop returns once nothing touches
// the backend any more. Without breaks or an Interrupter backend it
// starts nothing. An interrupt racing the end of the session meets a
// closed backend and is lost, as the break would be.
func forwardBreaks(breaks <-chan struct{}, be BackendConn) (stop func()) {
	intr, ok := be.(Interrupter)
	if breaks == nil || !ok {
		return func() {}
	}
	stopCh, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stopCh:
				return
			case <-breaks:
				_ = intr.Interrupt(transport.EventBreak)
			}
		}
	}()
	return func() {
		close(stopCh)
		<-done
	}
}

// dropLoginEvents discards the breaks and interrupts the caller sent
// before its session began (at the login prompt, while the backend
// connected), on the line and, for a V.42 call, on its link (breaks):
// they are not for the program the session starts, which would
// otherwise get them the moment it started (telnet trial: IP at the
// login prompt ended the pty program right after the login).
func dropLoginEvents(line transport.Line, breaks <-chan struct{}) {
	if en, ok := lineAs[transport.EventNotifier](line); ok {
		drainNow(en.Events())
	}
	drainNow(breaks)
}

// drainNow discards what ch holds now, without waiting (nil: nothing).
func drainNow[T any](ch <-chan T) {
	for ch != nil {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		default:
			return
		}
	}
}
