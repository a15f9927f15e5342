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
