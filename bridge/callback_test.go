package bridge

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestCallbackNotScheduledIsTold: when the callback service refuses the
// request (another user's callback pending for the address, too many
// pending), the caller is not told "you will be called back" but that
// the callback cannot be placed now, and the record says refused with the
// service's reason.
func TestCallbackNotScheduledIsTold(t *testing.T) {
	testutil.CheckGoroutines(t)
	v := &fakeVerifier{users: map[string]string{"cb": "pw"}, accounts: map[string]Account{"cb": {Callback: "telnet://127.0.0.1:9"}}}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	refusal := errors.New("callbackd: a callback to this address is already pending for another user")
	s, err := New(Options{Config: testConfig(t), Store: st, Verifier: v, Callback: func(context.Context, CallbackRequest) (func(), error) {
		return nil, refusal
	}})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "cb", "pw")
	out := readAll(line)
	if strings.Contains(out, "called back") || !strings.Contains(out, "cannot place now") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	rec := records(t, st)
	if len(rec) != 1 || rec[0].Result != store.ResultRefused || rec[0].Reason != "callback not scheduled: "+refusal.Error() || rec[0].User != "cb" {
		t.Fatalf("records: %+v", rec)
	}
}
