package auth

import (
	"context"
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

// confirmDrops is the answerer's end of a pipe whose line drops just as
// CONFIRM is sent.
type confirmDrops struct{ *xidEnd }

func (c confirmDrops) RespondXID(p []byte) error {
	if len(p) > 1 && p[1] == byte(TypeConfirm) {
		return errPipeClosed
	}
	return c.xidEnd.RespondXID(p)
}

// TestConfirmNotSentWipesTicket: when CONFIRM cannot be sent after
// ScheduleCallback accepted the ticket, Answer fails and the ticket is
// wiped, so the callback scheduled for it cannot be placed (the gateway
// also withdraws it; see bridge).
func TestConfirmNotSentWipesTicket(t *testing.T) {
	testutil.CheckGoroutines(t)
	var got *Ticket
	ac := answererConfig("g", nil)
	ac.ScheduleCallback = func(tk *Ticket) error {
		got = tk
		return nil
	}
	p, c, g := newXIDPipe("C", testTranscript, "G", testTranscript)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var res *AnswerResult
	var ansErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer p.Close() // the caller hears nothing more
		first, err := g.AcceptXID(ctx)
		if err != nil {
			ansErr = err
			return
		}
		res, ansErr = Answer(ctx, confirmDrops{g}, first, ac)
	}()
	_, callErr := Call(ctx, c, scenarioCallback.callerConfig(nil))
	<-done
	if callErr == nil || res != nil || ansErr == nil || !errors.Is(ansErr, errPipeClosed) {
		t.Fatalf("call: %v; answer: %+v, %v", callErr, res, ansErr)
	}
	if got == nil {
		t.Fatal("ScheduleCallback not called")
	}
	if !got.Spent() {
		t.Error("ticket of the CONFIRM not sent still placeable")
	}
	if _, _, err := got.begin(testNow.Add(time.Second)); !errors.Is(err, ErrTicketUsed) {
		t.Errorf("begin: %v", err)
	}
}
