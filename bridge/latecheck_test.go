package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
)

// lateVerifier is a password check that is still hashing when the login's
// deadline passes (auth.Verifier does not watch ctx while argon2 runs)
// and then succeeds: it returns once the test closes release, after the
// deadline's watcher has hung up.
type lateVerifier struct{ release chan struct{} }

func (v lateVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	<-ctx.Done()
	<-v.release
	return Account{Name: user}, nil
}

// TestCheckSucceedsAfterDeadline: a correct password whose check finishes
// after the login deadline hung up the call is recorded with the user
// verified, as a check that fails late is. Trial: the record had no user
// (run returned when the watcher had run, before it set the user).
func TestCheckSucceedsAfterDeadline(t *testing.T) {
	c := testConfig(t)
	c.Security.HandshakeDeadline.Duration = time.Second
	v := lateVerifier{release: make(chan struct{})}
	s, st := newTestServer(t, c, v)
	line, done := simCall(t, s)
	defer line.Close()
	login(t, line, "alice", "secret")
	got := expect(t, line, "NO CARRIER")
	got += readAll(line)
	if !strings.Contains(got, "NO CARRIER (login timed out waiting for the password check)") {
		t.Errorf("caller heard %q", got)
	}
	close(v.release)
	<-done
	recs := waitRecords(t, st, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Result != store.ResultAbandoned || r.Reason != reasonCheckTimeout || r.User != "alice" {
		t.Errorf("record: result %q, reason %q, user %q", r.Result, r.Reason, r.User)
	}
}
