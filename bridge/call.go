package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/pace"
	"github.com/dialgate/dialgate/transport/tcp"
)

// What the caller is told, in words, when the gateway hangs up.
const (
	msgBusy        = "BUSY\r\n" // the result line; busyMessage puts the reason before it
	msgBackendEnd  = "\r\nNO CARRIER (the service ended the session)\r\n"
	msgBackendFail = "\r\nNO CARRIER (the service failed)\r\n"
	msgShutdown    = "\r\nNO CARRIER (the gateway is shutting down)\r\n"
	// msgAccountBusy: the account has lines.per_user calls in progress.
	msgAccountBusy = "\r\nNO CARRIER (this account is already logged in as many times as allowed)\r\n"
	msgDenied      = "\r\nNO CARRIER (access denied)\r\n"
	msgThrottled   = "\r\nNO CARRIER (too many attempts or too busy; try again later)\r\n"
	msgTimeout     = "\r\nNO CARRIER (login timed out)\r\n"
	msgCheckTime   = "\r\nNO CARRIER (" + reasonCheckTimeout + ")\r\n"
	msgNoText      = "\r\nNO CARRIER (this line does not offer a text login; use a V.42 Access Security caller)\r\n"
	msgNoTextPlain = "\r\nNO CARRIER (this line does not offer a text login unencrypted; call it with TLS: telnets://, tls:// or wss://%s)\r\n"
	msgNoTextNoTLS = "\r\nNO CARRIER (this line does not offer a text login unencrypted, and it has no TLS; use a V.42 Access Security caller)\r\n"
	msgNoCalls     = "\r\nNO CARRIER (this line does not offer a text login, nor V.42: it takes no calls; tell its operator)\r\n"
	msgNoV42       = "\r\nNO CARRIER (V.42 is not available on this gateway)\r\n"
	msgHTTPClient  = "\r\nNO CARRIER (this is a telnet line, not a web page: call it with a telnet client or gateway dial; the browser terminal is on the gateway's ws:// listener)\r\n"
	msgError       = "\r\nNO CARRIER (gateway error)\r\n"
	msgNoCallback  = "\r\nNO CARRIER (your account needs a callback, which this gateway cannot place now)\r\n"
	msgIdle        = "\r\nNO CARRIER (idle timeout)\r\n"
	msgCancelled   = "\r\nNO CARRIER (login cancelled)\r\n"
	msgFlood       = "\r\nNO CARRIER (too much input before login)\r\n"
	msgTimeLimit   = "\r\nNO CARRIER (session time limit)\r\n"
	msgNotAllowed  = "\r\nNO CARRIER (this line does not take calls from your address)\r\n"
)

// reasonCheckTimeout is the record's reason, and the caller's last words,
// for a text login whose deadline passed while its password check waited
// for its turn (the throttle's wait, a hashing slot).
const reasonCheckTimeout = "login timed out waiting for the password check"

// messageWriteTimeout bounds writing a last message to a caller that does
// not read.
const messageWriteTimeout = 2 * time.Second

// call is one call's state.
type call struct {
	s      *Server
	st     *state
	lc     config.Listener
	line   transport.Line
	info   transport.LineInfo
	source string
	log    *zap.Logger
	rec    store.CallRecord
	cnt    counters
	// journaled is closed once the store has noted the bridged call
	// (noteOpen); nil when it keeps no journal or the call was not
	// bridged.
	journaled chan struct{}
	// linger is the bound on closing the line if the call never reaches
	// a backend; 0: refusedLinger.
	linger time.Duration

	// The caller's byte stream: the line, or the LAPM link over it. The
	// call's goroutine sets w, closer and stats (setStream) once a V.42
	// link is up, under ioMu, as hangup may read them from the login
	// watcher meanwhile (the deadline, an operator's HangUp).
	ioMu   sync.Mutex
	w      io.Writer
	closer func() error
	stats  func() *store.LAPMStats
	ticket any // Access Security callback ticket
	// cbScheduled: Access Security scheduled the callback before its
	// CONFIRM (scheduleV42Callback), and cbWithdraw undoes that if
	// CONFIRM is not sent after all; cbErr: why it could not, and cbAddr
	// the address it was for.
	cbScheduled bool
	cbWithdraw  func()
	cbErr       error
	cbAddr      string
	// breaks delivers the caller's V.42 breaks (UI BRK, V.42 §8.13);
	// nil on other calls, whose line reports breaks itself.
	breaks <-chan struct{}
	// echoing: the text login told the caller's telnet line that the
	// gateway echoes (WILL ECHO); the backend decides whether that stays
	// (followBackendEcho).
	echoing bool
	// lineText: the text login and the session read the caller's line
	// itself, not a V.42 link over it (enterAsCR).
	lineText bool

	hangOnce   sync.Once
	slotOnce   sync.Once   // releases the line slot (releaseSlot)
	hasSlot    bool        // the call took a line slot; set before run
	bridged    atomic.Bool // a backend session was (being) opened
	userLogged bool        // c.log carries the user field
	// checking is set while the text login's password check runs (or
	// waits for its turn), and stays set if the login's deadline ends
	// it: the deadline's watcher then says so.
	checking atomic.Bool
	resMu    sync.Mutex // guards rec.Result and rec.Reason against the login watcher

	// cancel ends the call's context (HangUp: errOperatorHangup); set
	// by register.
	cancel context.CancelCauseFunc
	// viewMu guards view (what Calls shows) and byOperator (HangUp was
	// called: every way of ending the call says so, see operatorEnd).
	viewMu     sync.Mutex
	view       callView
	byOperator bool
	// endLogin ends the login (detection, V.42, Access Security, the
	// text login) with the gateway's shutdown when it drains: set by run.
	endLogin context.CancelFunc
}

func (s *Server) handle(name string, line transport.Line) {
	c := s.newCall(name, line)
	// Before the slot: a caller the listener does not take holds none.
	if !sourceAllowed(c.lc.AllowedSources, c.info.RemoteAddr) {
		c.linger = floodLinger // its own address is the reason
		setReadBudget(c.line, busyReadBudget)
		s.turnAway(c, store.ResultRefused, reasonNotAllowed, msgNotAllowed)
		return
	}
	// The slot comes first and a BUSY caller is hung up before anything
	// durable happens: a flood of connections must not hold descriptors
	// while records queue for fsync.
	if why := s.slots.take(c.source, s.now()); why != busyNone {
		s.busy(c, why)
		return
	}
	c.hasSlot = true
	defer c.finish()
	defer c.releaseSlot()
	if !c.number() {
		return
	}
	s.metrics.callStarted()
	defer s.metrics.callEnded()
	c.log.Debug("call answered")
	c.run()
}

// newCall sets up the call on line (listener name). It is a function of
// its own, not inlined, so that its locals (the listener's settings, the
// line's description, the call's literal: about 1.8 KiB) are not part
// of handle's frame, which stays on the call's goroutine for the whole
// session: with them the stack of a bridged call's goroutine passed
// 8 KiB during the data phase and doubled for good in a fifth of the
// sessions (idle RSS per session +3 KiB; docs/BENCHMARKS.md).
//
//go:noinline
func (s *Server) newCall(name string, line transport.Line) *call {
	st := s.st.Load()
	lc, _ := st.cfg.Listener(name)
	if lc.LineRate > 0 {
		// Like a modem: the line carries lc.LineRate bit/s of start-stop
		// characters (10 bits each), each way (operator trial: uploads
		// went at network speed). What a caller sends faster waits in
		// the transport, whose flow control slows the caller.
		if p, err := pace.New(line, pace.Config{BitsPerSecond: lc.LineRate, BitsPerChar: 10, PaceReads: true}); err == nil {
			line = p
		}
	}
	if _, ok := line.(transport.Deadliner); !ok && lc.V42 == config.V42Detect && s.v42 != nil {
		// Detection times out with read deadlines (T400).
		line = newDeadlineLine(line)
	}
	if n, ok := lineAs[aytNamer](line); ok {
		n.SetAYTName(st.cfg.GatewayName)
	}
	// From the first octet until the session is bridged (bridge), under
	// any wrapper (a paced line's: retest, a ws line with line_rate had
	// no budget at all): a call turned away before it (BUSY, a refused
	// login) waits for the caller's close, and the line discards what
	// the caller sends meanwhile only up to its budget (hostile-peer
	// trial: a caller flooding each of its BUSY calls kept 70 % of a
	// core busy, every octet discarded).
	setReadBudget(line, maxPreLogin)
	info := line.Info()
	c := &call{
		s: s, st: st, lc: lc, line: line, info: info,
		source: auth.SourceKey(info.RemoteAddr),
		w:      line, closer: line.Close,
	}
	c.rec = store.CallRecord{Listener: name, Remote: info.RemoteAddr, Line: info.Transport, Start: s.now()}
	c.log = s.log.With(zap.String("listener", name), zap.String("remote", info.RemoteAddr), zap.String("transport", info.Transport))
	return c
}

// aytNamer is a line that answers telnet AYT with the gateway's name
// (tcp.Line).
type aytNamer interface{ SetAYTName(name string) }

// callLogSetter is a line whose own log lines (telnet negotiation, a
// WebSocket's close) can go to the call's logger (tcp.Line, ws.Line).
type callLogSetter interface{ SetLogger(tcp.Logger) }

// number gives the call its session number; false means the call has been
// ended with an error result.
func (c *call) number() bool {
	n, err := c.s.store.NextSession()
	if err != nil {
		c.log.Error("no session number; refusing the call", zap.Error(err))
		c.end(store.ResultError, "no session number: "+err.Error(), msgError)
		return false
	}
	c.rec.Session = n
	c.log = c.log.With(zap.Uint64("session", n))
	if t, ok := lineAs[callLogSetter](c.line); ok {
		t.SetLogger(callPrintf{c.log.Sugar(), "session " + strconv.FormatUint(n, 10)})
	}
	return true
}

// releaseSlot gives the call's line slot back (once; calls without a
// slot have none to give).
func (c *call) releaseSlot() {
	if c.hasSlot {
		c.slotOnce.Do(func() { c.s.slots.release(c.source, c.s.now()) })
	}
}

// end hangs up with a message and sets the record's result, unless a
// result is already set.
func (c *call) end(result, reason, msg string) {
	if r, why, m, ok := c.operatorEnd(); ok {
		result, reason, msg = r, why, m
	}
	c.resMu.Lock()
	if c.rec.Result == "" {
		c.rec.Result, c.rec.Reason = result, reason
	}
	c.resMu.Unlock()
	c.hangup(msg)
}

// hanger is a caller's stream that can be released at once, dropping what
// the caller has not taken (lapm.Link).
type hanger interface{ Hangup() }

// cutOff hangs up on a caller that takes nothing more, ending a write
// blocked on it: a V.42 link has no write deadline, its Write waits while
// a window's worth is queued and the caller's receiver stays busy, and
// releasing it at once (DISC, which a busy receiver still takes) ends that
// wait; any other stream's wait ends by hanging up the line under it,
// within cutOffLinger.
func (c *call) cutOff() {
	w, _, _ := c.stream()
	if h, ok := w.(hanger); ok {
		// The DISC gets a write deadline of its own: the last words'
		// deadline, which ends now, would keep it off the line, and the
		// caller would see its line drop instead of a release.
		if d, ok := c.line.(transport.Deadliner); ok {
			_ = d.SetWriteDeadline(time.Now().Add(messageWriteTimeout))
		}
		h.Hangup()
		return
	}
	if l, ok := c.line.(transport.Lingerer); ok {
		l.SetLinger(cutOffLinger)
	}
	_ = c.line.Close()
}

// cutOffLinger bounds the close of a line cut off (cutOff): the caller
// has taken nothing for callerWriteGrace, or for its last words' time,
// so neither the write in progress nor the caller's FIN is worth the
// line's own linger (5 s on TCP and WebSocket lines). With it, a caller
// that stopped reading held its line slot 7 s after an operator's
// hang-up, the idle timeout or the drain's deadline, not the 2 s
// documented (leak review: `gateway hangup` of a caller with a full
// window, 7.12 s until the call ended).
const cutOffLinger = 100 * time.Millisecond

// hangup tells the caller msg (if any) and hangs up; only the first call
// has an effect.
func (c *call) hangup(msg string) {
	c.hangOnce.Do(func() {
		if msg != "" && c.hasSlot {
			c.s.slots.holdOff(c.source, c.s.now())
		}
		if msg != "" {
			w, _, stats := c.stream()
			limit := c.lastWordsTimeout(len(msg), stats)
			if d, ok := c.line.(transport.Deadliner); ok {
				// The line's deadline is wall-clock time, not the
				// injected clock's (Options.Now).
				_ = d.SetWriteDeadline(time.Now().Add(limit))
			}
			closed := make(chan struct{})
			t := time.AfterFunc(limit, func() {
				defer close(closed)
				c.cutOff()
			})
			_, _ = io.WriteString(w, msg)
			if !t.Stop() {
				<-closed // nothing of the call outlives it
			}
		}
		if !c.bridged.Load() {
			// A call that never reached a backend (refused, denied,
			// timed out) frees its line now: closing waits up to the
			// line's linger (5 s on TCP) for the caller to close too,
			// and refused callers that kept their connections open made
			// the lines BUSY for everyone meanwhile. A bridged call
			// keeps its slot until the end, so that max_concurrent
			// still bounds the backend sessions being torn down.
			c.releaseSlot()
			// Its last words are a line: a caller that does not close
			// its side gets refusedLinger, not the line's full linger,
			// to do so (a flood of refused connections that never
			// close held a descriptor each for 5 s).
			if l, ok := c.line.(transport.Lingerer); ok {
				l.SetLinger(cmp.Or(c.linger, refusedLinger))
			}
		}
		w, closer, _ := c.stream()
		// A V.42 link's Close drains at the caller's pace (minutes on a
		// slow line whose caller acknowledges little); once the drain's
		// deadline has passed, or a second signal cut it, that gets
		// callerWriteGrace, then the link is released at once (review:
		// a slow caller held the gateway's stop for minutes).
		closed := make(chan struct{})
		stopWait := context.AfterFunc(c.s.stopCtx, func() {
			t := time.NewTimer(callerWriteGrace)
			defer t.Stop()
			select {
			case <-closed:
			case <-t.C:
				if h, ok := w.(hanger); ok {
					h.Hangup()
				}
			}
		})
		err := closer()
		close(closed)
		stopWait()
		if errors.Is(err, lapm.ErrUnconfirmed) {
			// The caller's link acknowledged nothing through the
			// release (busy): the caller hears an orderly hang-up, so
			// the log says it.
			c.log.Warn("the caller acknowledged nothing while its link was released: the end of the session's output may not have reached it", zap.Error(err))
		}
		_ = c.line.Close()
	})
}

// setStream makes w the caller's byte stream (a V.42 link), closed by
// closer, with stats its counters.
func (c *call) setStream(w io.Writer, closer func() error, stats func() *store.LAPMStats) {
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	c.w, c.closer, c.stats = w, closer, stats
}

// stream is the caller's byte stream, its closer and its counters.
func (c *call) stream() (io.Writer, func() error, func() *store.LAPMStats) {
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	return c.w, c.closer, c.stats
}

// callJournal is a store that notes bridged calls while they last, so that
// a gateway that dies during one leaves its record (store.File.OpenCall).
type callJournal interface {
	OpenCall(store.CallRecord) error
}

// noteOpen notes the bridged call in the store's journal, if it keeps
// one, on a goroutine of its own: the note is a small file, which the
// session's start should not wait for on a slow disk. finish waits for it
// before the record.
func (c *call) noteOpen() {
	j, ok := c.s.store.(callJournal)
	if !ok {
		return
	}
	rec := c.rec
	done := make(chan struct{})
	c.journaled = done
	go func() {
		defer close(done)
		if err := j.OpenCall(rec); err != nil {
			c.log.Error("call journal: this call's record is lost if the gateway dies before it ends", zap.Error(err))
		}
	}()
}

// refusedLinger is how long closing the line of a call that never reached
// a backend (BUSY, refused, denied, timed out) waits for the caller to
// close its side, where the line lets it be set (TCP: 5 s otherwise). A
// caller's client closes within a round trip of seeing the gateway's
// close; one that does not is holding the connection open on purpose.
const refusedLinger = time.Second

// floodLinger is refusedLinger for a caller turned away because its own
// address already holds its share of lines or has just called (per_source,
// holdoff): one address opening connections as fast as it can must not
// fill the listener's bound of calls at once with connections it keeps
// open (at 1 s each, a thousand a second did), and its BUSY has gone out
// by then in all but the most congested cases.
const floodLinger = 100 * time.Millisecond

// lastWordsTimeout bounds writing a last message of n octets to the
// caller: messageWriteTimeout, plus on a paced line (line_rate) the time
// the message takes at the line rate and, over V.42, two windows of
// frames and two more: the message queues behind the frames the link
// holds unsent (up to a window) and those in flight (a window), which go
// first (BBS trial: with two frames' time, a hang-up during a download
// at 33,600 bit/s ran out of time in the middle of them, and the link was
// dropped without its words or DISC; the retest found one window too
// short at 9,600 bit/s). Capped at
// maxLastWords, so that a slow line that moves is not cut short, and a
// large window on a very slow line does not hold the line for minutes.
func (c *call) lastWordsTimeout(n int, stats func() *store.LAPMStats) time.Duration {
	d := messageWriteTimeout
	if c.lc.LineRate <= 0 {
		return d
	}
	if stats != nil {
		n401, k := 128, 15 // V.42's defaults
		if st := stats(); st != nil && st.N401 > 0 {
			n401 = st.N401
			k = cmp.Or(st.K, k)
		}
		// A sealed frame on the line: the payload, the cipher's tag,
		// address, control, FCS and flags, and bit stuffing (1 in 62
		// for random octets), generously.
		n += (2*k + 2) * (n401 + n401/16 + 64)
	}
	// Start-stop characters of 10 bits, as the pacing counts them.
	return min(maxLastWords, d+time.Duration(n)*10*time.Second/time.Duration(c.lc.LineRate))
}

// maxLastWords caps lastWordsTimeout.
const maxLastWords = time.Minute

// finish writes the call record and the log line.
func (c *call) finish() {
	c.hangup("")
	c.resMu.Lock()
	defer c.resMu.Unlock()
	c.rec.End = c.s.now()
	c.rec.BytesIn, c.rec.BytesOut = c.cnt.in.Load(), c.cnt.out.Load()
	if _, _, stats := c.stream(); stats != nil {
		c.rec.LAPM = stats()
	}
	if c.rec.Result == "" {
		c.rec.Result = store.ResultError
		c.rec.Reason = "call ended without a result"
	}
	// Counted before the record is written: whoever sees the record in
	// the store (an operator, a test reading calls.jsonl and then
	// /metrics) finds the call in the metrics too. Counting after the
	// fsync left a window in which the record existed and the metrics
	// did not count it yet.
	c.s.metrics.callRecorded(c.rec)
	if c.journaled != nil {
		<-c.journaled // the note goes before the record that removes it
	}
	if err := c.s.store.AppendRecord(c.rec); err != nil {
		c.s.recordError(c.rec.Session, err)
	}
	fields := []zap.Field{
		zap.String("result", c.rec.Result), zap.String("reason", c.rec.Reason),
		zap.Int64("bytes_in", c.rec.BytesIn), zap.Int64("bytes_out", c.rec.BytesOut),
		zap.Duration("duration", c.rec.End.Sub(c.rec.Start)),
	}
	if c.rec.User != "" && !c.userLogged {
		// Failed logins: the name tried (bridged calls carry "user"
		// in c.log already).
		fields = append(fields, zap.String("user", c.rec.User))
	}
	if c.rec.Result == store.ResultBusy || c.rec.Reason == reasonNotAllowed {
		// Counted in the metrics and recorded; during a flood an info
		// line each would be most of the log.
		c.log.Debug("call ended", fields...)
	} else {
		c.log.Info("call ended", fields...)
	}
}

// run is the call after it got a line slot.
func (c *call) run() {
	s := c.s
	cfg := c.st.cfg
	ctx, cancel := context.WithCancelCause(withCall(s.stopCtx, loginCall{c.rec.Session, c.rec.Listener, c.rec.Line}))
	defer cancel(nil)
	defer c.register(cancel, PhaseLogin)()

	// Until the session is bridged: the handshake deadline, and the
	// gateway's stop, hang up with a message.
	loginCtx, loginCancel := context.WithTimeout(ctx, cfg.Security.HandshakeDeadline.Duration)
	defer loginCancel()
	c.viewMu.Lock()
	c.endLogin = loginCancel
	c.viewMu.Unlock()
	if s.Draining() {
		// Shutdown's endLogins ran before endLogin was set: draining is
		// set before it runs, so one of the two ends the login.
		loginCancel()
	}
	stopWatch := context.AfterFunc(loginCtx, func() {
		if r, why, msg, ok := c.operatorEnd(); ok {
			c.end(r, why, msg)
			return
		}
		if s.stopCtx.Err() != nil || s.Draining() {
			c.end(store.ResultShutdown, "gateway shut down during login", msgShutdown)
			return
		}
		if errors.Is(loginCtx.Err(), context.DeadlineExceeded) {
			if c.checking.Load() {
				// A correct login can time out here on a busy
				// gateway: the record (with the user typed) and
				// the caller say it was waiting, not idle.
				c.end(store.ResultAbandoned, reasonCheckTimeout, msgCheckTime)
				return
			}
			c.end(store.ResultAbandoned, "login timed out", msgTimeout)
		}
	})
	var (
		acct Account
		r    io.Reader
		ok   bool
	)
	onOwnStack(func() { acct, r, ok = c.authenticate(loginCtx) })
	if !stopWatch() {
		// The watcher ran: the call is already hung up and its result
		// set. A check that succeeded as the deadline passed (argon2
		// does not watch ctx) still names the user it verified, as a
		// check that failed late names the user tried.
		// (The watcher sets only the result and reason.)
		if ok {
			c.rec.User = acct.Name
		}
		if _, _, _, byOperator := c.operatorEnd(); byOperator && c.cbScheduled && c.cbWithdraw != nil {
			// Access Security scheduled the callback (and sent CONFIRM)
			// as the operator hung up: the operator's word stands.
			c.cbWithdraw()
			c.log.Info("callback withdrawn: the operator hung up the call")
		}
		return
	}
	if !ok {
		return
	}
	c.rec.User = acct.Name
	c.log = c.log.With(zap.String("user", acct.Name))
	c.userLogged = true
	if !c.claimAccount(acct.Name, "login refused", "") {
		if c.cbScheduled && c.cbWithdraw != nil {
			c.cbWithdraw() // Access Security promised it; no session, no callback
		}
		return
	}
	c.setView(func(v *callView) { v.Mode = c.rec.Mode })

	if acct.Callback != "" {
		if !c.enter(PhaseCallback) {
			// Hung up by the operator as the login succeeded: no
			// callback (Access Security may have scheduled it).
			if c.cbScheduled && c.cbWithdraw != nil {
				c.cbWithdraw()
			}
			c.end(store.ResultAbandoned, reasonOperator, msgOperator)
			return
		}
		c.callback(ctx, acct)
		return
	}
	c.bridge(ctx, acct, r)
}

// claimAccount names the call's user, unless the account has as many
// calls in progress as [lines] per_user allows: then it ends the call,
// refused (the record's reason after prefix, the log line after what),
// and returns false.
func (c *call) claimAccount(user, what, prefix string) bool {
	limit := c.st.cfg.Lines.PerUser
	others, ok := c.s.active.claimUser(c, user, limit)
	if !ok {
		c.log.Info(what+": the account has as many calls in progress as lines.per_user allows", zap.Int("calls", others), zap.Int("per_user", limit))
		c.end(store.ResultRefused, fmt.Sprintf("%sthe account already has %d call(s) in progress (lines.per_user = %d)", prefix, others, limit), msgAccountBusy)
	}
	return ok
}

// onOwnStack runs f on a goroutine of its own and returns when f has
// returned.
//
// The call's goroutine spends the session parked in the bridge (pump's
// backend->caller copy) with about 5 KiB of stack in use, and the runtime
// shrinks a goroutine's stack only while less than a quarter of it is in
// use: whatever grew the stack before, the Access Security handshake
// (LAPM set-up, Noise with X25519, argon2id), the text login or dialling
// a backend, would leave it at 16 KiB for the whole session. Grown on a
// goroutine that ends, the stack goes back to the runtime for the next
// call, and the call's goroutine keeps its 8 KiB (docs/BENCHMARKS.md,
// "Idle full sessions in the gateway"). f must return once its context
// is done, as every step of a call does; then nothing outlives the call.
func onOwnStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// callerHungUp tells whether err means the caller's end went away (end of
// input, connection reset, line closed), not a protocol or gateway fault.
func callerHungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, transport.ErrHungUp) || errors.Is(err, net.ErrClosed)
}

// callerEndReason is the record's reason for a call the caller's side
// ended: err is the caller line's error, nil for an orderly end. A V.42
// caller that releases the link (DISC) while the gateway is writing to it
// hung up as much as one whose release arrives between writes, which
// ends the reads with EOF; a link that failed (N400 retransmissions
// unanswered) did not. A connection the caller's side reset (tcpser
// after +++ ATH during output) hung up too, as callerHungUp counts it.
func callerEndReason(err error) string {
	switch {
	case err == nil:
		return "caller hung up"
	case errors.Is(err, lapm.ErrPeerDisconnected) && !errors.Is(err, lapm.ErrLinkFailure):
		return "caller hung up (" + err.Error() + ")"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "caller hung up (connection reset)"
	case errors.Is(err, io.EOF):
		// The line ended (the caller's FIN) while the link was up: its
		// failure wraps the line's EOF.
		return "caller hung up (line closed)"
	}
	return "caller line failed: " + err.Error()
}

// recordError logs a call record AppendRecord could not write, as
// LogRecordError does, summed over at most a second (burstlog.Log): on a
// full disk every call's record fails, and a flood of calls must not
// become a flood of log lines. The call's own "call ended" line, logged
// next (at debug level for a BUSY call), says which call it was.
func (s *Server) recordError(session uint64, err error) {
	// The summary names the last call (review: a single failure, summed,
	// no longer said whose record it was).
	last := fmt.Sprintf("session %d: %v", session, err)
	if errors.Is(err, store.ErrRecordKept) {
		s.keptRecords.Add(last)
		return
	}
	s.lostRecords.Add(last)
}

// LogRecordError logs a call record AppendRecord could not write: kept
// in memory to be written later (a full disk), or lost. The callback
// service's records (cmd/gateway) log the same way.
func LogRecordError(log *zap.Logger, err error) {
	if errors.Is(err, store.ErrRecordKept) {
		log.Warn("call record not written yet: kept in memory until the state directory has room", zap.Error(err))
		return
	}
	log.Error("call record lost", zap.Error(err))
}
