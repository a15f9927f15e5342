package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestScheduleCallbackBeforeConfirm: AnswererConfig.ScheduleCallback is
// given the ticket CONFIRM will announce before CONFIRM goes out; when it
// fails the caller gets the sealed REJECT callback-unavailable instead,
// Answer's error wraps the hook's, and the ticket is wiped. Users without
// a callback address never reach the hook.
func TestScheduleCallbackBeforeConfirm(t *testing.T) {
	testutil.CheckGoroutines(t)
	var got *Ticket
	ac := answererConfig("g", nil)
	ac.ScheduleCallback = func(tk *Ticket) error {
		got = tk
		return nil
	}
	r := runPair(t, scenarioCallback.callerConfig(nil), ac, testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil || !r.call.Callback {
		t.Fatalf("call: %v; answer: %v", r.callErr, r.ansErr)
	}
	if got == nil || got != r.ans.Callback || got.Session != testSession || got.User.ID != "alice" {
		t.Fatalf("hook got %+v, result %+v", got, r.ans.Callback)
	}

	refused := errors.New("test: a callback to this address is already pending")
	ac.ScheduleCallback = func(tk *Ticket) error {
		got = tk
		return refused
	}
	r = runPair(t, scenarioCallback.callerConfig(nil), ac, testTranscript, testTranscript, nil)
	if reason, ok := RejectReason(r.callErr); !ok || reason != ReasonCallbackUnavailable {
		t.Fatalf("caller: %v, want REJECT callback-unavailable", r.callErr)
	}
	var re *RejectError
	if !errors.As(r.ansErr, &re) || !re.Sent || re.Reason != ReasonCallbackUnavailable || !errors.Is(r.ansErr, refused) {
		t.Fatalf("answerer: %v", r.ansErr)
	}
	if len(r.log) != 4 || r.log[3].tok[1] != byte(TypeReject) {
		t.Fatalf("tokens: %v", r.log)
	}
	if _, _, err := got.begin(testNow.Add(time.Second)); !errors.Is(err, ErrTicketUsed) {
		t.Errorf("refused ticket still usable: %v", err)
	}

	got = nil
	r = runPair(t, scenarioDirect.callerConfig(nil), ac, testTranscript, testTranscript, nil)
	if r.callErr != nil || r.ansErr != nil || got != nil {
		t.Fatalf("direct call: %v; answer: %v; hook got %+v", r.callErr, r.ansErr, got)
	}
}
