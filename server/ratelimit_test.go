package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/slipwayci/slipway/job"
)

func TestRateLimit(t *testing.T) {
	// One token per 1000 s: nothing refills while the test runs. The limit
	// comes before authentication, so a bogus credential counts too.
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

// Invented tokens each have a fresh credential budget; their refusals count
// against the address they come from.
func TestRateLimitRefusedCredentials(t *testing.T) {
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 10, RateLimit: 0.001, RateBurst: 2,
		AdminToken: testAdminToken}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(auth, addr string) int {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/api/v1/stats", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusTooManyRequests} {
		if got := get("Bearer invented-"+strconv.Itoa(i), "192.0.2.1:1000"); got != want {
			t.Errorf("invented token %d: status %d, want %d", i, got, want)
		}
	}
	if got := get("Bearer "+testAdminToken, "192.0.2.1:1000"); got != http.StatusTooManyRequests {
		t.Errorf("valid token from the refused address: status %d, want 429", got)
	}
	for i := range 2 {
		if got := get("Bearer "+testAdminToken, "192.0.2.2:1000"); got == http.StatusTooManyRequests {
			t.Errorf("valid token from another address, request %d: status 429", i)
		}
	}
}
