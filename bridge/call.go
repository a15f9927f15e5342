package bridge

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/pace"
	"github.com/dialgate/dialgate/transport/proxyproto"
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

// reasonNotAllowed is the record's reason for a caller whose address is
// not in its listener's allowed_sources.
const reasonNotAllowed = "address not in the listener's allowed_sources"

// busyMessage is what a caller turned away without a line hears: one
// short line saying why, under the gateway's name as in the login banner
// ("\r\ndialgate: redialled too soon; try again in 2 s\r\n"), then the
// BUSY result line exactly as a modem says it. BUSY stays the last line,
// as a modem's result code ends an exchange, so scripts and modems that
// wait for it still match. left is the rest of the caller's hold-off,
// told in whole seconds rounded up. The reason goes to telnet-modem
// lines (tcp, telnet), where modems, tcpser and terminals call, and to
// WebSocket lines (ws, wss too), whose browser page shows it; other lines
// (in-memory test lines) hear the bare BUSY.
func busyMessage(gatewayName, lineTransport string, why busyReason, left time.Duration) string {
	var hint string
	switch why {
	case busyHoldoff:
		hint = fmt.Sprintf("redialled too soon; try again in %d s", max(1, (left+time.Second-1)/time.Second))
	case busyFull:
		hint = "all lines busy; try again later"
	case busyPerSource:
		hint = "too many calls from your address; hang up one first"
	case busyMaintenance:
		hint = "down for maintenance; try again later"
	case busyDraining:
		hint = "shutting down; try again later"
	}
	switch lineTransport {
	case "tcp", "telnet", "ws", "tls", "telnets", "wss":
	default:
		hint = ""
	}
	if hint == "" {
		return msgBusy
	}
	if !printableASCII(gatewayName) {
		// The callers take only printable ASCII before BUSY (a name
		// such as "Café BBS" would make the BUSY a hang-up): the reason
		// alone.
		return "\r\n" + hint + "\r\n" + msgBusy
	}
	return "\r\n" + gatewayName + ": " + hint + "\r\n" + msgBusy
}

// printableASCII reports whether s is all printable ASCII (space to ~).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// holdoffLeft is how much of source's hold-off is left at now; 0 if none.
func (s *slots) holdoffLeft(source string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.hangup[source]; ok && now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// reasonCheckTimeout is the record's reason, and the caller's last words,
// for a text login whose deadline passed while its password check waited
// for its turn (the throttle's wait, a hashing slot).
const reasonCheckTimeout = "login timed out waiting for the password check"

// maxPreLogin bounds what a caller may send before its session is
// bridged (its login, and a refusal after it), on lines that can count it (transport.ReadBudgeter: tcp, ws; also under a
// pacing wrapper, line_rate). A login takes
// a few KiB even on a noisy line (V.42 detection, XID, the Access Security
// tokens, retransmissions; or a user name and password), and idle flags at
// 33,600 bit/s fill 1 MiB in about four minutes, longer than any
// handshake_deadline. A caller without an account who sends garbage at
// network speed instead (about one processor's worth of decoding, the
// adversarial trial) is hung up after this much.
const maxPreLogin = 1 << 20

// reasonFlood is the record's reason for a caller hung up at maxPreLogin.
const reasonFlood = "caller sent more than 1 MiB before logging in"

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

// busy turns away c, which got no line slot (why), with its BUSY answer
// and record.
//
//go:noinline
func (s *Server) busy(c *call, why busyReason) {
	if why == busyPerSource || why == busyHoldoff {
		c.linger = floodLinger // its own address is the reason
	}
	setReadBudget(c.line, busyReadBudget)
	var left time.Duration
	if why == busyHoldoff {
		left = s.slots.holdoffLeft(c.source, s.now())
	}
	s.turnAway(c, store.ResultBusy, string(why), busyMessage(c.st.cfg.GatewayName, c.info.Transport, why, left))
}

// turnAway ends c, which has no line slot, with result, reason and the
// caller's last words msg, and records it; at most a bounded number of
// such records wait for the disk at once (a flood).
//
//go:noinline
func (s *Server) turnAway(c *call, result, reason, msg string) {
	c.end(result, reason, msg)
	if !s.busyRecords.acquire() {
		// Flood: the record is dropped, the metric still counts it.
		s.metrics.callRecorded(c.rec)
		s.busyRecords.dropped()
		return
	}
	defer s.busyRecords.release()
	c.number()
	c.finish()
}

// sourceAllowed reports whether a caller at addr (host:port) may call a
// listener with allowed (IP addresses and CIDR prefixes; none: any
// caller). An address that cannot be told (an in-memory line) is not
// allowed by a list.
func sourceAllowed(allowed []string, addr string) bool {
	if len(allowed) == 0 {
		return true
	}
	set, err := proxyproto.ParseTrusted(allowed) // checked by config: no error
	return err == nil && set.Contains(addr)
}

// setReadBudget sets the read budget of line (transport.ReadBudgeter,
// under any wrapper) to n octets, -1 for none; lines that cannot count
// are left as they are.
func setReadBudget(line transport.Line, n int64) {
	if b, ok := lineAs[transport.ReadBudgeter](line); ok {
		b.SetReadBudget(n)
	}
}

// readBudgetSpent reports whether line (under any wrapper) found its peer
// over the read budget.
func readBudgetSpent(line transport.Line) bool {
	b, ok := lineAs[interface{ ReadBudgetSpent() bool }](line)
	return ok && b.ReadBudgetSpent()
}

// busyReadBudget is what a BUSY caller may send before its line stops
// waiting for its close (the octets are discarded): a telnet client's
// negotiation or a modem's V.42 detection pattern takes a few hundred
// octets, while a caller flooding each of its BUSY calls had even
// maxPreLogin of each discarded about 700 times a second, 60 % of a core
// (hostile-peer trial).
const busyReadBudget = 64 << 10

// aytNamer is a line that answers telnet AYT with the gateway's name
// (tcp.Line).
type aytNamer interface{ SetAYTName(name string) }

// rejectedFor reports whether err is Access Security's REJECT with
// reason r.
func rejectedFor(err error, r auth.Reason) bool {
	got, ok := auth.RejectReason(err)
	return ok && got == r
}

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

// authenticate runs detection and V.42 or the text login. It returns the
// account and the reader of the caller's octets; ok false means the call
// has been ended and its result set.
func (c *call) authenticate(ctx context.Context) (acct Account, r io.Reader, ok bool) {
	var leftover []byte
	v42 := false
	switch c.lc.V42 {
	case config.V42Detect:
		if c.s.v42 != nil {
			var err error
			v42, leftover, err = c.s.v42.Detect(ctx, c.line)
			if c.proxyHeaderRefused(err) {
				return Account{}, nil, false
			}
			if err != nil {
				reason := "detection: " + err.Error()
				switch {
				case errors.Is(err, transport.ErrReadBudget):
					reason = reasonFlood + " (during V.42 detection)"
				case callerHungUp(err):
					reason = "caller hung up during V.42 detection"
				}
				c.end(store.ResultAbandoned, reason, "")
				return Account{}, nil, false
			}
		}
	case config.V42LAPM:
		if c.s.v42 == nil {
			c.end(store.ResultRefused, "V.42 not available", msgNoV42)
			return Account{}, nil, false
		}
		v42 = true
	}
	r = c.line
	mode := "text"
	if v42 {
		sess, err := c.s.v42.Answer(ctx, c.line, leftover, V42Call{Session: c.rec.Session, Listener: c.lc, Remote: c.info.RemoteAddr, Verifier: checkingVerifier{c.st.verifier, &c.checking}, Detected: c.lc.V42 == config.V42Detect,
			ScheduleCallback: func(acct Account, ticket any) error { return c.scheduleV42Callback(ctx, acct, ticket) }})
		if err != nil {
			c.v42Failed(err)
			return Account{}, nil, false
		}
		link := sess.Link
		r, c.ticket = link, sess.Ticket
		c.setStream(link, link.Close, sess.Stats)
		if b, ok := link.(interface{ Breaks() <-chan struct{} }); ok {
			c.breaks = b.Breaks()
		}
		leftover = nil
		if sess.Account != nil {
			c.rec.Mode = "v42"
			return *sess.Account, r, true
		}
		mode = "v42-text"
	}
	c.rec.Mode = mode
	if len(leftover) > 0 {
		r = io.MultiReader(bytes.NewReader(leftover), r)
	}
	c.lineText = !v42
	if !c.lc.TextLoginAllowed(c.info) {
		c.end(store.ResultRefused, "text login not allowed on this listener", noTextMessage(c.lc))
		return Account{}, nil, false
	}
	if ec, isEC := c.line.(transport.EchoController); isEC && !v42 {
		// RFC 857: the server echoes; the caller's terminal stops local
		// echo, so the password is not shown.
		c.echoing = ec.SetServerEcho(true) == nil
	}
	e := newLineEditor(r, c.w, true)
	if er, ok := lineAs[interface{ EchoRefused() bool }](c.line); ok && c.lineText {
		e.refused = er.EchoRefused
	}
	banner := fmt.Sprintf("\r\n%s: session %d\r\n", c.st.cfg.GatewayName, c.rec.Session)
	if b := c.lc.Banner; len(b) > 0 {
		// The operator's banner_file before the prompt, as telnetd
		// shows /etc/issue.net; after the session line, which stays
		// the call's first: gateway dial tells a dialgate gateway by
		// it (a line dropped without NO CARRIER is exit 16 only then).
		if !bytes.HasSuffix(b, []byte("\r\n")) {
			b = append(b[:len(b):len(b)], "\r\n"...)
		}
		banner += string(b)
	}
	out, err := textLogin(ctx, e, c.st.verifier, c.info.RemoteAddr, banner, c.st.cfg.Security.LoginTries, &c.checking)
	if c.proxyHeaderRefused(err) {
		return Account{}, nil, false
	}
	if err != nil {
		if out.tried != "" {
			c.rec.User = out.tried
		}
		if errors.Is(err, transport.ErrReadBudget) || readBudgetSpent(c.line) {
			// Also when a write failed first: a WebSocket line closes
			// as its reader finds the budget spent, and the login's
			// next write (a banner still going out at a paced line's
			// rate) fails before its read sees why.
			c.end(store.ResultAbandoned, reasonFlood, msgFlood)
		} else if errors.Is(err, errHTTPClient) {
			c.end(store.ResultAbandoned, "caller sent an HTTP request: a web client on a telnet or tcp listener", msgHTTPClient)
		} else if errors.Is(err, errTLSClient) {
			// Nothing to say in plain text to a TLS client: it reports
			// the failed handshake itself.
			c.end(store.ResultAbandoned, "caller sent a TLS handshake: a TLS client on a listener without TLS", "")
		} else if errors.Is(err, errLoginCancelled) && ctx.Err() == nil {
			c.end(store.ResultAbandoned, "caller cancelled the login (Ctrl-C or Ctrl-D)", msgCancelled)
		} else if errors.Is(ctx.Err(), context.DeadlineExceeded) && c.s.stopCtx.Err() == nil && c.checking.Load() {
			// The check saw the deadline before run's watcher did:
			// the same words, whichever hangs up first.
			c.end(store.ResultAbandoned, reasonCheckTimeout, msgCheckTime)
		} else if lf := (*lineFailedError)(nil); errors.As(err, &lf) && ctx.Err() == nil {
			c.end(store.ResultAbandoned, "caller line failed during login: "+lf.err.Error(), "")
		} else if errors.Is(err, errCallerGone) || ctx.Err() != nil {
			c.end(store.ResultAbandoned, "caller left during login", "")
		} else {
			c.log.Error("login failed", zap.Error(err))
			c.end(store.ResultError, err.Error(), msgError)
		}
		return Account{}, nil, false
	}
	switch out.result {
	case store.ResultDenied:
		// The "call ended" line says it: result denied, the user name
		// tried, the number of attempts.
		c.rec.User = out.tried
		c.end(store.ResultDenied, out.reason, msgDenied)
		return Account{}, nil, false
	case store.ResultThrottled:
		c.rec.User = out.tried
		if out.reason == reasonChecksBusy {
			c.s.loginShed(c.info.RemoteAddr)
		}
		c.end(store.ResultThrottled, out.reason, msgThrottled)
		return Account{}, nil, false
	}
	return out.acct, e.rest(c.s.now), true
}

// noTextMessage is what a caller hears when lc refuses its text login: the
// way in that is left, if any. TLS is one only where the listener has it
// (TLS files, wss) or a trusted proxy in front may (X-Forwarded-Proto
// https): a plain listener under "secure" refuses callers from elsewhere
// and has no TLS to offer them. Every message begins "this line does not
// offer a text login", which gateway dial takes for a refusal (exit 14).
func noTextMessage(lc config.Listener) string {
	v42 := lc.V42 != config.V42Off
	tls := lc.Secure() || len(lc.TrustedProxies) > 0
	switch {
	case lc.TextLogin == config.TextLoginSecure && tls && v42:
		return fmt.Sprintf(msgNoTextPlain, ", or a V.42 Access Security caller")
	case lc.TextLogin == config.TextLoginSecure && tls:
		return fmt.Sprintf(msgNoTextPlain, "")
	case lc.TextLogin == config.TextLoginSecure && v42:
		return msgNoTextNoTLS
	case v42:
		return msgNoText
	}
	return msgNoCalls
}

// msgProxyHeader is what a line that began with a PROXY protocol header
// the listener does not take hears (a proxy in front of it that is not
// configured as trusted, or a listener without proxy_protocol).
const msgProxyHeader = "\r\nNO CARRIER (this gateway takes no PROXY protocol header from your address)\r\n"

// proxyHeaderRefused ends the call if err says its line began with a
// PROXY protocol header (proxyproto.ErrUnwanted), and reports whether it
// did. The octets of the header were not taken as the caller's.
func (c *call) proxyHeaderRefused(err error) bool {
	if !errors.Is(err, proxyproto.ErrUnwanted) {
		return false
	}
	var why string
	switch {
	case c.info.Proxied:
		why = "a second PROXY protocol header, from the caller behind the trusted proxy"
	case c.lc.ProxyProtocol:
		why = "a PROXY protocol header from an address not in trusted_proxies (a caller claiming another address, or a proxy missing from trusted_proxies)"
	default:
		why = "a PROXY protocol header on a listener without proxy_protocol (if a proxy in front of it sends one, set proxy_protocol = true and list the proxy in trusted_proxies)"
	}
	// Summed, at most a line a second: a proxy's health checks against
	// a listener not set up for them come every few seconds.
	c.s.proxyRefusals.Add(fmt.Sprintf("calls refused: %s; last from %s on listener %s", why, c.info.RemoteAddr, c.lc.Name))
	c.end(store.ResultRefused, "a PROXY protocol header arrived, which this listener does not take from this address", msgProxyHeader)
	return true
}

// v42Failed ends a call whose V.42 answer failed.
func (c *call) v42Failed(err error) {
	if c.proxyHeaderRefused(err) {
		return
	}
	c.rec.Mode = "v42"
	if user, ok := ClaimedUser(err); ok {
		// As a failed text login records it: a name that is no account
		// (perhaps a password) as "(unknown user)", any other not of
		// user-ID form quoted and escaped.
		c.rec.User = recordedName(c.st.verifier, user)
	}
	if c.cbScheduled {
		// Scheduled, then CONFIRM was not sent (the caller's line
		// dropped): no one was promised the callback, so it must not
		// ring the user's line (auth wiped the ticket).
		c.cbScheduled = false
		if c.cbWithdraw != nil {
			c.cbWithdraw()
		}
		c.log.Info("callback withdrawn: Access Security ended before CONFIRM", zap.Error(err))
	}
	switch {
	case errors.Is(err, transport.ErrReadBudget):
		// A V.42 caller's garbage: nothing to tell it in plain text.
		c.end(store.ResultAbandoned, reasonFlood+" (V.42)", "")
	case c.cbErr != nil:
		// Access Security answered REJECT callback-unavailable.
		c.callbackRefused(c.cbAddr, c.cbErr)
	case errors.Is(err, ErrNoAccessSecurity):
		// Logged by the "call ended" line: result refused, this reason.
		c.end(store.ResultRefused, "V.42 caller without Access Security", "")
	case errors.Is(err, ErrAccessSecurityOff):
		c.end(store.ResultRefused, `Access Security offered on a listener with security = "off"`, "")
	case rejectedFor(err, auth.ReasonCallbackUnavailable):
		// An account with a callback address, and a caller that
		// offered no callback (gateway dial or gateway modem without
		// --answer, the browser page): REJECT callback-unavailable, a
		// policy refusal as for a text caller.
		c.end(store.ResultRefused, "callback required, and the caller takes none (gateway dial or gateway modem without --answer, or the browser page)", "")
	case errors.Is(err, ErrDenied):
		// In the words of a denied text login; the "auth" log line
		// before says why (wrong password, unknown user, ...), and so
		// does the record.
		reason := "Access Security login denied"
		if why := denialReason(err); why != "" {
			reason += " (" + why + ")"
		}
		c.end(store.ResultDenied, reason, "")
	case errors.Is(err, ErrThrottled):
		c.end(store.ResultThrottled, err.Error(), "")
	case c.s.stopCtx.Err() != nil:
		c.end(store.ResultShutdown, "gateway shut down during the handshake", "")
	case errors.Is(err, context.DeadlineExceeded) && c.checking.Load():
		// The check saw the login's deadline before run's watcher did:
		// the same words, whichever ends the call first (as for the
		// text login).
		c.end(store.ResultAbandoned, reasonCheckTimeout, msgCheckTime)
	case errors.Is(err, lapm.ErrPeerDisconnected) || callerHungUp(err):
		// The caller gave up: a dialer that refused the host key, or a
		// user who pressed Ctrl-C at gateway modem's typed login, sends
		// DISC. The record says so in words, as for the text login; the
		// protocol detail goes to the debug log.
		reason := "caller hung up during the V.42 handshake"
		switch {
		case errors.Is(err, errAccessSecurity):
			reason = "caller hung up during the V.42 login"
		case errors.Is(err, errConfirmed):
			reason = "caller hung up after its V.42 login was confirmed, before the data phase"
		}
		c.log.Debug(reason, zap.Error(err))
		c.end(store.ResultAbandoned, reason, "")
	case errors.Is(err, auth.ErrAuthFailed), errors.Is(err, auth.ErrMalformed),
		errors.Is(err, auth.ErrUnexpected), errors.Is(err, auth.ErrVersion):
		// A token that did not authenticate (a replayed or forged
		// RESPONSE), or one out of layout or order: the caller did
		// not leave, it broke the protocol.
		c.end(store.ResultError, "Access Security protocol error: "+err.Error(), "")
	default:
		// The "call ended" line carries the reason.
		c.end(store.ResultAbandoned, err.Error(), "")
	}
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
