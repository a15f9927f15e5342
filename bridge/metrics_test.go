package bridge

import (
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// metricsCheckingStore checks, as each record is appended, that the
// metrics already count the call.
type metricsCheckingStore struct {
	store.Store
	t   *testing.T
	reg *prometheus.Registry
}

func (s *metricsCheckingStore) AppendRecord(r store.CallRecord) error {
	if got := counterValue(s.t, s.reg, "dialgate_calls_total", r.Listener, r.Result); got != 1 {
		s.t.Errorf("record %s/%s appended while dialgate_calls_total counts %v", r.Listener, r.Result, got)
	}
	if got := counterValue(s.t, s.reg, "dialgate_sessions_bridged_total"); got != 1 {
		s.t.Errorf("record of a bridged call appended while dialgate_sessions_bridged_total is %v", got)
	}
	return s.Store.AppendRecord(r)
}

// counterValue is the value of the counter name with the given label
// values (in the order of the metric's labels) as reg exposes it; 0 when
// it is absent.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != labels[i] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestMetricsCountCallBeforeRecord: a call's record becomes visible in
// the store only after the metrics count it, so that reading the record
// and then /metrics finds the call (TestServeDetectAndMetrics failed
// under load when the metrics were updated after the fsync).
func TestMetricsCountCallBeforeRecord(t *testing.T) {
	testutil.CheckGoroutines(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	st := &metricsCheckingStore{Store: fs, t: t, reg: reg}
	s, err := New(Options{Config: testConfig(t), Store: st, Verifier: &fakeVerifier{users: map[string]string{"ann": "pw"}}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	line, done := simCall(t, s)
	login(t, line, "ann", "pw")
	expect(t, line, "Choice: ")
	io.WriteString(line, "g\r")
	expect(t, line, "Goodbye, ann.")
	line.Close()
	<-done
	if r := records(t, fs); len(r) != 1 || r[0].Result != store.ResultCompleted {
		t.Fatalf("records: %+v", r)
	}
}
