package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
)

// CallbackSession is a callback the callback service has placed and
// authenticated (phases v/vi, or the text-mode confirmation), handed back
// to the Server to be bridged.
type CallbackSession struct {
	// Request is what the Server passed to the CallbackFunc.
	Request CallbackRequest
	// Line is the new call's line (dialed to the user's callback address).
	Line transport.Line
	// Link carries the session's octets when the callback runs LAPM (the
	// sealed link after auth.PlaceCallback and Establish); nil: Line
	// itself (text-mode callback).
	Link io.ReadWriteCloser
	// Stats reports the link's counters for the record (nil: none).
	Stats func() *store.LAPMStats
	// Attempts is the number of dial attempts it took (for the record).
	Attempts int
}

// BridgeCallback bridges an established callback to the user's backend,
// like an answered call: it takes a line slot, connects the backend,
// copies both ways and writes a call record with the original session
// number, mode "callback" and the dial attempts. It returns when the
// session has ended; the Server owns Line and Link from the call on.
// listener names the listener whose settings apply (the one the original
// call came in on).
//
// The callback's slot counts against max_concurrent and per_source like
// any call's, its session against lines.per_user, and the maintenance
// switch refuses it, but the hold-off of
// the address does not apply (see slots.takeCallback). A callback that is
// not bridged is told why on its line, or inside the V.42 link, with
// "NO CARRIER (...)" words as every refused call is, and recorded with
// the reason "callback not bridged: ..."; the error says the same. Only
// after the drain deadline, when the store may be closing, is it told
// and not recorded.
func (s *Server) BridgeCallback(cs CallbackSession) error {
	name := cs.Request.Listener
	st := s.st.Load()
	lc, known := st.cfg.Listener(name)
	info := cs.Line.Info()
	c := &call{
		s: s, st: st, lc: lc, line: cs.Line, info: info,
		source: auth.SourceKey(info.RemoteAddr),
		w:      cs.Line, closer: cs.Line.Close, stats: cs.Stats,
	}
	var r io.Reader = cs.Line
	if cs.Link != nil {
		c.w, r, c.closer = cs.Link, cs.Link, cs.Link.Close
	}
	acct := cs.Request.Account
	c.rec = store.CallRecord{
		Session: cs.Request.Session, User: acct.Name, Listener: name, Remote: info.RemoteAddr,
		Line: info.Transport, Mode: "callback", Start: s.now(), CallbackAttempts: cs.Attempts,
	}
	c.log = s.log.With(zap.String("listener", name), zap.String("remote", info.RemoteAddr),
		zap.String("transport", info.Transport), zap.Uint64("session", c.rec.Session), zap.String("user", acct.Name))
	c.userLogged = true
	if !s.addCall() {
		c.hangup(msgShutdown)
		return fmt.Errorf("bridge: callback not bridged: %w", ErrShutdown)
	}
	defer s.calls.Done()
	defer c.finish()
	if !known {
		c.end(store.ResultError, fmt.Sprintf("callback not bridged: no listener named %q", name), msgError)
		return fmt.Errorf("bridge: callback not bridged: %w %q", ErrUnknownListener, name)
	}
	if why := s.slots.takeCallback(c.source, s.now()); why != busyNone {
		c.end(store.ResultBusy, "callback not bridged: "+string(why), msgCallbackRefused(why))
		return errors.New("bridge: callback not bridged: " + string(why))
	}
	c.hasSlot = true
	defer c.releaseSlot()
	s.metrics.callStarted()
	defer s.metrics.callEnded()
	ctx, cancel := context.WithCancelCause(s.stopCtx)
	defer cancel(nil)
	defer c.register(cancel, PhaseConnecting)()
	// lines.per_user: the account may have logged in again, or been
	// called back for another login, since this callback's login was
	// checked (review: between the hang-up and the callback the account
	// has no call in progress).
	if !c.claimAccount(acct.Name, "callback not bridged", "callback not bridged: ") {
		return fmt.Errorf("bridge: callback not bridged: the calls of %s in progress are at lines.per_user", acct.Name)
	}
	c.bridge(ctx, acct, r)
	return nil
}

// msgCallbackRefused is what the party that answered a callback hears
// when it gets no line slot: BUSY alone would read as the party's own
// line being busy, and over V.42 it would not be a result code at all.
func msgCallbackRefused(why busyReason) string {
	if why == busyDraining {
		return msgShutdown
	}
	return "\r\nNO CARRIER (callback not connected: " + string(why) + ")\r\n"
}

// errNoCallbackService: a user needs a callback and the Server has no
// CallbackFunc.
var errNoCallbackService = errors.New("bridge: no callback service")

// callback hands an authenticated caller with a callback address to the
// callback service and hangs up. The callback is scheduled before the
// caller is promised it: a text caller is told "you will be called back"
// only when it was, and a V.42 caller's callback was scheduled from
// inside Access Security before CONFIRM (scheduleV42Callback). A refusal
// (another user's callback pending for the same address, too many
// pending, no callback service) is told as "cannot place now" (over V.42:
// REJECT callback-unavailable) and recorded as refused with the service's
// reason. A second login of a user whose callback is pending replaces it
// (callbackd.Schedule); the older session's record says superseded.
func (c *call) callback(ctx context.Context, acct Account) {
	if !c.cbScheduled {
		// A text login, or a V42Answerer that did not schedule it.
		if _, err := c.requestCallback(ctx, acct, c.ticket); err != nil {
			c.callbackRefused(acct.Callback, err)
			return
		}
	}
	msg := ""
	if c.rec.Mode != "v42" {
		// Over Access Security the caller learns it from CONFIRM.
		msg = "\r\nHanging up; you will be called back.\r\nNO CARRIER\r\n"
	}
	c.end(store.ResultCallback, "calling back "+acct.Callback, msg)
}

// scheduleV42Callback is V42Call.ScheduleCallback: Access Security calls
// it before CONFIRM, and answers REJECT callback-unavailable when it
// fails; v42Failed then records why. If Answer fails after it succeeded,
// CONFIRM was not sent and v42Failed withdraws the callback.
func (c *call) scheduleV42Callback(ctx context.Context, acct Account, ticket any) error {
	withdraw, err := c.requestCallback(ctx, acct, ticket)
	if err != nil {
		c.cbErr, c.cbAddr = err, acct.Callback
		return err
	}
	c.cbScheduled, c.cbWithdraw = true, withdraw
	return nil
}

// requestCallback hands the callback of acct to the callback service and
// returns the service's withdraw function (may be nil).
func (c *call) requestCallback(ctx context.Context, acct Account, ticket any) (withdraw func(), err error) {
	cb := c.s.cb.Load()
	if cb == nil {
		return nil, errNoCallbackService
	}
	return (*cb)(ctx, CallbackRequest{
		Session: c.rec.Session, Account: acct, Listener: c.lc.Name, Remote: c.info.RemoteAddr, Mode: c.modeFor(ticket),
		Ticket: ticket,
	})
}

// modeFor is the CallbackRequest's Mode: "v42" with an Access Security
// ticket, else the call's mode ("text", "v42-text").
func (c *call) modeFor(ticket any) string {
	if ticket != nil {
		return "v42"
	}
	return c.rec.Mode
}

// callbackRefused ends a call whose callback (to addr) could not be
// scheduled, with err from requestCallback. A V.42 caller has been told
// by REJECT callback-unavailable.
func (c *call) callbackRefused(addr string, err error) {
	msg := msgNoCallback
	if c.rec.Mode == "v42" {
		msg = ""
	}
	if errors.Is(err, errNoCallbackService) {
		c.log.Warn("user needs a callback but no callback service is configured")
		c.end(store.ResultRefused, "callback not available", msg)
		return
	}
	c.log.Warn("callback not scheduled", zap.String("address", addr), zap.Error(err))
	c.end(store.ResultRefused, "callback not scheduled: "+err.Error(), msg)
}
