package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// v42Link is what gateway dial needs from a LAPM link (lapm.Link): the
// XID exchanges of Access Security, then the data phase.
type v42Link interface {
	auth.XIDConn
	io.ReadWriteCloser
}

// lapmHooks bring up the LAPM link. They are variables so that the link
// of package lapm is plugged in by one small file once it exists, and so
// that tests can run the caller's full path over a stand-in link.
var (
	// lapmOpen starts LAPM on line (leftover from detection first) in
	// the given role and negotiates the link parameters (XID), leaving
	// the link ready for ExchangeXID / AcceptXID. nil: this build has no
	// LAPM link.
	lapmOpen func(ctx context.Context, line transport.Line, leftover []byte, role lapm.Role) (v42Link, error)
	// lapmStart enters the data phase with tr sealing every I-frame
	// payload (Link.SetTransform, then establishment SABME/UA).
	lapmStart func(ctx context.Context, link v42Link, tr auth.Transform) error
)

var errNoLAPM = errors.New("this build of gateway dial has no LAPM link yet (package lapm's Link); use --text")

// v42Call runs detection (unless --v42 lapm), then LAPM, then Access
// Security phases i–iv: INITIATE, CHALLENGE, the host-key check, and
// only then the credentials (prompts, if need be) for RESPONSE; then the
// sealed data phase, or the callback. A
// gateway that answers without V.42 gets a text login, as a modem falls
// back to a call without error correction, unless its host key is
// pinned: then the answer may come from someone else on the path, who
// would see the password typed at its prompt.
func (c *caller) v42Call(ctx context.Context, line transport.Line) error {
	var leftover []byte
	if c.o.v42 == "detect" {
		isV42, left, err := c.detect(ctx, line, lapm.Originator)
		if err != nil {
			line.Close()
			return err
		}
		if !isV42 {
			hk := hostKeyCheck{host: c.o.url.Host, knownHosts: c.o.knownHosts, fingerprint: c.o.fingerprint}
			if hk.pinned() {
				line.Close()
				return fmt.Errorf("%w: %s answered without V.42, but its host key is pinned (--fingerprint or %s): a text login cannot prove it is that gateway, and what you type would go in clear; use --text to log in anyway", errProtocol, c.o.url.Host, c.o.knownHosts)
			}
			if line.Info().Secure {
				c.notice("the gateway has no V.42: text login")
			} else {
				// Security review: someone on the path can make the
				// detection fail; say what that costs.
				c.notice("the gateway has no V.42: text login, in clear: nothing proves who answered, and what you type, a password too, crosses the network unencrypted")
			}
			return c.textCall(ctx, line, left)
		}
		leftover = left
	}
	if lapmOpen == nil || lapmStart == nil {
		line.Close()
		return fmt.Errorf("%w: %w", errProtocol, errNoLAPM)
	}
	// The prompts below end when the gateway hangs up meanwhile (its
	// login time ran out, or its operator ended the call): the link's
	// reader sees the line end while nobody else reads it.
	// Without detection, a gateway's BUSY reaches LAPM (watchedLine.busy).
	watched := &watchedLine{Line: line, gone: make(chan struct{}), keepHeard: c.o.v42 == "lapm"}
	octx, cancel := context.WithTimeout(ctx, c.o.timeout)
	link, err := lapmOpen(octx, watched, leftover, lapm.Originator)
	timedOut := octx.Err() != nil
	cancel()
	if err != nil {
		line.Close()
		if why, ok := watched.busy(); ok {
			return &busyError{why: why}
		}
		if timedOut && ctx.Err() == nil {
			return fmt.Errorf("%w: no LAPM answer within --timeout %v: the host does not speak V.42 here (use --text for a text login): %w", errProtocol, c.o.timeout, err)
		}
		if words, ok := watched.textHangup(); ok && c.o.v42 == "lapm" && ctx.Err() == nil {
			// A listener with v42 = "off" takes the frames for
			// Ctrl-C at its login prompt.
			if words != "" {
				words = " (" + words + ")"
			}
			return fmt.Errorf("%w: with --v42 lapm the gateway hung up on the LAPM frames%s: that line does not answer with LAPM (a listener with v42 = \"off\" does this); call without --v42 lapm (V.42 detection) or with --text: %w", errProtocol, words, err)
		}
		return fmt.Errorf("%w: LAPM: %w", errProtocol, err)
	}
	// The gateway has answered with V.42: now the user ID and password
	// are needed. Without a terminal to ask on, missing ones are known
	// at once: no handshake is begun for nothing.
	if err := c.credSource().missing(); err != nil {
		link.Close()
		return err
	}
	hctx, hcancel := context.WithCancelCause(ctx)
	defer hcancel(nil)
	clock := startHandshakeClock(c.o.timeout, func() { hcancel(errHandshakeTimeout) })
	defer clock.stop()
	var credErr error          // the credentials' own error, as dial reports it
	var atPrompt time.Duration // time the credentials took
	// Asked for only once the gateway has proved its host key: a
	// changed or unknown key ends the call before any prompt.
	credentials := func(cctx context.Context, _ string) (string, []byte, error) {
		if !clock.stop() {
			return "", nil, context.Cause(cctx)
		}
		defer clock.resume()
		asked := time.Now()
		user, password, err := c.credentials(cctx, watched.gone)
		atPrompt = time.Since(asked)
		if err != nil {
			credErr = err
			return "", nil, err
		}
		return user, password, nil // auth wipes the password
	}
	hk := hostKeyCheck{host: c.o.url.Host, knownHosts: c.o.knownHosts, tofu: c.o.tofu, fingerprint: c.o.fingerprint, notice: c.io.stderr}
	res, err := auth.Call(hctx, link, auth.CallerConfig{
		Credentials: credentials, HostName: c.o.url.Host,
		CheckHostKey: hk.check, WantCallback: c.listener != nil,
	})
	if err != nil {
		link.Close()
		reason, rejected := auth.RejectReason(err)
		switch {
		case credErr != nil:
			return credErr
		case errors.Is(context.Cause(hctx), errHandshakeTimeout) && ctx.Err() == nil:
			return fmt.Errorf("%w: Access Security timed out: %w", errProtocol, err)
		case c.prompted && (errors.Is(err, lapm.ErrPeerDisconnected) || errors.Is(err, lapm.ErrLinkFailure) || errors.Is(err, io.EOF)):
			// The gateway hung up; most likely its login time ran out
			// while the prompts waited (or its operator ended the
			// call: gateway hangup).
			return fmt.Errorf("%w: %w: %w", errProtocol, errHungUpAtPrompt(atPrompt), err)
		case errors.Is(err, lapm.ErrLinkFailure), errors.Is(err, lapm.ErrPeerDisconnected),
			errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded):
			// The link failed under the handshake (an XID unanswered
			// after N400 tries, the line lost): Access Security failed.
			return fmt.Errorf("%w: Access Security: %w", errProtocol, err)
		case rejected && reason == auth.ReasonCallbackUnavailable && c.listener != nil:
			// This call offered to take the callback (--answer).
			return fmt.Errorf("%w: %w", errCallbackNotNow, err)
		}
		return err
	}
	if res.Callback {
		link.Close()
		c.noteGatewayAddr(line)
		if c.listener == nil {
			return fmt.Errorf("%w: the gateway will call back, but no --answer address was given", errNoCarrier)
		}
		c.notice("session %d: the gateway hung up to call back", res.SessionNumber)
		return c.v42Callback(ctx, res.Ticket)
	}
	if err := lapmStart(hctx, link, res.Transform); err != nil {
		link.Close()
		return fmt.Errorf("%w: starting the data phase: %w", errProtocol, err)
	}
	clock.stop()
	hcancel(nil)
	c.notice("connected to %s (%s), session %d, V.42 with Access Security (%s). %s", res.GatewayName, c.o.url.Redacted(), res.SessionNumber, res.Cipher, c.escapeHint())
	return c.runV42(ctx, link, line)
}

// runV42 is the data phase on link.
func (c *caller) runV42(ctx context.Context, link v42Link, line transport.Line) error {
	s := c.newSession(link, line)
	end, err := c.runSession(ctx, s)
	line.Close()
	switch {
	case errors.Is(err, lapm.ErrPayloadRefused):
		// Intact by its FCS and yet not sealed by the gateway's key:
		// altered on the way, or forged. Nothing of it was shown.
		return fmt.Errorf("%w: a data payload from the gateway did not authenticate (altered on the way, or forged); the call was ended: %w", errProtocol, err)
	case end == endStdinEOF && errors.Is(err, lapm.ErrLinkFailure):
		// The input ended, but the link failed before it was released
		// (a poll unanswered N400 times): what was in flight toward
		// stdout is lost, which is no orderly end.
		return fmt.Errorf("%w mid-call: the link failed: %w", errDropped, err)
	case end == endStdinEOF:
		// The input ended; what the gateway said before the link was
		// released still tells whether it hung up for its own reasons
		// (a backend that was not available answers at once).
		return gatewayHungUp(s.tail)
	case end != endRemote:
		return nil
	case err != nil:
		// The line ended under the link (no DISC), or the link failed.
		return fmt.Errorf("%w mid-call: the link failed: %w", errDropped, err)
	}
	// A released link: the gateway's last words inside it say whether
	// it hung up for its own reasons.
	return gatewayHungUp(s.tail)
}

// v42Callback answers incoming calls on --answer until one proves the
// ticket (phases v and vi), then runs the data phase on it. Calls that do
// not prove it are refused and hung up. Incoming calls are answered side
// by side, so that one that stalls (a peer that sends part of a
// detection pattern and then nothing, for --timeout) cannot hold the
// gateway's callback back until the gateway gives up on it; and
// --answer-timeout bounds the whole wait, not each call, so that calls
// refused one after another cannot keep dial waiting for ever.
func (c *caller) v42Callback(ctx context.Context, t *auth.CallerTicket) error {
	type answer struct {
		link v42Link
		line transport.Line
		err  error // with line nil: the wait ended (Accept's error)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// No longer than the ticket lives: a callback after that is refused.
	wait := c.o.answerTimeout
	if exp := t.Expires(); !exp.IsZero() {
		wait = max(min(wait, time.Until(exp).Round(time.Second)), time.Second)
	}
	c.notice("waiting up to %v for the callback on %s", wait, c.listener.Addr())
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	answers := make(chan answer)
	send := func(a answer) {
		select {
		case answers <- a:
		case <-wctx.Done():
			if a.link != nil {
				a.link.Close()
			}
			if a.line != nil {
				a.line.Close()
			}
		}
	}
	// At most maxAnswering incoming calls are answered at once (a flood
	// of them cannot start a goroutine each). A call over that bound
	// takes the place of the oldest one in set-up for staleAnswer or
	// more (security trial: four silent connections, each reopened when
	// refused, kept the gateway's callback out until it gave up); one
	// that finds every call younger is hung up at once. A call from the
	// gateway's address (or --answer-from) takes the place of the
	// oldest call from elsewhere whatever its age (security review:
	// four connections that sent the detection pattern, each reopened
	// every 4 s, kept all three of the gateway's attempts out).
	// Calls from the gateway's address (or --answer-from) and calls
	// from elsewhere have slots of their own and never take each
	// other's place: squatters from elsewhere cannot keep the gateway's
	// callback out, and connections from the gateway's address cannot
	// hang up a callback that comes from another address (review).
	slots := map[bool]chan struct{}{false: make(chan struct{}, maxAnswering), true: make(chan struct{}, maxAnswering)}
	type inCall struct {
		since   time.Time
		gateway bool // from the gateway's address (fromGateway)
	}
	var inMu sync.Mutex
	inSetUp := map[transport.Line]inCall{} // lines in set-up; an evicted one is taken out
	// evict hangs up the oldest call in set-up for staleAnswer or more
	// of those from the gateway's address (forGateway) or of those from
	// elsewhere; it reports whether there was one.
	evict := func(forGateway bool) bool {
		inMu.Lock()
		defer inMu.Unlock()
		var oldest transport.Line
		var at time.Time
		for l, in := range inSetUp {
			if in.gateway != forGateway {
				continue
			}
			if oldest == nil || in.since.Before(at) {
				oldest, at = l, in.since
			}
		}
		if oldest == nil || time.Since(at) < staleAnswer {
			return false
		}
		delete(inSetUp, oldest)
		// Its slot goes to the new call at once: not when its answer
		// has failed, which may first wait for its close to linger
		// for the peer (shortLinger), longer than the new call's
		// detection waits (security review: the gateway's callback
		// timed out in detection). A read deadline ends its reads now.
		if d, ok := oldest.(transport.Deadliner); ok {
			_ = d.SetReadDeadline(time.Now())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			oldest.Close()
		}()
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			line, err := c.listener.Accept(wctx)
			if err != nil {
				send(answer{err: err})
				return
			}
			shortLinger(line)
			// Until it proves the ticket a call may send what a set-up
			// takes, as the gateway bounds the party that answers its
			// callback (callbackd): garbage at network speed otherwise
			// kept dial reading it until --timeout.
			if b, ok := line.(transport.ReadBudgeter); ok {
				b.SetReadBudget(answerReadBudget)
			}
			fromGateway := c.fromGateway(line)
			select {
			case slots[fromGateway] <- struct{}{}:
			default:
				switch {
				case evict(fromGateway):
					c.notice("hung up an incoming call still in set-up after %v, to answer a new one", staleAnswer)
				default:
					// At once: no waiting for its FIN, which would
					// hold up the calls behind it, the gateway's
					// among them (security review: its detection
					// timed out meanwhile).
					if l, ok := line.(transport.Lingerer); ok {
						l.SetLinger(time.Millisecond) // (0 would mean the default)
					}
					line.Close()
					c.notice("refused an incoming call: %d calls are being answered already", maxAnswering)
					continue
				}
				// The evicted call's slot is this one's now.
			}
			inMu.Lock()
			inSetUp[line] = inCall{since: time.Now(), gateway: fromGateway}
			inMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				link, err := c.answerV42(wctx, line, t)
				inMu.Lock()
				_, kept := inSetUp[line]
				delete(inSetUp, line)
				inMu.Unlock()
				if !kept && err == nil {
					// Evicted as its set-up ended (review): its line
					// is being closed under it.
					link.Close()
					link, err = nil, errEvicted
				}
				// The slot is free once the set-up is over: not
				// after the close below, which may linger for the
				// peer while a call waits for the slot. An evicted
				// call's slot was handed to the call that evicted it.
				if kept {
					<-slots[fromGateway]
				}
				if err != nil {
					// Said here, not by the loop below: once another
					// call has won, the loop takes no more answers,
					// and a caller that was refused is still told,
					// even if the winner came in while this line
					// closed. A call cut short by the end of the wait
					// (a win, the timeout) was not refused.
					if werr := wctx.Err(); werr == nil || !errors.Is(err, werr) {
						c.notice("refused an incoming call: %v", strings.TrimPrefix(err.Error(), "auth: "))
					}
					line.Close()
				}
				send(answer{link: link, line: line, err: err})
			}()
		}
	}()
	for {
		var a answer
		select {
		case a = <-answers:
		case <-wctx.Done():
			a.err = wctx.Err()
		}
		switch {
		case a.line == nil:
			if errors.Is(a.err, context.DeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("%w: no callback within %v", errNoCarrier, wait)
			}
			return fmt.Errorf("%w: waiting for the callback: %w", errNoCarrier, a.err)
		case a.err != nil:
			if errors.Is(a.err, auth.ErrTicketExpired) || errors.Is(a.err, auth.ErrTicketUsed) || errors.Is(a.err, errTicketSpent) {
				// No later call can prove it (the gateway does not
				// retry a callback whose ticket it spent either).
				return fmt.Errorf("%w: %w", errNoCarrier, a.err)
			}
			continue
		}
		// The others (still being answered, or the wait for more) end;
		// the winner's line closes as lines do.
		cancel()
		if l, ok := a.line.(transport.Lingerer); ok {
			l.SetLinger(0)
		}
		if b, ok := a.line.(transport.ReadBudgeter); ok {
			b.SetReadBudget(-1) // proved: the session's octets
		}
		c.notice("callback answered: session %d, V.42 with Access Security (%s). %s", t.Session(), t.Cipher(), c.escapeHint())
		return c.runV42(ctx, a.link, a.line)
	}
}

// answerV42 is the answering side of the callback on one line.
func (c *caller) answerV42(ctx context.Context, line transport.Line, t *auth.CallerTicket) (v42Link, error) {
	hctx, cancel := context.WithTimeout(ctx, c.o.timeout)
	defer cancel()
	var leftover []byte
	if c.o.v42 == "detect" {
		isV42, left, err := c.detect(hctx, line, lapm.Answerer)
		if err != nil {
			return nil, err
		}
		if !isV42 {
			if opensTelnet(left) {
				return nil, fmt.Errorf("%w: the incoming call has no V.42: it opened with telnet negotiation, so it calls a telnet:// address: answer with --answer %s", errProtocol, withScheme(c.o.answer, "telnet"))
			}
			return nil, fmt.Errorf("%w: the incoming call has no V.42", errProtocol)
		}
		leftover = left
	}
	link, err := lapmOpen(hctx, line, leftover, lapm.Answerer)
	if err != nil {
		return nil, fmt.Errorf("%w: LAPM: %w", errProtocol, err)
	}
	first, err := link.AcceptXID(hctx)
	if err != nil {
		link.Close()
		return nil, fmt.Errorf("%w: waiting for CALLBACK: %w", errProtocol, err)
	}
	tr, err := auth.AcceptCallback(hctx, link, first, t)
	if err != nil {
		link.Close()
		return nil, err
	}
	if err := lapmStart(hctx, link, tr); err != nil {
		link.Close()
		return nil, fmt.Errorf("%w: starting the data phase: %w (%w)", errProtocol, err, errTicketSpent)
	}
	return link, nil
}

// opensTelnet reports whether b, the first octets of an incoming call,
// begin with a telnet option negotiation (IAC WILL, WONT, DO or DONT; RFC
// 854): the gateway's callback to a telnet:// address opens so, and an
// answer line without telnet (tcp://) takes those octets for a caller
// without V.42.
func opensTelnet(b []byte) bool {
	return len(b) >= 2 && b[0] == 0xFF && b[1] >= 0xFB && b[1] <= 0xFE
}

// withScheme is the line address addr with its scheme replaced.
func withScheme(addr, scheme string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		return scheme + "://" + rest
	}
	return addr
}

// errTicketSpent marks an incoming call that failed after it proved the
// callback: the ticket is used, and no later call can prove it.
var errTicketSpent = errors.New("the callback's ticket is spent")

// maxAnswering bounds the incoming calls dial answers at once while it
// waits for its callback.
const maxAnswering = 4

// staleAnswer is how long an incoming call may be in set-up before a new
// one over maxAnswering takes its place: the gateway's callback sends
// its V.42 detection pattern at once and completes its set-up in well
// under this, even on a slow line. A variable for tests.
var staleAnswer = 5 * time.Second

// errEvicted ends the answer of an incoming call that a newer one took
// the place of.
var errEvicted = errors.New("hung up for a newer incoming call")

// shortLinger has a line dial may refuse wait at most a second for its
// peer when closed (a peer that never closes its side must not hold up
// the end of dial, or the winner's session).
// answerReadBudget bounds what a call to --answer may send before it has
// proved the ticket: detection, LAPM set-up and the CALLBACK token take a
// few KiB (the gateway's own bound on the party answering its callback).
const answerReadBudget = 1 << 20

func shortLinger(line transport.Line) {
	if l, ok := line.(transport.Lingerer); ok {
		l.SetLinger(time.Second)
	}
}

// pinned reports whether this call's host key is pinned: by
// --fingerprint, or by an entry for the host in the known-hosts file. A
// known-hosts file that cannot be read counts as pinning (the caller
// cannot tell that the host is unknown).
func (h hostKeyCheck) pinned() bool {
	if h.fingerprint != "" {
		return true
	}
	kh, err := auth.LoadKnownHosts(h.knownHosts) // a missing file is an empty list
	return err != nil || len(kh.Lookup(h.host)) > 0
}

// errHandshakeTimeout ends a handshake that took longer than --timeout.
var errHandshakeTimeout = errors.New("--timeout reached")

// handshakeClock is --timeout over the Access Security handshake. It
// stops while the credentials are asked for, so that time at the prompts
// is not counted (the gateway's own handshake_deadline still runs).
type handshakeClock struct {
	timer *time.Timer
	left  time.Duration // budget when the clock last (re)started
	since time.Time     // when it last (re)started
}

// startHandshakeClock runs expire once d of running time has passed.
func startHandshakeClock(d time.Duration, expire func()) *handshakeClock {
	return &handshakeClock{timer: time.AfterFunc(d, expire), left: d, since: time.Now()}
}

// stop stops the clock; false if it had already expired (or was
// stopped).
func (h *handshakeClock) stop() bool {
	if !h.timer.Stop() {
		return false
	}
	h.left -= time.Since(h.since)
	return true
}

// resume runs the clock again for what is left of the budget.
func (h *handshakeClock) resume() {
	h.since = time.Now()
	h.timer.Reset(max(h.left, 0))
}
