package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/store"
)

// busyChecks is a Verifier whose queue of password checks is full, as
// AuthVerifier's is when auth.Verify returns auth.ErrBusy.
type busyChecks struct{}

func (busyChecks) Verify(context.Context, string, string, string) (Account, error) {
	return Account{}, fmt.Errorf("fake: %w", ErrChecksBusy)
}

// TestLoginShedChecksBusy: a text login shed because the queue of
// password checks is full is recorded throttled with its own reason (not
// "login throttled", the back-off's), is counted in
// dialgate_logins_shed_total and logged as a warning. Trial: recorded
// "login throttled", no log line.
func TestLoginShedChecksBusy(t *testing.T) {
	c := testConfig(t)
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	s, err := New(Options{Config: c, Store: st, Verifier: busyChecks{}, Metrics: m, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	defer line.Close()
	login(t, line, "alice", "secret")
	got := expect(t, line, "NO CARRIER")
	if !strings.Contains(got, "NO CARRIER (too many attempts or too busy; try again later)") {
		t.Errorf("caller heard %q", got)
	}
	<-done
	recs := waitRecords(t, st, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[0]; r.Result != store.ResultThrottled || r.Reason != reasonChecksBusy || r.User != "alice" {
		t.Errorf("record: result %q, reason %q, user %q", r.Result, r.Reason, r.User)
	}
	if n := counterValue(t, reg, "dialgate_logins_shed_total"); n != 1 {
		t.Errorf("dialgate_logins_shed_total = %v", n)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, lines := sumField(logs, "password checks busy: logins shed (raise [security] hash_queue or max_hashing if this persists)", "logins"); n != 1 || lines != 1 {
		t.Errorf("warnings count %d shed logins in %d lines; want 1 in 1", n, lines)
	}
}
