package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialgate/dialgate/internal/store"
)

// Metrics are the gateway's Prometheus metrics. The nil *Metrics records
// nothing.
type Metrics struct {
	active  prometheus.Gauge
	calls   *prometheus.CounterVec
	octets  *prometheus.CounterVec
	answers prometheus.Counter
	shed    prometheus.Counter
	length  prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dialgate", Name: "calls_active", Help: "Calls holding a line slot.",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialgate", Name: "calls_total", Help: "Calls ended, by listener and result.",
		}, []string{"listener", "result"}),
		octets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialgate", Name: "bridged_octets_total", Help: "Octets bridged, by direction (in: caller to backend).",
		}, []string{"direction"}),
		answers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dialgate", Name: "sessions_bridged_total", Help: "Calls that reached a backend.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dialgate", Name: "logins_shed_total", Help: "Text logins refused because the queue of password checks was full.",
		}),
		length: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "dialgate", Name: "session_duration_seconds", Help: "How long bridged sessions lasted, from the backend's answer to the end of the call.",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800},
		}),
	}
	for _, c := range []prometheus.Collector{m.active, m.calls, m.octets, m.answers, m.shed, m.length} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) callStarted() {
	if m != nil {
		m.active.Inc()
	}
}

func (m *Metrics) callEnded() {
	if m != nil {
		m.active.Dec()
	}
}

// callsRecovered counts the records of calls a previous gateway left
// open (store.File.InterruptedRecords), written as it starts: their
// result is counted, as every record's is; their octets and sessions
// were the previous process's to count.
func (m *Metrics) callsRecovered(recs []store.CallRecord) {
	if m == nil {
		return
	}
	for _, r := range recs {
		m.calls.WithLabelValues(r.Listener, r.Result).Inc()
	}
}

func (m *Metrics) loginShed() {
	if m != nil {
		m.shed.Inc()
	}
}

func (m *Metrics) callRecorded(r store.CallRecord) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(r.Listener, r.Result).Inc()
	m.octets.WithLabelValues("in").Add(float64(r.BytesIn))
	m.octets.WithLabelValues("out").Add(float64(r.BytesOut))
	if !r.Answer.IsZero() {
		m.answers.Inc()
		if !r.End.IsZero() {
			m.length.Observe(max(r.End.Sub(r.Answer).Seconds(), 0))
		}
	}
}
