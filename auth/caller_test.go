package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// knownHostsCheck binds a KnownHosts file to CallerConfig.CheckHostKey the
// way the dial client does.
func knownHostsCheck(t *testing.T, kh *KnownHosts, host string, tofu bool, newly *bool) func([]byte) error {
	t.Helper()
	return func(pub []byte) error {
		n, err := kh.Check(host, pub, tofu)
		*newly = n
		return err
	}
}

func TestKnownHostsTrustOnFirstUseThenChangedKey(t *testing.T) {
	testutil.CheckGoroutines(t)
	kh, err := LoadKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	var newly bool
	check := knownHostsCheck(t, kh, "gw.example", true, &newly)

	// First call: the key is trusted on first use.
	r := runPair(t, scenarioDirect.callerConfig(check), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if r.callErr != nil || !newly {
		t.Fatalf("first call: %v (newly trusted %v)", r.callErr, newly)
	}
	// Second call: same key, nothing new.
	r = runPair(t, scenarioDirect.callerConfig(check), answererConfig("g2", nil), testTranscript, testTranscript, nil)
	if r.callErr != nil || newly {
		t.Fatalf("second call: %v (newly trusted %v)", r.callErr, newly)
	}
	// Third call: an impostor's key aborts the call before RESPONSE, with
	// the OpenSSH-style warning in the error.
	ac := answererConfig("g3", nil)
	ac.HostKey = testHostKey("impostor")
	r = runPair(t, scenarioDirect.callerConfig(check), ac, testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) || !errors.Is(r.callErr, ErrHostKeyChanged) {
		t.Fatalf("impostor: %v", r.callErr)
	}
	checkPasswordNeverSent(t, r.log, scenarioDirect.pw)
}

func TestKnownHostsPinnedUnknownHost(t *testing.T) {
	testutil.CheckGoroutines(t)
	kh, err := LoadKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kh.Pin("gw.example", Fingerprint(testHostKey("gateway").Public)); err != nil {
		t.Fatal(err)
	}
	var newly bool
	// A pinned host connects; an unpinned one is refused without TOFU.
	r := runPair(t, scenarioDirect.callerConfig(knownHostsCheck(t, kh, "gw.example", false, &newly)), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if r.callErr != nil {
		t.Fatalf("pinned host: %v", r.callErr)
	}
	r = runPair(t, scenarioDirect.callerConfig(knownHostsCheck(t, kh, "other.example", false, &newly)), answererConfig("g", nil), testTranscript, testTranscript, nil)
	if !errors.Is(r.callErr, ErrHostKeyRejected) || !errors.Is(r.callErr, ErrHostUnknown) {
		t.Fatalf("unknown host: %v", r.callErr)
	}
	checkPasswordNeverSent(t, r.log, scenarioDirect.pw)
}

// Example shows both ends of a call over a pair of XIDConns (in dialgate,
// two lapm.Links). The gateway's Verify would be a Verifier bound to the
// caller's address, and CheckHostKey a KnownHosts check.
func Example() {
	_, callerLink, gatewayLink := newXIDPipe("C", testTranscript, "G", testTranscript)
	ctx := context.Background()
	hostKey := testHostKey("gateway")

	done := make(chan *AnswerResult)
	go func() {
		first, err := gatewayLink.AcceptXID(ctx) // the INITIATE
		if err != nil {
			close(done)
			return
		}
		res, err := Answer(ctx, gatewayLink, first, AnswererConfig{
			HostKey: hostKey,
			Name:    "example gateway",
			Verify: func(ctx context.Context, user, password string) (User, error) {
				if user == "bob" && password == "battery staple" {
					return User{ID: "bob", Backend: "bbs"}, nil
				}
				return User{}, ErrDenied
			},
			AllocateSession: func() (uint64, error) { return 1001, nil },
		})
		if err != nil {
			close(done) // Answer already sent REJECT
			return
		}
		done <- res
	}()

	res, err := Call(ctx, callerLink, CallerConfig{
		UserID: "bob", Password: "battery staple", HostName: "gw.example",
		CheckHostKey: func(pub []byte) error {
			if !bytes.Equal(pub, hostKey.Public) {
				return errors.New("host key changed")
			}
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	gw, ok := <-done
	if !ok {
		return
	}
	sealed := res.Transform.Seal(nil, []byte("ATDT"))
	plain, _ := gw.Transform.Open(nil, sealed)
	fmt.Println(res.GatewayName, res.SessionNumber, gw.User.ID, string(plain))
	// Output: example gateway 1001 bob ATDT
}
