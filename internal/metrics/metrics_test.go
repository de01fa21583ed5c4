package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/slipwayci/slipway/job"
)

type counts struct {
	m   map[job.State]int
	err error
}

func (c counts) CountJobsByState(context.Context) (map[job.State]int, error) { return c.m, c.err }

func scrape(t *testing.T, r *Registry) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// TestNamesFollowConventions: every metric Slipway exports passes promtool's
// lint (units in names, _total on counters, base units).
func TestNamesFollowConventions(t *testing.T) {
	r := New(counts{m: map[job.State]int{job.StateQueued: 3}}, slog.New(slog.DiscardHandler))
	r.ObserveRequest("GET", "/healthz", 200, time.Millisecond)
	r.WebhookReceived("api", "accepted")
	r.JobStarted(2)
	r.JobFinished("succeeded", time.Second, time.Minute)
	r.PushedBytes(1234)
	r.CallbackDelivered("delivered")
	code, text := scrape(t, r)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`slipway_jobs{state="queued"} 3`,
		`slipway_jobs{state="running"} 0`,
		`slipway_job_retries_total 1`,
		`slipway_push_bytes_total 1234`,
		`slipway_build_duration_seconds_count{result="succeeded"} 1`,
		`slipway_job_queue_wait_seconds_sum{result="succeeded"} 1`,
		`slipway_webhooks_received_total{outcome="accepted",source="api"} 1`,
		`slipway_callback_deliveries_total{outcome="delivered"} 1`,
		`slipway_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestDatabaseDownKeepsOtherMetrics: when the jobs gauge cannot be read the
// scrape still serves everything else.
func TestDatabaseDownKeepsOtherMetrics(t *testing.T) {
	r := New(counts{err: errors.New("connection refused")}, slog.New(slog.DiscardHandler))
	r.PushedBytes(5)
	_, text := scrape(t, r)
	if strings.Contains(text, "slipway_jobs{") {
		t.Error("jobs gauge reported without a database")
	}
	if !strings.Contains(text, "slipway_push_bytes_total 5") {
		t.Errorf("other metrics lost:\n%s", text)
	}
}

// countingJobs counts how often the jobs table is counted.
type countingJobs struct{ n atomic.Int64 }

func (c *countingJobs) CountJobsByState(context.Context) (map[job.State]int, error) {
	c.n.Add(1)
	return map[job.State]int{job.StateQueued: 1}, nil
}

// TestScrapesShareOneCount: a flood of scrapes counts the jobs table once
// per jobsRefresh, not once per scrape.
func TestScrapesShareOneCount(t *testing.T) {
	jobs := &countingJobs{}
	r := New(jobs, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, text := scrape(t, r); !strings.Contains(text, `slipway_jobs{state="queued"} 1`) {
				t.Errorf("scrape lacks the jobs gauge")
			}
		})
	}
	wg.Wait()
	if n := jobs.n.Load(); n != 1 {
		t.Errorf("50 scrapes counted the jobs %d times, want 1", n)
	}
}
