package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
)

// queuedVerifier is a password check that waits for its turn until the
// login's context ends, as auth.Verifier does in Throttle.AdmitWait or
// for a hashing slot on a busy gateway.
type queuedVerifier struct{}

func (queuedVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	<-ctx.Done()
	return Account{}, fmt.Errorf("auth: waiting for a hashing slot: %w", ctx.Err())
}

// TestLoginTimedOutWaitingForCheck: a login whose deadline passes while
// its password check waits in the queue is recorded with the user typed
// and a reason that says it was waiting for the check, and the caller
// hears the same. Trial: recorded abandoned, "login timed out", no user.
func TestLoginTimedOutWaitingForCheck(t *testing.T) {
	c := testConfig(t)
	c.Security.HandshakeDeadline.Duration = time.Second
	s, st := newTestServer(t, c, queuedVerifier{})
	line, done := simCall(t, s)
	defer line.Close()
	login(t, line, "alice", "secret")
	got := expect(t, line, "NO CARRIER")
	got += readAll(line)
	if !strings.Contains(got, "NO CARRIER (login timed out waiting for the password check)") {
		t.Errorf("caller heard %q", got)
	}
	<-done
	recs := waitRecords(t, st, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Result != store.ResultAbandoned || r.Reason != "login timed out waiting for the password check" || r.User != "alice" {
		t.Errorf("record: result %q, reason %q, user %q", r.Result, r.Reason, r.User)
	}
}
