package bridge

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// waitingVerifier waits for its turn until the login's ctx ends, as a
// password check queued behind others does (auth's AdmitWait, a hashing
// slot).
type waitingVerifier struct{}

func (waitingVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	<-ctx.Done()
	return Account{}, fmt.Errorf("waiting for a password check: %w", ctx.Err())
}

// TestV42LoginTimedOutWaitingForCheck: an Access Security login whose
// deadline passes while its password check waits for its turn is
// recorded with the user it claimed and says it was waiting, as a text
// login does (0abdba7); it said "login timed out", as for an idle caller.
func TestV42LoginTimedOutWaitingForCheck(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t)
	c.Listeners[0].V42 = config.V42Detect
	c.Listeners[0].Security = config.SecurityRequired
	c.Security.HandshakeDeadline.Duration = 3 * time.Second
	key, err := auth.GenerateHostKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Config: c, Store: st, Verifier: waitingVerifier{}, V42: &LAPMAnswerer{HostKey: key, Name: "testgw"}})
	if err != nil {
		t.Fatal(err)
	}
	if link, done, err := v42Dial(t, s, "vic", "pw", key.Public); err == nil {
		link.Close()
		<-done
		t.Fatal("the login succeeded")
	} else {
		<-done
	}
	r := records(t, st)
	if len(r) != 1 || r[0].User != "vic" || r[0].Reason != reasonCheckTimeout || r[0].Result != store.ResultAbandoned {
		t.Fatalf("records: %+v, want one abandoned, user vic, %q", r, reasonCheckTimeout)
	}
}
