package bridge

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// waitCalls polls s.Calls until ok accepts the list.
func waitCalls(t *testing.T, s *Server, ok func([]CallInfo) bool) []CallInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs := s.Calls()
		if ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls: %+v", cs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCallsAndOperatorHangUpSession(t *testing.T) {
	testutil.CheckGoroutines(t)
	backendGone := make(chan struct{})
	addr := tcpBackendServer(t, func(c net.Conn) {
		defer close(backendGone)
		_, _ = io.Copy(c, c) // ends when the gateway closes its side
	})
	c := testConfig(t, config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	if cs := s.Calls(); len(cs) != 0 {
		t.Fatalf("calls before any: %+v", cs)
	}
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 })
	if got := cs[0]; got.Phase != PhaseLogin || got.User != "" || got.Backend != "" || got.Session == 0 || got.Listener != "test" || got.Start.IsZero() {
		t.Errorf("during login: %+v", got)
	}
	io.WriteString(line, "alice\r\n")
	expect(t, line, "password: ")
	io.WriteString(line, "secret\r\n")
	io.WriteString(line, "hello")
	expect(t, line, "hello")
	cs = waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 && cs[0].BytesOut == 5 })
	got := cs[0]
	if got.Phase != PhaseSession || got.User != "alice" || got.Backend != "echo" || got.Mode != "text" || got.Answer.IsZero() || got.BytesIn != 5 {
		t.Errorf("in session: %+v", got)
	}
	if err := s.HangUp(got.Session + 1); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("HangUp of another session: %v", err)
	}
	if err := s.HangUp(got.Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "NO CARRIER (the operator ended the call)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	<-backendGone
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultCompleted || r[0].Reason != reasonOperator || r[0].User != "alice" {
		t.Fatalf("records: %+v", r)
	}
	if cs := s.Calls(); len(cs) != 0 {
		t.Errorf("calls after the end: %+v", cs)
	}
	if err := s.HangUp(got.Session); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("HangUp of an ended call: %v", err)
	}
}

func TestOperatorHangUpDuringLogin(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st := newTestServer(t, testConfig(t), &fakeVerifier{users: map[string]string{"alice": "secret"}})
	line, done := simCall(t, s)
	expect(t, line, "login: ")
	io.WriteString(line, "alice\r\n")
	expect(t, line, "password: ")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 })
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "NO CARRIER (the operator ended the call)") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != reasonOperator+" during login" {
		t.Fatalf("records: %+v", r)
	}
}

// A call whose backend is being dialled when the operator hangs it up is
// recorded as hung up by the operator, not as the backend's failure.
func TestOperatorHangUpWhileDialling(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := testConfig(t, config.Backend{Name: "slow", Type: config.BackendTCP, Address: "127.0.0.1:1"})
	s, st := newTestServer(t, c, &fakeVerifier{users: map[string]string{"alice": "secret"}})
	dialling := make(chan struct{})
	s.st.Load().backends["slow"] = dialWaits{dialling}
	line, done := simCall(t, s)
	login(t, line, "alice", "secret")
	cs := waitCalls(t, s, func(cs []CallInfo) bool { return len(cs) == 1 && cs[0].Backend == "slow" })
	if cs[0].Phase != PhaseConnecting {
		t.Errorf("phase while dialling: %q", cs[0].Phase)
	}
	<-dialling
	if err := s.HangUp(cs[0].Session); err != nil {
		t.Fatal(err)
	}
	if out := readAll(line); !strings.Contains(out, "the operator ended the call") {
		t.Errorf("caller heard %q", out)
	}
	<-done
	r := records(t, st)
	if len(r) != 1 || r[0].Result != store.ResultAbandoned || r[0].Reason != reasonOperator+" before the backend answered" || r[0].Backend != "slow" {
		t.Fatalf("records: %+v", r)
	}
}

// dialWaits is a backend whose Connect waits for its context.
type dialWaits struct{ dialling chan struct{} }

func (d dialWaits) Connect(ctx context.Context, _ Session) (BackendConn, error) {
	close(d.dialling)
	<-ctx.Done()
	return nil, ctx.Err()
}
