package bridge

// From an answered line to an account: a PROXY header refused, V.42 with
// Access Security or the text login, and what the caller hears when the
// link or the login fails.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
)

// rejectedFor reports whether err is Access Security's REJECT with
// reason r.
func rejectedFor(err error, r auth.Reason) bool {
	got, ok := auth.RejectReason(err)
	return ok && got == r
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
