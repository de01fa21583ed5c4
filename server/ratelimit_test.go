package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

func TestRateLimit(t *testing.T) {
	// One token per 1000 s: nothing refills while the test runs.
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 10, RateLimit: 0.001, RateBurst: 2,
		AdminToken: testAdminToken, PublicReads: true}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(path, auth, addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = addr
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	const job = "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b"
	for i := range 2 {
		if rec := get(job, "Bearer "+testAdminToken, "192.0.2.1:1000"); rec.Code == http.StatusTooManyRequests {
			t.Fatalf("request %d: status 429 within the burst", i)
		}
	}
	rec := get(job, "Bearer "+testAdminToken, "192.0.2.9:1000")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != problemJSON {
		t.Fatalf("over the limit: status %d %s, want 429 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", rec.Header().Get("Retry-After"))
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != http.StatusTooManyRequests {
		t.Errorf("problem = %s", rec.Body)
	}
	// Another credential and an anonymous caller have their own budgets.
	if rec := get(job, "Bearer b", "192.0.2.1:1000"); rec.Code == http.StatusTooManyRequests {
		t.Errorf("other credential: status %d", rec.Code)
	}
	for i := range 3 {
		want := http.StatusNotFound
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if rec := get(job, "", "198.51.100.7:"+strconv.Itoa(4000+i)); rec.Code != want {
			t.Errorf("anonymous request %d: status %d, want %d", i, rec.Code, want)
		}
	}
	if rec := get("/healthz", "", "198.51.100.7:1"); rec.Code != http.StatusOK {
		t.Errorf("healthz limited: %d", rec.Code)
	}
}

// Invented tokens get no budget of their own: their refusals count against
// the address they come from, which then gets 429 for them, while a valid
// token from that same address keeps its own budget.
func TestRateLimitRefusedCredentials(t *testing.T) {
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 10, RateLimit: 0.001, RateBurst: 2,
		AdminToken: testAdminToken, Hooks: HookConfig{JenkinsSecrets: []string{"jenkins-secret-0123456789abcdef"}}}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	do := func(method, path, auth, addr string) int {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusTooManyRequests} {
		if got := do(http.MethodGet, "/api/v1/stats", "Bearer invented-"+strconv.Itoa(i), "192.0.2.1:1000"); got != want {
			t.Errorf("invented token %d: status %d, want %d", i, got, want)
		}
	}
	if got := do(http.MethodPost, "/api/v1/hooks/jenkins", "Bearer invented-hook", "192.0.2.1:1000"); got != http.StatusTooManyRequests {
		t.Errorf("invented hook secret from the refused address: status %d, want 429", got)
	}
	for i := range 2 {
		if got := do(http.MethodGet, "/api/v1/stats", "Bearer "+testAdminToken, "192.0.2.1:1000"); got != http.StatusOK {
			t.Errorf("valid token from the refused address, request %d: status %d, want 200", i, got)
		}
	}
	if got := do(http.MethodGet, "/api/v1/stats", "Bearer "+testAdminToken, "192.0.2.2:1000"); got != http.StatusTooManyRequests {
		t.Errorf("valid token past its own budget: status %d, want 429", got)
	}
}

// TestRateLimitUnverifiedRoutes: on routes no credential check sees (the
// dashboard, the OpenAPI document, unknown paths, CORS preflights), an
// invented credential buys no budget: the address's budget applies.
// IPv6 callers count by /64.
func TestRateLimitUnverifiedRoutes(t *testing.T) {
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 10, RateLimit: 0.001, RateBurst: 3,
		AdminToken: testAdminToken, CORSOrigins: []string{"https://ci.example.com"}}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		name, method, path string
		origin             bool
	}{
		{"Dashboard", http.MethodGet, "/", false},
		{"OpenAPI", http.MethodGet, "/api/v1/openapi.yaml", false},
		{"UnknownPath", http.MethodGet, "/nope/" + strconv.Itoa(1), false},
		{"Preflight", http.MethodOptions, "/api/v1/jobs", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 4 {
				req := httptest.NewRequest(tc.method, tc.path, nil)
				req.RemoteAddr = "[2001:db8:1:2::" + strconv.Itoa(i+1) + "]:1000"
				req.Header.Set("Authorization", "Bearer invented-"+strconv.Itoa(i))
				if tc.origin {
					req.Header.Set("Origin", "https://ci.example.com")
					req.Header.Set("Access-Control-Request-Method", "POST")
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if limited := rec.Code == http.StatusTooManyRequests; limited != (i == 3) {
					t.Errorf("request %d: status %d, want 429 only for the fourth", i, rec.Code)
				}
			}
			// The budget is the address's: the next route starts from a new /64.
			s.limits.unverified = newLimiter(0.001, 3)
		})
	}
}

// TestLimiterBoundsBuckets: a flood of new keys neither grows the map past
// maxBuckets nor escapes the limit, and sweeps run at most once a second.
func TestLimiterBoundsBuckets(t *testing.T) {
	l := newLimiter(0.001, 1)
	now := time.Now()
	for i := range maxBuckets + 100 {
		l.allow("k"+strconv.Itoa(i), now)
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets, want at most %d", n, maxBuckets)
	}
	if ok, _ := l.allow("one-more", now); ok {
		t.Error("a new key past the bound got a fresh budget")
	}
}
