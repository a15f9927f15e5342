package bridge

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
)

// TestAuthDenialNamesSession: the verifier's denial line (the true reason,
// for the operator) ends with the call's session number, so that it can
// be found with the call's record; before, only the address joined them
// (ops soak test).
func TestAuthDenialNamesSession(t *testing.T) {
	c := testConfig(t)
	c.Security.LoginTries = 1
	c.Security.Argon2Time, c.Security.Argon2MemoryKiB, c.Security.Argon2Threads = 1, 64, 1
	users := oneUser(t, c, "alice", "right")
	f, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	s, err := New(Options{Config: c, Store: f, Verifier: NewAuthVerifier(c, users, logf)})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "alice", "wrong")
	readAll(line)
	line.Close()
	<-done
	recs := records(t, f)
	if len(recs) != 1 || recs[0].Result != store.ResultDenied {
		t.Fatalf("records %+v, want one denied call", recs)
	}
	mu.Lock()
	defer mu.Unlock()
	want := fmt.Sprintf("denied: wrong password (session %d)", recs[0].Session)
	for _, l := range lines {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Errorf("no denial line ending %q in %q", want, lines)
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
