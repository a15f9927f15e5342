package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestLastWordsWithClockInPast: the write deadline for the gateway's last
// words is wall-clock time, whatever the injected clock says: with a
// clock years in the past, a denied caller still hears why. Trial: the
// deadline came from the injected clock, had passed already, and the
// caller heard nothing after the password prompt.
func TestLastWordsWithClockInPast(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Security.LoginTries = 1
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{now: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := New(Options{Config: c, Store: st, Verifier: &fakeVerifier{users: map[string]string{"a": "b"}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	line, done := tcpSimCall(t, s)
	defer line.Close()
	login(t, line, "a", "wrong")
	if out := readAll(line); !strings.Contains(out, msgDenied) {
		t.Errorf("denied caller heard %q, want %q", out, msgDenied)
	}
	<-done
}
