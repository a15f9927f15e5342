package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
)

// Exit codes of gateway dial (also in its --help and docs/dial.md). 0, 1
// and 2 are shared with the other subcommands.
const (
	exitDenied    = 10 // the gateway refused the login (REJECT denied, or throttled)
	exitBusy      = 11 // BUSY: no free line (or REJECT busy)
	exitHostKey   = 12 // host key changed, unknown without --tofu, or not the --fingerprint
	exitNoCarrier = 13 // the gateway could not be reached, the call was abandoned before it connected, or the callback never came
	exitProtocol  = 14 // V.42 or Access Security failed (garbage, timeout, version, a data payload that did not authenticate), or the gateway's login time ran out at the prompts
	exitHungUp    = 15 // the gateway ended the session itself: shutting down, idle timeout, time limit, its operator, backend not available or failed, its own error
	exitDropped   = 16 // the line dropped mid-call without the gateway hanging up (gateway killed, network or link failure)
)

const dialExitHelp = `exit status:
  0   the call ended normally (either side hung up, ~., end of input, stdout
      closed, a signal: SIGINT, SIGTERM or SIGHUP once connected)
  1   a local failure (terminal, files)
  2   usage: bad flags, arguments or missing credentials (no terminal to
      ask on once a V.42 gateway answered)
  10  denied: wrong user or password, or too many attempts
  11  busy: all lines are in use, or the gateway holds off a redial, is
      down for maintenance or shutting down (the reason it gave follows),
      or the account is already logged in as many times as it allows
  12  host key: changed, unknown (without --tofu) or not the --fingerprint
  13  no carrier: the gateway could not be reached or refused the line
      (a TLS-only line called in the clear: its words follow), the call
      was abandoned (Ctrl-C or a signal before it connected), or no
      callback came
  14  protocol error: V.42 / Access Security failed, the gateway hung up
      during the login (its handshake_deadline ran out at the prompts), or
      a data payload from the gateway did not authenticate (altered or
      forged on the way)
  15  hung up by the gateway: it is shutting down, the session was idle or
      reached its time limit, its operator ended the call, its service
      (backend) is not available or failed, or a gateway error
      ("NO CARRIER (...)")
  16  the line dropped mid-call: the connection or the V.42 link ended without
      the gateway hanging up (gateway killed, network failure)`

// Sentinels that dial wraps its failures in; exitCode maps them.
var (
	errUsage     = errors.New("usage")
	errNoCarrier = errors.New("no carrier")
	errProtocol  = errors.New("protocol error")
	errBusy      = errors.New("busy")
	errDenied    = errors.New("access denied")
	errHostKey   = errors.New("host key not trusted")
	errHungUp    = errors.New("the gateway hung up")
	errDropped   = errors.New("the line dropped")
	// errAccountBusy: the gateway refused a login of an account that has
	// as many calls in progress as it allows (lines.per_user).
	errAccountBusy = fmt.Errorf("%w: the account is already logged in as many times as allowed", errBusy)
	// errCallbackNotNow: REJECT callback-unavailable to a call that
	// offered to take the callback (--answer): the gateway cannot place
	// it now.
	errCallbackNotNow = errors.New("the gateway cannot place this account's callback now")
)

// accountBusy is the gateway's word for errAccountBusy (bridge/call.go),
// on the text path and inside the V.42 link alike.
const accountBusy = "NO CARRIER (this account is already logged in as many times as allowed)"

// exitCode says, in the exit status, what ended a call.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if r, ok := auth.RejectReason(err); ok {
		switch r {
		case auth.ReasonDenied:
			return exitDenied
		case auth.ReasonBusy:
			return exitBusy
		case auth.ReasonCallbackUnavailable:
			return exitNoCarrier
		}
		return exitProtocol
	}
	switch {
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errHostKey), errors.Is(err, auth.ErrHostKeyRejected),
		errors.Is(err, auth.ErrHostKeyChanged), errors.Is(err, auth.ErrHostUnknown):
		return exitHostKey
	case errors.Is(err, errDenied):
		return exitDenied
	case errors.Is(err, errBusy):
		return exitBusy
	case errors.Is(err, errHungUp):
		return exitHungUp
	case errors.Is(err, errDropped):
		return exitDropped
	case errors.Is(err, errNoCarrier):
		return exitNoCarrier
	case errors.Is(err, errProtocol), errors.Is(err, auth.ErrAuthFailed), errors.Is(err, auth.ErrMalformed),
		errors.Is(err, auth.ErrUnexpected), errors.Is(err, auth.ErrVersion):
		return exitProtocol
	}
	return exitFailure
}

// The gateway's reasons for hanging up on a session itself (bridge/call.go
// writes them, on the text path and inside the V.42 link alike).
var gatewayHangups = []string{
	"NO CARRIER (the gateway is shutting down)",
	"NO CARRIER (idle timeout)",
	"NO CARRIER (session time limit)",
	"NO CARRIER (the operator ended the call)",
	"NO CARRIER (gateway error)",
	"NO CARRIER (the service failed)",
}

// callbackNotConnected is the gateway's word for a callback it proved but
// could not bridge (bridge/callback.go: NO CARRIER (callback not
// connected: all lines busy)).
var callbackNotConnected = regexp.MustCompile(`NO CARRIER \(callback not connected: [^\r\n()]{1,64}\)$`)

// backendDown is the gateway's word for a backend it could not reach
// (bridge/session.go: NO CARRIER (service "name" is not available)).
var backendDown = regexp.MustCompile(`NO CARRIER \(service "[^"\r\n]{1,64}" is not available\)$`)

// gatewayHungUp reports whether the end of the received stream is the
// gateway hanging up for its own reasons (gatewayHangups, its backend
// not available, a callback it could not bridge): errHungUp with the
// reason, or nil.
func gatewayHungUp(tail []byte) error {
	t := bytes.TrimRight(tail, "\r\n")
	if bytes.HasSuffix(t, []byte(accountBusy)) {
		return errAccountBusy
	}
	for _, why := range gatewayHangups {
		if bytes.HasSuffix(t, []byte(why)) {
			return fmt.Errorf("%w: %s", errHungUp, why)
		}
	}
	for _, re := range []*regexp.Regexp{backendDown, callbackNotConnected} {
		if m := re.Find(t); m != nil {
			return fmt.Errorf("%w: %s", errHungUp, m)
		}
	}
	return nil
}

// gatewayBanner is how a dialgate gateway's text login begins (bridge:
// "\r\n<gateway_name>: session <n>\r\n").
var gatewayBanner = regexp.MustCompile(`^\r\n[^\r\n]{1,64}: session [0-9]+\r\n`)

// textDropped reports whether a text call the remote end closed was a
// dropped line: the peer is a dialgate gateway (its banner opened the
// call), which says "NO CARRIER (...)" whenever it hangs up on a caller,
// and no such words came. Other peers (a BBS dialed directly) may close
// without a word; their hang-up is a normal end.
func textDropped(head, tail []byte) bool {
	return gatewayBanner.Match(head) && !bytes.Contains(tail, []byte("NO CARRIER"))
}

// textOutcome reads the gateway's last words on a text-mode call (the
// bridge's Hayes-style result messages) into an error for exitCode: a
// call that heard nothing but BUSY, or BUSY after the gateway's short
// reason (busyline.Parse), was busy (a busyError); one that ended with "NO
// CARRIER (access denied)" or the throttling message was denied; one the
// gateway ended itself (shutdown, idle, time limit) was hung up. Every
// other hang-up is a normal end.
func textOutcome(head []byte, tail []byte) error {
	if status, ok := httpStatusLine(head); ok {
		return &httpAnswerError{status: status}
	}
	// head shorter than headTailSize is the whole call.
	if len(head) < headTailSize && bytes.Equal(head, tail) {
		if why, ok := busyline.Parse(head); ok {
			return &busyError{why: why}
		}
	}
	t := bytes.TrimRight(tail, "\r\n")
	if i := bytes.LastIndex(t, []byte("NO CARRIER (")); i >= 0 {
		switch why := string(t[i:]); {
		case why == "NO CARRIER (access denied)",
			bytes.HasPrefix(t[i:], []byte("NO CARRIER (too many attempts")):
			return errDenied
		case bytes.HasPrefix([]byte(why), []byte("NO CARRIER (this line does not offer")):
			return errProtocol
		case bytes.HasPrefix([]byte(why), []byte("NO CARRIER (this line speaks TLS only")):
			// Called in the clear: not connected.
			return fmt.Errorf("%w: the gateway's line speaks TLS only: %s", errNoCarrier, tlsSchemeHint)
		case why == "NO CARRIER (this line does not take calls from your address)":
			// The listener's allowed_sources: as before V.42 (exit 13).
			return fmt.Errorf("%w: the gateway does not take calls from this address on that line", errNoCarrier)
		case why == "NO CARRIER (your account needs a callback, which this gateway cannot place now)":
			// As REJECT callback-unavailable over V.42 (callback
			// trial: the text login's exited 0).
			return fmt.Errorf("%w: the gateway cannot place this account's callback now", errNoCarrier)
		}
	}
	// The gateway's text callback, answered and then refused: the
	// session never connected (callbackd/text.go).
	for _, refused := range []string{"This callback is not for you.\r\nNO CARRIER", "Not accepted.\r\nNO CARRIER"} {
		if bytes.HasSuffix(t, []byte(refused)) {
			why, _, _ := strings.Cut(refused, "\r\n")
			return fmt.Errorf("%w: the callback was refused: %s", errNoCarrier, why)
		}
	}
	return gatewayHungUp(tail)
}

// httpAnswerError is a telnet or tcp call that a web server answered:
// the gateway's ws:// listener (new-user trial: its 400 Bad Request
// showed as the gateway's text and dial exited 0).
type httpAnswerError struct{ status string }

func (e *httpAnswerError) Error() string {
	return errNoCarrier.Error() + ": a web server answered (" + e.status + "), not a telnet or tcp line: to call a gateway's ws:// listener, dial its ws:// URL (ws://host:port/line)"
}

func (e *httpAnswerError) Unwrap() error { return errNoCarrier }

// httpStatusLine is the first line of head if the call began with an
// HTTP response's status line, at most 80 octets of printable ASCII.
func httpStatusLine(head []byte) (string, bool) {
	if !bytes.HasPrefix(head, []byte("HTTP/1.")) {
		return "", false
	}
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	if len(line) > 80 {
		line = line[:80]
	}
	for _, c := range line {
		if c < ' ' || c > '~' {
			return "", false
		}
	}
	return string(line), true
}

// dialMessage is what gateway dial prints (after "gateway dial: ") when a
// call fails: for the failures a caller meets first (wrong password,
// busy gateway) a sentence saying what happened and what to do, else the
// error as it is.
func dialMessage(err error) string {
	if errors.Is(err, errCallbackNotNow) {
		return "no carrier: the gateway cannot place this account's callback now: another account's callback to the same address is pending, or too many are, or it has no callback service; try again later"
	}
	if r, ok := auth.RejectReason(err); ok {
		switch r {
		case auth.ReasonDenied:
			return "access denied: the gateway refused this user ID and password (a disabled or expired account is refused the same way; each failure makes the next try wait longer)"
		case auth.ReasonBusy:
			return "busy: the gateway is checking too many logins at once; try again shortly"
		case auth.ReasonNotOffered:
			return "not offered: the gateway does not run Access Security on this line (its operator turned it off); call with --text for its text login, which sends your password as you type it, protected only by the line (TLS or not)"
		case auth.ReasonCallbackUnavailable:
			return "no carrier: the gateway calls this account back, and this call could not take the callback: dial with --answer ADDR (the line address registered for the account, e.g. --answer telnet://0.0.0.0:2424); or the gateway cannot place the callback now (another account's callback to the same address is pending, or too many are); or it has no callback service"
		}
	}
	if errors.Is(err, errAccountBusy) {
		return "busy: the gateway refused the login: this account is already logged in as many times as the gateway allows; end one of its other calls, or try again later"
	}
	if errors.Is(err, errBusy) {
		if why := busyReason(err); why != "" {
			return "busy: the gateway answered BUSY: " + why
		}
		return "busy: the gateway answered BUSY: every line is in use, or it holds off a caller who calls again within seconds of hanging up; try again shortly"
	}
	if pe := (*pinMismatchError)(nil); errors.As(err, &pe) {
		return fmt.Sprintf("host key mismatch: the gateway offered the host key %s, not the %s given with --fingerprint; check the fingerprint with the gateway's operator; your password was not sent", pe.got, pe.want)
	}
	if ce := (*auth.HostKeyChangedError)(nil); errors.As(err, &ce) {
		// The warning alone, without the chain of wrappers before it.
		return strings.TrimPrefix(ce.Error(), "auth: ")
	}
	if errors.Is(err, auth.ErrHostUnknown) {
		if fp := offeredKeyRE.FindString(err.Error()); fp != "" {
			return fmt.Sprintf("unknown gateway: it offered the host key %s, and no key is recorded for it; check that fingerprint with the gateway's operator, then call again with --fingerprint %s (or --tofu to trust it on first use); your password was not sent", fp, fp)
		}
	}
	return err.Error()
}

// offeredKeyRE finds a host-key fingerprint (auth.Fingerprint) in text.
var offeredKeyRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`)

// lineURLHint says how to write addr as a line URL when it looks like
// something else a user might type: host:port without a scheme, ssh's
// user@host, a host without its port, or the address of the browser page
// (http://, https://). "" when there is no better guess. The hint never
// repeats a password given in addr.
func lineURLHint(addr string) string {
	scheme, rest, hasScheme := strings.Cut(addr, "://")
	switch {
	case addr == "":
		return ""
	case scheme == "http", scheme == "https":
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:] // user info, a password with '/' or '@' too
		}
		host, _, _ := strings.Cut(rest, "/")
		ws := "ws"
		if scheme == "https" {
			ws = "wss"
		}
		return fmt.Sprintf("that is a web page address; dial the gateway's line instead, such as %s://%s/line", ws, host)
	case !hasScheme:
		scheme, rest = "telnet", addr
	}
	var hints []string
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		// As ssh's user@host (new-user trial: the hint put the user
		// back into the telnet:// URL, which is refused in turn). The
		// last '@' of all: a password may hold '/', '?', '#' or '@'.
		user, _, _ := strings.Cut(rest[:at], ":")
		rest = rest[at+1:]
		if auth.ValidUserID(user) == nil {
			hints = append(hints, "the user goes in --user "+user+", not in the address")
		} else {
			hints = append(hints, "the user goes in --user, not in the address")
		}
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		host = strings.Trim(strings.TrimSuffix(authority, ":"), "[]")
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		// A line has no default port: say where it goes rather than
		// suggest a URL that is refused in turn.
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 address
		}
		authority = host + ":PORT"
		hints = append(hints, "a line address needs the gateway's port (the demo gateway's is 2323)")
	}
	if !hasScheme || len(hints) > 0 {
		suggest := scheme + "://" + authority
		if hasPath {
			suggest += "/" + path
		}
		hints = append([]string{"did you mean " + suggest + "?"}, hints...)
	}
	return strings.Join(hints, "; ")
}
