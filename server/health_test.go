package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("not reachable") }
	hang := func(ctx context.Context) error { <-ctx.Done(); return errors.New("timed out") }
	for _, tc := range []struct {
		name   string
		checks []Check
		code   int
		failed []string
	}{
		{"none", nil, http.StatusOK, nil},
		{"all ok", []Check{{"postgres", ok}, {"docker", ok}}, http.StatusOK, nil},
		{"one down", []Check{{"postgres", down}, {"docker", ok}}, http.StatusServiceUnavailable, []string{"postgres"}},
		{"hanging", []Check{{"postgres", ok}, {"docker", hang}}, http.StatusServiceUnavailable, []string{"docker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Ready: tc.checks}, nil, nil, slog.New(slog.DiscardHandler))
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
			defer cancel()
			s.ServeHTTP(rec, req.WithContext(ctx))
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var body readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(body.Failed, tc.failed) {
				t.Errorf("failed = %v, want %v", body.Failed, tc.failed)
			}
			for _, c := range tc.checks {
				if _, ok := body.Checks[c.Name]; !ok {
					t.Errorf("check %s missing from %s", c.Name, rec.Body)
				}
			}
		})
	}
}

// TestReadyzIsCached: a flood of probes runs the checks (a Postgres query, a
// Docker ping) once per readyCacheTTL, not once per request.
func TestReadyzIsCached(t *testing.T) {
	var runs atomic.Int64
	count := func(context.Context) error { runs.Add(1); time.Sleep(10 * time.Millisecond); return nil }
	s := New(Config{Ready: []Check{{"postgres", count}}}, nil, nil, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("200 probes ran the check %d times, want 1", n)
	}
	s.ready.at = time.Now().Add(-readyCacheTTL)
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if n := runs.Load(); n != 2 {
		t.Errorf("a probe after the cache expired ran the check %d times in all, want 2", n)
	}
}
