package callbackd

import (
	"errors"
	"fmt"
	"time"

	"github.com/dialgate/dialgate/auth"
)

// Errors of the package. Errors returned by Schedule and reported in
// Attempt.Err wrap one of them where one applies.
var (
	// ErrClosed: the Service was closed.
	ErrClosed = errors.New("callbackd: service closed")
	// ErrFull: MaxPending jobs are already waiting.
	ErrFull = errors.New("callbackd: too many pending callbacks")
	// ErrDuplicate: a job for the same session is already pending.
	ErrDuplicate = errors.New("callbackd: callback already pending for this session")
	// ErrAddressBusy: another user's pending job will dial the same
	// address (see Service.Schedule).
	ErrAddressBusy = errors.New("callbackd: a callback to this address is already pending for another user")
	// ErrSuperseded: a newer job for the same user replaced this one
	// (see Service.Schedule).
	ErrSuperseded = errors.New("callbackd: callback superseded by a newer login")
	// ErrWithdrawn: the job was withdrawn before its caller was promised
	// it (Service.Cancel: the V.42 CONFIRM could not be sent), or its
	// ticket was spent or wiped before a dial. Such a job dials no more.
	ErrWithdrawn = errors.New("callbackd: callback withdrawn")
	// ErrBadJob: a job lacks a field it needs.
	ErrBadJob = errors.New("callbackd: invalid callback job")
	// ErrExpired: the job's time ran out before a callback got through.
	ErrExpired = errors.New("callbackd: callback expired")
	// ErrWrongParty: the party that answered could not prove it is the
	// caller the callback is for. Such a call is hung up and not retried.
	ErrWrongParty = errors.New("callbackd: callback answered by the wrong party")
	// ErrNoRetry: a Placer failed in a way that another attempt cannot
	// fix (for example the single-use ticket was spent).
	ErrNoRetry = errors.New("callbackd: callback cannot be retried")
)

// Mode says how a callback is proved on the new line.
type Mode uint8

// Callback modes.
const (
	// ModeText: the user logged in with the text login; the answering
	// person confirms (TextConfirm).
	ModeText Mode = iota + 1
	// ModeV42: the user passed Access Security and holds a callback
	// ticket; phases v and vi prove the call (V42).
	ModeV42
)

func (m Mode) String() string {
	switch m {
	case ModeText:
		return "text"
	case ModeV42:
		return "v42"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Job is one pending callback.
type Job struct {
	// Session is the session number of the call that asked for the
	// callback; the callback keeps it. At most one job per session, per
	// User and per Address is pending at a time (Service.Schedule).
	Session uint64
	// User is the authenticated user ID.
	User string
	// Address is the line URL to dial (the account's callback address).
	Address string
	// Mode selects how the callback is proved.
	Mode Mode
	// Ticket is the Access Security callback ticket (ModeV42 only). Once
	// Schedule accepted the job the Service owns it: it wipes it when the
	// job ends without a handoff (a handed-off ticket is used up).
	Ticket *auth.Ticket
	// Listener and Remote describe the original call, for the records.
	Listener, Remote string
	// Expires, if not zero, ends the job sooner than Config.Expiry.
	Expires time.Time
	// Data is opaque to the Service and handed back with the job to the
	// Handoff (the bridge keeps its bridge.CallbackRequest here).
	Data any
}

func (j Job) validate() error {
	switch {
	case j.User == "":
		return fmt.Errorf("%w: session %d: no user", ErrBadJob, j.Session)
	case j.Address == "":
		return fmt.Errorf("%w: session %d: no callback address", ErrBadJob, j.Session)
	case j.Mode != ModeText && j.Mode != ModeV42:
		return fmt.Errorf("%w: session %d: %v", ErrBadJob, j.Session, j.Mode)
	case j.Mode == ModeV42 && j.Ticket == nil:
		return fmt.Errorf("%w: session %d: V.42 callback without a ticket", ErrBadJob, j.Session)
	}
	return nil
}

// Result is the outcome of one attempt.
type Result uint8

// Attempt results.
const (
	// Connected: the callback was proved and handed to the bridge.
	Connected Result = iota + 1
	// DialFailed: the address could not be dialled (refused, unreachable,
	// no answer before the dial timeout).
	DialFailed
	// HandshakeFailed: the line answered but the proof did not complete
	// (line dropped, timeout, garbage).
	HandshakeFailed
	// WrongParty: the answering party could not prove the ticket, or is
	// not the user; hung up, not retried.
	WrongParty
	// Expired: the job's time ran out (no dial was made by this record).
	Expired
	// Shutdown: the Service closed (no dial was made by this record, or
	// the attempt in progress was cut).
	Shutdown
	// Superseded: a newer job for the same user replaced this one (no
	// dial was made by this record, or the attempt in progress was hung
	// up).
	Superseded
	// Withdrawn: the job was withdrawn (Service.Cancel) or its ticket
	// spent or wiped before a dial; no dial was made by this record, or
	// the attempt in progress was hung up.
	Withdrawn
)

var resultNames = [...]string{
	Connected: "connected", DialFailed: "dial-failed", HandshakeFailed: "handshake-failed",
	WrongParty: "wrong-party", Expired: "expired", Shutdown: "shutdown", Superseded: "superseded",
	Withdrawn: "withdrawn",
}

func (r Result) String() string {
	if int(r) < len(resultNames) && resultNames[r] != "" {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Attempt records one dial attempt, or the end of a job without one.
type Attempt struct {
	Session uint64
	User    string
	Address string
	// Listener is the listener of the call that asked for the callback
	// (Job.Listener).
	Listener string
	Mode     Mode
	// Number counts dial attempts of the job from 1; 0 means no dial was
	// made for this record (the job expired, was superseded or the
	// service closed while it waited).
	Number int
	// Dials counts the dial attempts made for the job so far, this one
	// included (for the call record's callback_attempts).
	Dials int
	// Start and End bound the attempt (Clock time).
	Start, End time.Time
	Result     Result
	// Err says why the attempt failed; nil for Connected.
	Err error
	// Final is set on the last record of a job.
	Final bool
}

// Recorder receives every Attempt. Calls come from the job goroutines,
// possibly concurrently; RecordAttempt must not block for long.
type Recorder interface {
	RecordAttempt(a Attempt)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(a Attempt)

// RecordAttempt calls f(a).
func (f RecorderFunc) RecordAttempt(a Attempt) { f(a) }
