package bridge

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPerUserLimit: with lines.per_user = 1 a second login of an account
// in session is refused with words (and a record) that say why; another
// account is not affected, and once the first call ends the account may
// log in again.
func TestPerUserLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, func(c net.Conn) { io.Copy(c, c); c.Close() })
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c.Lines.PerUser = 1
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret", "bob": "pw"}})

	inSession := func(user, pw string) (io.ReadWriteCloser, <-chan struct{}) {
		t.Helper()
		line, done := simCall(t, s)
		login(t, line, user, pw)
		io.WriteString(line, "ping-"+user)
		expect(t, line, "ping-"+user)
		return line, done
	}
	first, done1 := inSession("alice", "secret")

	second, done2 := simCall(t, s)
	login(t, second, "alice", "secret")
	expect(t, second, strings.TrimSpace(msgAccountBusy))
	second.Close()
	<-done2

	other, done3 := inSession("bob", "pw")
	other.Close()
	<-done3

	first.Close()
	<-done1
	again, done4 := inSession("alice", "secret")
	again.Close()
	<-done4

	recs := records(t, st)
	if len(recs) != 4 {
		t.Fatalf("records: %+v", recs)
	}
	var refused []store.CallRecord
	for _, r := range recs {
		if r.Result == store.ResultRefused {
			refused = append(refused, r)
		}
	}
	if len(refused) != 1 || refused[0].User != "alice" || refused[0].Reason != "the account already has 1 call(s) in progress (lines.per_user = 1)" {
		t.Errorf("refused calls %+v, want alice's second", refused)
	}
}

// TestPerUserLimitV42: over V.42 the second login of an account gets
// its CONFIRM (the limit is checked after Access Security), then the
// same words inside the link, and its link released.
func TestPerUserLimitV42(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, func(c net.Conn) { io.Copy(c, c); c.Close() })
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"alice": "secret"}},
		config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	c := *s.Config()
	c.Lines.PerUser = 1
	if err := s.Reload(&c, nil); err != nil {
		t.Fatal(err)
	}
	first, done1, err := v42Dial(t, s, "alice", "secret", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(first, "ping")
	expect(t, first, "ping")
	second, done2, err := v42Dial(t, s, "alice", "secret", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	if out := readAll(second); out != msgAccountBusy {
		t.Errorf("second login heard %q, want %q", out, msgAccountBusy)
	}
	second.Close()
	<-done2
	first.Close()
	<-done1
	recs := records(t, st)
	if len(recs) != 2 || recs[1].Result != store.ResultRefused && recs[0].Result != store.ResultRefused {
		t.Errorf("records %+v, want the second refused", recs)
	}
}
