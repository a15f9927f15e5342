package bridge

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/store"
)

// The phases of a call in progress, as CallInfo.Phase names them.
const (
	PhaseLogin      = "login"      // detection, V.42 and Access Security, or the text login
	PhaseConnecting = "connecting" // authenticated (or called back); the backend is being dialled
	PhaseSession    = "session"    // bridged to its backend
	PhaseCallback   = "callback"   // authenticated; hanging up to call back
)

// CallInfo is what an operator sees of a call in progress (Server.Calls:
// `gateway calls`).
type CallInfo struct {
	Session  uint64    `json:"session"`
	Listener string    `json:"listener"`
	Remote   string    `json:"remote"`
	Line     string    `json:"line"`           // the line's transport: tcp, telnet, tls, telnets, ws, wss
	Mode     string    `json:"mode,omitempty"` // "callback" for a callback's session; else set at login as in the call record
	Phase    string    `json:"phase"`
	User     string    `json:"user,omitempty"`    // once authenticated
	Backend  string    `json:"backend,omitempty"` // once bridged
	Start    time.Time `json:"start"`
	Answer   time.Time `json:"answer,omitzero"` // when the backend answered
	BytesIn  int64     `json:"bytes_in"`        // caller -> backend
	BytesOut int64     `json:"bytes_out"`       // backend -> caller
}

// The record's reason, and what the caller hears, when an operator hangs
// a call up (Server.HangUp).
const (
	reasonOperator = "hung up by the operator"
	msgOperator    = "\r\nNO CARRIER (the operator ended the call)\r\n"
)

// errOperatorHangup is the cause of a call's context that an operator
// ended.
var errOperatorHangup = errors.New("bridge: " + reasonOperator)

// ErrNoSuchCall is Server.HangUp's answer for a session that is not in
// progress (never was, or has ended).
var ErrNoSuchCall = errors.New("bridge: no call in progress with that session number")

// ErrCallingBack is Server.HangUp's answer for a call that is hanging up
// to call back: it is ending anyway, and its callback is cancelled by
// neither.
var ErrCallingBack = errors.New("bridge: the call is hanging up to call back")

// activeCalls are the calls in progress that have a session number and a
// line slot, by session number.
type activeCalls struct {
	mu sync.Mutex
	m  map[uint64]*call
}

func (a *activeCalls) add(c *call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[uint64]*call{}
	}
	a.m[c.rec.Session] = c
}

func (a *activeCalls) remove(c *call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m[c.rec.Session] == c {
		delete(a.m, c.rec.Session)
	}
}

// claimUser names c's user in the registry (Calls) unless user already
// has limit calls in progress besides c (limit 0: no limit). It returns
// how many the user has besides c. Counting and naming under one lock:
// two logins at once cannot both take the last place.
func (a *activeCalls) claimUser(c *call, user string, limit int) (others int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range a.m {
		if o == c {
			continue
		}
		o.viewMu.Lock()
		if o.view.User == user {
			others++
		}
		o.viewMu.Unlock()
	}
	if limit > 0 && others >= limit {
		return others, false
	}
	c.setView(func(v *callView) { v.User = user })
	return others, true
}

// list returns the calls in progress, in no order.
func (a *activeCalls) list() []*call {
	a.mu.Lock()
	defer a.mu.Unlock()
	cs := make([]*call, 0, len(a.m))
	for _, c := range a.m {
		cs = append(cs, c)
	}
	return cs
}

func (a *activeCalls) get(session uint64) *call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[session]
}

// Calls lists the calls in progress, by session number. Calls turned away
// with BUSY never appear.
func (s *Server) Calls() []CallInfo {
	cs := s.active.list()
	out := make([]CallInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.snapshot())
	}
	slices.SortFunc(out, func(a, b CallInfo) int { return cmp.Compare(a.Session, b.Session) })
	return out
}

// HangUp ends the call in progress with that session number, as an
// operator does: the caller hears "NO CARRIER (the operator ended the
// call)", the backend session (if any) is closed, and the record says
// "hung up by the operator" (result completed for a bridged session,
// abandoned for a call still logging in or dialling its backend). It returns once the call has
// been told to end, not when it has; ErrNoSuchCall and ErrCallingBack
// say why it did nothing.
func (s *Server) HangUp(session uint64) error {
	c := s.active.get(session)
	if c == nil {
		return ErrNoSuchCall
	}
	c.viewMu.Lock()
	phase, user, again := c.view.Phase, c.view.User, c.byOperator
	if phase != PhaseCallback {
		c.byOperator = true
	}
	c.viewMu.Unlock()
	if phase == PhaseCallback {
		return ErrCallingBack
	}
	if again {
		return nil // being hung up already
	}
	// s.log, not c.log: the call's goroutine replaces c.log at login.
	// The user as Calls shows it, once the login has given the call one.
	fields := []zap.Field{zap.Uint64("session", session), zap.String("listener", c.rec.Listener),
		zap.String("remote", c.rec.Remote), zap.String("phase", phase)}
	if user != "" {
		fields = append(fields, zap.String("user", user))
	}
	s.log.Info("operator hangs up the call", fields...)
	c.cancel(errOperatorHangup)
	return nil
}

// register makes c a call in progress (Calls, HangUp) until the returned
// function is called; cancel ends its context.
func (c *call) register(cancel context.CancelCauseFunc, phase string) (unregister func()) {
	c.cancel = cancel
	c.view = callView{Phase: phase, Mode: c.rec.Mode, User: c.rec.User}
	c.s.active.add(c)
	return func() { c.s.active.remove(c) }
}

// callView is what changes of a call in progress as it goes on (the
// rest of CallInfo is in the record from the start and never changes).
type callView struct {
	Phase, Mode, User, Backend string
	Answer                     time.Time
}

// setView changes what Calls shows of c.
func (c *call) setView(f func(*callView)) {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	f(&c.view)
}

// snapshot is c as Calls shows it.
func (c *call) snapshot() CallInfo {
	c.viewMu.Lock()
	v := c.view
	c.viewMu.Unlock()
	// Session, listener, remote, line and start are set before the call
	// is registered and never written again.
	return CallInfo{
		Session: c.rec.Session, Listener: c.rec.Listener, Remote: c.rec.Remote, Line: c.rec.Line, Start: c.rec.Start,
		Mode: v.Mode, Phase: v.Phase, User: v.User, Backend: v.Backend, Answer: v.Answer,
		BytesIn: c.cnt.in.Load(), BytesOut: c.cnt.out.Load(),
	}
}

// operatorEnd reports whether an operator hung c up (HangUp), and if so
// the result, reason and last words every way of ending the call then
// uses, whichever of the call's steps sees it first.
func (c *call) operatorEnd() (result, reason, msg string, ok bool) {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if !c.byOperator {
		return "", "", "", false
	}
	switch c.view.Phase {
	case PhaseSession:
		return store.ResultCompleted, reasonOperator, msgOperator, true
	case PhaseConnecting:
		return store.ResultAbandoned, reasonOperator + " before the backend answered", msgOperator, true
	}
	return store.ResultAbandoned, reasonOperator + " during login", msgOperator, true
}
