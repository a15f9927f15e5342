package bridge

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
)

// TestAuthDenialNamesSession: the verifier's denial line (the true reason,
// for the operator) ends with the call's session number, so that it can
// be found with the call's record; before, only the address joined them
// (ops soak test).
func TestAuthDenialNamesSession(t *testing.T) {
	logs, recs := deniedLogin(t, "alice", "wrong")
	if len(recs) != 1 || recs[0].Result != store.ResultDenied {
		t.Fatalf("records %+v, want one denied call", recs)
	}
	want := fmt.Sprintf("login \"alice\" from %s denied: wrong password (session %d)", recs[0].Remote, recs[0].Session)
	for _, e := range logs.All() {
		if e.Message != want {
			continue
		}
		// Its parts as fields too, for a JSON log (operator trial:
		// they were only in the message).
		got := e.ContextMap()
		if got["user"] != "alice" || got["remote"] != recs[0].Remote || got["reason"] != "wrong password" || got["session"] != recs[0].Session ||
			got["listener"] != recs[0].Listener || got["transport"] != recs[0].Line {
			t.Errorf("denial line's fields %v", got)
		}
		return
	}
	t.Errorf("no denial line %q in %v", want, logs.All())
}

// TestAuthDenialUnknownUserHasNoName: a name that is no account is not
// logged, in the line or as a field (it may be a password typed at the
// login prompt).
func TestAuthDenialUnknownUserHasNoName(t *testing.T) {
	logs, _ := deniedLogin(t, "hunter2-typed-here", "x")
	found := false
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "denied: unknown user") {
			found = true
			if _, ok := e.ContextMap()["user"]; ok || strings.Contains(e.Message, "hunter2") {
				t.Errorf("the unknown name was logged: %q %v", e.Message, e.ContextMap())
			}
		}
	}
	if !found {
		t.Errorf("no denial line: %v", logs.All())
	}
}

// deniedLogin makes one text login as user with password, which the
// users file (alice, "right") denies, and returns the verifier's log
// and the call records.
func deniedLogin(t *testing.T, user, password string) (*observer.ObservedLogs, []store.CallRecord) {
	t.Helper()
	c := testConfig(t)
	c.Security.LoginTries = 1
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 1, 64, 1
	users := oneUser(t, c, "alice", "right")
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	core, logs := observer.New(zap.InfoLevel)
	s, err := New(Options{Config: c, Store: f, Verifier: NewAuthVerifier(c, users, zap.New(core))})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, user, password)
	readAll(line)
	line.Close()
	<-done
	return logs, records(t, f)
}

// oneUser is a users file holding id with password, hashed at c's cost.
func oneUser(t *testing.T, c *config.Config, id, password string) *auth.Users {
	t.Helper()
	users := auth.NewUsers()
	hash, err := auth.HashPassword(password, Argon2Params(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Add(auth.User{ID: id, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return users
}
