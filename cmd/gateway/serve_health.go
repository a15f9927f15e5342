package main

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialgate/dialgate/internal/config"
)

// healthSource is what /healthz and its gauges ask the running gateway
// (bridge.Gateway).
type healthSource interface {
	Draining() bool
	StoreHealth() error
	ActiveCalls() int
	// Config is the configuration in effect for new calls (its [lines]
	// maintenance switch, reloaded by SIGHUP).
	Config() *config.Config
}

// maintenance reports whether [lines] maintenance is on: every new call
// hears BUSY ("down for maintenance").
func maintenance(g healthSource) bool {
	c := g.Config()
	return c != nil && c.Lines.Maintenance
}

// health is the answer of /healthz, one line: 503 "draining" once the
// gateway stops taking calls (SIGTERM: new callers hear BUSY while the
// calls in progress end), 503 "state_dir ... not writable since T:
// why" while the state directory cannot be written (disk full: calls go
// on, their records wait in memory and session numbers come from
// memory), 503
// "maintenance" while [lines] maintenance is on (every new call hears
// BUSY, so a load balancer should send callers elsewhere), 503 "all
// lines busy (N of M)" while every line of [lines] max_concurrent is
// taken (the next caller hears BUSY), else 200 "ok N calls".
func health(g healthSource) (int, string) {
	if g.Draining() {
		return http.StatusServiceUnavailable, "draining"
	}
	if err := g.StoreHealth(); err != nil {
		why := strings.TrimPrefix(err.Error(), "store: ")
		return http.StatusServiceUnavailable, strings.Join(strings.Fields(why), " ")
	}
	if maintenance(g) {
		return http.StatusServiceUnavailable, "maintenance"
	}
	n := g.ActiveCalls()
	if c := g.Config(); c != nil && c.Lines.MaxConcurrent > 0 && n >= c.Lines.MaxConcurrent {
		return http.StatusServiceUnavailable, "all lines busy (" + strconv.Itoa(n) + " of " + strconv.Itoa(c.Lines.MaxConcurrent) + ")"
	}
	return http.StatusOK, "ok " + strconv.Itoa(n) + " calls"
}

// registerHealthMetrics adds what /healthz tells as gauges:
// dialgate_draining, dialgate_maintenance and dialgate_state_dir_writable,
// 0 or 1, and dialgate_lines_max, the lines there are.
func registerHealthMetrics(reg prometheus.Registerer, g healthSource) {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "dialgate_build_info",
		Help:        "1, labelled with the gateway's version (and commit) and Go version: an upgrade shows here.",
		ConstLabels: prometheus.Labels{"version": versionString(), "goversion": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(info,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_draining",
			Help: "1 once the gateway stops taking calls (SIGTERM: new callers hear BUSY) and waits for the calls in progress, else 0.",
		}, func() float64 { return boolGauge(g.Draining()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_maintenance",
			Help: "1 while [lines] maintenance is on (every new call hears BUSY, down for maintenance; switched by a SIGHUP reload), else 0.",
		}, func() float64 { return boolGauge(maintenance(g)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_lines_max",
			Help: "[lines] max_concurrent in effect (follows a SIGHUP reload): the calls the gateway answers at once; compare dialgate_calls_active.",
		}, func() float64 { return float64(g.Config().Lines.MaxConcurrent) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_state_dir_writable",
			Help: "0 while the state directory cannot be written (the last reservation of session numbers failed, or call records wait in memory: disk full, or a file there the gateway refuses), else 1; a scrape retries 10 s after the last failure.",
		}, func() float64 { return boolGauge(g.StoreHealth() == nil) }),
	)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reloadStatus is the outcome of the last SIGHUP reload, for its gauges
// (operator trial: a reload that kept the old configuration or users
// showed only in one log line, and `systemctl reload` succeeded).
type reloadStatus struct {
	ok atomic.Bool
	at atomic.Int64 // Unix time of the last successful reload, or of the start
}

func newReloadStatus(start time.Time) *reloadStatus {
	r := &reloadStatus{}
	r.ok.Store(true)
	r.at.Store(start.Unix())
	return r
}

// done records a reload's outcome: ok when it took both the
// configuration and the users file.
func (r *reloadStatus) done(ok bool, now time.Time) {
	r.ok.Store(ok)
	if ok {
		r.at.Store(now.Unix())
	}
}

// registerReloadMetrics adds dialgate_config_last_reload_successful and
// dialgate_config_last_reload_success_timestamp_seconds, as Prometheus
// names its own.
func registerReloadMetrics(reg prometheus.Registerer, r *reloadStatus) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_config_last_reload_successful",
			Help: "1 if the last SIGHUP reload took the configuration and the users file (and before any reload), 0 if it kept the old configuration or the old users.",
		}, func() float64 { return boolGauge(r.ok.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dialgate_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful SIGHUP reload, or of the start.",
		}, func() float64 { return float64(r.at.Load()) }),
	)
}
