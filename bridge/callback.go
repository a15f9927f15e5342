package bridge

import (
	"context"
	"errors"
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
// like an answered call: it takes a line slot (BUSY when none: the record
// says so), connects the backend, copies both ways and writes a call
// record with the original session number, mode "callback" and the dial
// attempts. It returns when the session has ended; the Server owns Line
// and Link from the call on. listener names the listener whose settings
// apply (the one the original call came in on).
func (s *Server) BridgeCallback(cs CallbackSession) error {
	name := cs.Request.Listener
	st := s.st.Load()
	lc, ok := st.cfg.Listener(name)
	if !ok {
		closeSession(cs)
		return ErrUnknownListener
	}
	if !s.addCall() {
		closeSession(cs)
		return ErrShutdown
	}
	defer s.calls.Done()
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
	defer c.finish()
	if why := s.slots.take(c.source, s.now()); why != busyNone {
		msg := msgBusy
		if cs.Link != nil {
			msg = ""
		}
		c.end(store.ResultBusy, string(why), msg)
		return errors.New("bridge: callback: " + string(why))
	}
	defer func() { s.slots.release(c.source, s.now()) }()
	s.metrics.callStarted()
	defer s.metrics.callEnded()
	ctx, cancel := context.WithCancel(s.stopCtx)
	defer cancel()
	c.bridge(ctx, acct, r)
	return nil
}

func closeSession(cs CallbackSession) {
	if cs.Link != nil {
		cs.Link.Close()
	}
	cs.Line.Close()
}
