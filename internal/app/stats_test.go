package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/server"
)

func newStatsEnv(t *testing.T) *apiEnv {
	t.Helper()
	return newAPIEnvOn(t, testenv.Postgres(t), server.Config{}, func(d *db.DB) []server.Option {
		return []server.Option{server.WithStats(d)}
	})
}

// TestStatsHistoryAPI: the history and images answers count what happened,
// follow the OpenAPI document, answer 304 while nothing changes and 200
// with a new ETag once something does. The figures themselves are checked
// against the seeded data in the db package's tests.
func TestStatsHistoryAPI(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	for i := range 3 {
		e.createJob(t, "https://git.example.com/h.git", sha(i), "registry.example.com/h", job.SystemAPI)
	}
	ok, err := e.store.Claim(ctx, "w1", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Succeed(ctx, ok.ID, "w1", job.Result{}); err != nil {
		t.Fatal(err)
	}
	bad, err := e.store.Claim(ctx, "w1", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Fail(ctx, bad.ID, "w1", job.Error{Code: "build_failed", Message: "RUN false"}, -1); err != nil {
		t.Fatal(err)
	}
	readToken, _ := e.token(t, job.ScopeRead)

	resp, body := e.do(t, http.MethodGet, "/api/v1/stats/history?window=1h", readToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	var h job.History
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Buckets) != 60 {
		t.Fatalf("1h in default steps: %d buckets, want 60", len(h.Buckets))
	}
	var sum job.HistoryBucket
	for _, b := range h.Buckets {
		sum.Queued += b.Queued
		sum.Started += b.Started
		sum.Succeeded += b.Succeeded
		sum.Failed += b.Failed
	}
	last := h.Buckets[len(h.Buckets)-1]
	if sum.Queued != 3 || sum.Started != 2 || sum.Succeeded != 1 || sum.Failed != 1 || last.QueueDepth != 1 {
		t.Errorf("history sums %+v, depth now %d; want 3 queued, 2 started, 1 succeeded, 1 failed, depth 1", sum, last.QueueDepth)
	}

	resp, body = e.do(t, http.MethodGet, "/api/v1/stats/images?window=24h", readToken, nil, nil)
	var imgs job.ImageStatsList
	if err := json.Unmarshal(body, &imgs); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("images: %d %s", resp.StatusCode, body)
	}
	if len(imgs.Images) != 1 || imgs.Images[0].Runs != 2 || imgs.Images[0].LastFailure == nil ||
		imgs.Images[0].LastFailure.JobID != bad.ID || *imgs.Images[0].SuccessRate != 0.5 {
		t.Errorf("images = %s", body)
	}

	paths := []string{"/api/v1/stats/history?window=24h&step=5m", "/api/v1/stats/history?window=7d", "/api/v1/stats/images"}
	tags := map[string]string{}
	for _, path := range paths {
		// Answers are aligned to whole minutes, so one minute closing between
		// the two requests changes the ETag; two cannot close in a retry.
		for try := 1; ; try++ {
			resp, _ := e.do(t, http.MethodGet, path, readToken, nil, nil)
			tags[path] = resp.Header.Get("ETag")
			if tags[path] == "" || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("%s: ETag %q, Cache-Control %q", path, tags[path], resp.Header.Get("Cache-Control"))
			}
			resp, body := e.do(t, http.MethodGet, path, readToken, nil, map[string]string{"If-None-Match": tags[path]})
			if resp.StatusCode == http.StatusNotModified && len(body) == 0 {
				break
			}
			if try == 2 {
				t.Errorf("%s unchanged: %d, want 304", path, resp.StatusCode)
				break
			}
		}
	}
	// A build ends: every answer changes.
	j, err := e.store.Claim(ctx, "w1", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Succeed(ctx, j.ID, "w1", job.Result{}); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		resp, _ := e.do(t, http.MethodGet, path, readToken, nil, map[string]string{"If-None-Match": tags[path]})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == tags[path] {
			t.Errorf("%s after a build ended: %d with ETag %s, want 200 with a new ETag", path, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
}

func TestStatsHistoryRejectsBadQueries(t *testing.T) {
	e := newStatsEnv(t)
	for _, tt := range []struct{ query, detail string }{
		{"/api/v1/stats/history?window=2h", "window must be"},
		{"/api/v1/stats/history?window=1w", "window must be"},
		{"/api/v1/stats/history?step=7m", "step must be"},
		{"/api/v1/stats/history?window=1h&step=1d", "must divide"},
		{"/api/v1/stats/history?window=7d&step=1m", "10080 buckets"},
		{"/api/v1/stats/history?window=24h&window=7d", "once"},
		{"/api/v1/stats/history?window=24h&bucket=5m", "Unknown query parameter"},
		{"/api/v1/stats/history?%%%", "malformed"},
		{"/api/v1/stats/images?window=12h", "window must be"},
		{"/api/v1/stats/images?step=5m", "Unknown query parameter"},
		{"/api/v1/stats/images?window=7d&window=1h", "once"},
	} {
		resp, body := e.do(t, http.MethodGet, tt.query, testAdminToken, nil, nil)
		var p server.Problem
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s: %d %s %s, want 400 problem saying %q", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.detail)
		}
	}
	resp, _ := e.do(t, http.MethodGet, "/api/v1/stats/history", "", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("history without a token: %d, want 401", resp.StatusCode)
	}
}
