package main

import (
	"bytes"
	"errors"

	"github.com/dialgate/dialgate/auth"
)

// Exit codes of gateway dial (also in its --help and docs/dial.md). 0, 1
// and 2 are shared with the other subcommands.
const (
	exitDenied    = 10 // the gateway refused the login (REJECT denied, or throttled)
	exitBusy      = 11 // BUSY: no free line (or REJECT busy)
	exitHostKey   = 12 // host key changed, unknown without --tofu, or not the --fingerprint
	exitNoCarrier = 13 // the gateway could not be reached, or the callback never came
	exitProtocol  = 14 // V.42 or Access Security failed (garbage, timeout, version)
)

const dialExitHelp = `exit status:
  0   the call ended normally (either side hung up, ~., end of input, stdout closed)
  1   a local failure (terminal, files)
  2   usage: bad flags, arguments or missing credentials
  10  denied: wrong user or password, or too many attempts
  11  busy: all lines are in use
  12  host key: changed, unknown (without --tofu) or not the --fingerprint
  13  no carrier: the gateway could not be reached, the line dropped, or no callback came
  14  protocol error: V.42 / Access Security failed`

// Sentinels that dial wraps its failures in; exitCode maps them.
var (
	errUsage     = errors.New("usage")
	errNoCarrier = errors.New("no carrier")
	errProtocol  = errors.New("protocol error")
	errBusy      = errors.New("busy")
	errDenied    = errors.New("access denied")
	errHostKey   = errors.New("host key not trusted")
)

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
	case errors.Is(err, errNoCarrier):
		return exitNoCarrier
	case errors.Is(err, errProtocol), errors.Is(err, auth.ErrAuthFailed), errors.Is(err, auth.ErrMalformed),
		errors.Is(err, auth.ErrUnexpected), errors.Is(err, auth.ErrVersion):
		return exitProtocol
	}
	return exitFailure
}

// textOutcome reads the gateway's last words on a text-mode call (the
// bridge's Hayes-style result messages) into an error for exitCode: a
// call that heard nothing but BUSY was busy; one that ended with "NO
// CARRIER (access denied)" or the throttling message was denied. Every
// other hang-up is a normal end.
func textOutcome(head []byte, tail []byte) error {
	if bytes.Equal(bytes.TrimSpace(head), []byte("BUSY")) && bytes.Equal(head, tail) {
		return errBusy
	}
	t := bytes.TrimRight(tail, "\r\n")
	if i := bytes.LastIndex(t, []byte("NO CARRIER (")); i >= 0 {
		switch why := string(t[i:]); {
		case why == "NO CARRIER (access denied)",
			bytes.HasPrefix(t[i:], []byte("NO CARRIER (too many attempts")):
			return errDenied
		case bytes.HasPrefix([]byte(why), []byte("NO CARRIER (this line does not offer")):
			return errProtocol
		}
	}
	return nil
}
