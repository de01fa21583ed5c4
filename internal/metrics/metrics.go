// Package metrics is the Prometheus adapter: it implements the small metrics
// interfaces server and builder define and serves them, with the Go runtime's
// and the process's own, in the Prometheus text format.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipwayci/slipway/job"
)

// JobCounter counts jobs by state; it is asked by scrapes at most once per
// jobsRefresh, so the gauge is right across restarts and across every
// process sharing the database.
type JobCounter interface {
	CountJobsByState(ctx context.Context) (map[job.State]int, error)
}

// Registry holds Slipway's metrics.
type Registry struct {
	reg       *prometheus.Registry
	log       *slog.Logger
	httpDur   *prometheus.HistogramVec
	webhooks  *prometheus.CounterVec
	queueWait *prometheus.HistogramVec
	buildDur  *prometheus.HistogramVec
	pushBytes prometheus.Counter
	retries   prometheus.Counter
	callbacks *prometheus.CounterVec

	// The request histogram's series, found once: the label lookup costs
	// each request more than the observation. The keys are the series'.
	seriesMu sync.RWMutex
	series   map[requestSeries]prometheus.Observer
}

type requestSeries struct {
	route, method string
	code          int
}

// New returns a Registry whose jobs gauge asks jobs at scrape time.
func New(jobs JobCounter, log *slog.Logger) *Registry {
	r := &Registry{
		reg:    prometheus.NewRegistry(),
		log:    log,
		series: map[requestSeries]prometheus.Observer{},
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhooks_received_total",
			Help: "Build requests received, by trigger source and outcome (accepted, rejected, error).",
		}, []string{"source", "outcome"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_job_queue_wait_seconds",
			Help:    "Time a job waited in the queue before its first attempt started, by the job's result.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16), // 50 ms … ~27 min
		}, []string{"result"}),
		buildDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_build_duration_seconds",
			Help:    "Time one attempt took to fetch, build and push, by result.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13), // 1 s … ~68 min
		}, []string{"result"}),
		pushBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_push_bytes_total",
			Help: "Compressed layer bytes uploaded to registries (layers the registry already had are not counted).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_job_retries_total",
			Help: "Attempts started beyond a job's first.",
		}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_callback_deliveries_total",
			Help: "Job status callbacks sent to CI systems, by outcome (delivered, failed).",
		}, []string{"outcome"}),
	}
	r.reg.MustRegister(r.httpDur, r.webhooks, r.queueWait, r.buildDur, r.pushBytes, r.retries, r.callbacks,
		&jobsCollector{jobs: jobs, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Handler serves the metrics. A failing collector (the database is down)
// leaves its series out and the others are still served, so a database
// outage does not blind the whole scrape.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		Registry:      r.reg,
	})
}

// ObserveRequest implements server.Metrics.
func (r *Registry) ObserveRequest(method, route string, code int, d time.Duration) {
	k := requestSeries{route: route, method: method, code: code}
	r.seriesMu.RLock()
	o, ok := r.series[k]
	r.seriesMu.RUnlock()
	if !ok {
		o = r.httpDur.WithLabelValues(route, method, strconv.Itoa(code))
		r.seriesMu.Lock()
		r.series[k] = o
		r.seriesMu.Unlock()
	}
	o.Observe(d.Seconds())
}

// WebhookReceived implements server.Metrics.
func (r *Registry) WebhookReceived(source, outcome string) {
	r.webhooks.WithLabelValues(source, outcome).Inc()
}

// JobStarted implements builder.Metrics.
func (r *Registry) JobStarted(attempt int) {
	if attempt > 1 {
		r.retries.Inc()
	}
}

// JobFinished implements builder.Metrics.
func (r *Registry) JobFinished(result string, queueWait, duration time.Duration) {
	r.queueWait.WithLabelValues(result).Observe(queueWait.Seconds())
	r.buildDur.WithLabelValues(result).Observe(duration.Seconds())
}

// PushedBytes implements builder.Metrics.
func (r *Registry) PushedBytes(n int64) {
	r.pushBytes.Add(float64(n))
}

// CallbackDelivered counts one status callback to a CI system; outcome is
// "delivered" or "failed".
func (r *Registry) CallbackDelivered(outcome string) {
	r.callbacks.WithLabelValues(outcome).Inc()
}

// jobsCollector reports the jobs gauge from the database, counted at most
// once per jobsRefresh: the count reads the whole jobs table, and a scrape
// is a request anyone reaching the port can send.
type jobsCollector struct {
	jobs JobCounter
	log  *slog.Logger

	mu     sync.Mutex // held while counting, so concurrent scrapes share one count
	at     time.Time
	counts map[job.State]int
	err    error
}

// jobsRefresh is how old the jobs gauge may be: Prometheus scrapes every
// 15 to 60 s, so a count this old is as fresh as the scrape that shows it.
const jobsRefresh = 15 * time.Second

var jobsDesc = prometheus.NewDesc("slipway_jobs", "Jobs in the database, by state.", []string{"state"}, nil)

// scrapeTimeout keeps a slow database from holding the scrape past
// Prometheus' own timeout (10 s by default).
const scrapeTimeout = 5 * time.Second

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c *jobsCollector) count() (map[job.State]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= jobsRefresh {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		c.counts, c.err = c.jobs.CountJobsByState(ctx)
		cancel()
		c.at = time.Now()
	}
	counts := make(map[job.State]int, len(c.counts))
	for s, n := range c.counts {
		counts[s] = n
	}
	return counts, c.err
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	// Known states are always reported, at 0 when empty, so alerts on
	// "queued > N" have a series to watch; states added later still show.
	for _, s := range []job.State{job.StateQueued, job.StateRunning, job.StateSucceeded, job.StateFailed, job.StateCanceled} {
		if _, ok := counts[s]; !ok {
			counts[s] = 0
		}
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}
