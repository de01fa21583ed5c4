package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

type recordedMetrics struct {
	mu       sync.Mutex
	requests []string
	webhooks []string
}

func (m *recordedMetrics) ObserveRequest(method, route string, code int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, method+" "+route+" "+strconv.Itoa(code))
}

func (m *recordedMetrics) WebhookReceived(source, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.webhooks = append(m.webhooks, source+" "+outcome)
}

// TestMetricsLabels: requests are labelled by route pattern, never by raw
// path, and build requests count by outcome.
func TestMetricsLabels(t *testing.T) {
	m := &recordedMetrics{}
	s := New(Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 20, Metrics: m, AdminToken: testAdminToken},
		&fakeStore{}, fakeTokens{}, slog.New(slog.DiscardHandler))
	do := func(method, path, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
	valid := `{"source":{"repository":"https://git.example.com/a.git","commit":"` + strings.Repeat("a", 40) + `"},"image":{"name":"example.com/a"}}`
	do(http.MethodPost, "/api/v1/jobs", valid)
	do(http.MethodPost, "/api/v1/jobs", `{"source":{}}`)
	do(http.MethodGet, "/api/v1/jobs/0190-abc", "")
	do(http.MethodGet, "/no/such/path/42", "")
	do(http.MethodGet, "/healthz", "")

	wantReq := []string{
		"POST /api/v1/jobs 202",
		"POST /api/v1/jobs 422",
		"GET /api/v1/jobs/:id 404",
		"GET unmatched 404",
		"GET /healthz 200",
	}
	if !slices.Equal(m.requests, wantReq) {
		t.Errorf("requests = %q, want %q", m.requests, wantReq)
	}
	if want := []string{"api accepted", "api rejected"}; !slices.Equal(m.webhooks, want) {
		t.Errorf("webhooks = %q, want %q", m.webhooks, want)
	}
}

func TestRequestIDMiddleware(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{}, &fakeStore{}, fakeTokens{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	for _, tc := range []struct {
		sent string
		keep bool
	}{
		{"", false},
		{"abc-123_X.y:z", true},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"é", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-ID", tc.sent)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-ID")
		if got == "" || tc.keep != (got == tc.sent) {
			t.Errorf("sent %q, got %q (keep %v)", tc.sent, got, tc.keep)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("request log lacks request_id %q", got)
		}
	}
}

// TestMetricsToken: with SLIPWAY_METRICS_TOKEN set, /metrics answers its
// holder only; other credentials, even the admin token, get 401.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-0123456789abcdef"
	scraped := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("slipway_up 1\n")) })
	for _, tc := range []struct {
		name, cfgToken, auth string
		code                 int
	}{
		{"Open", "", "", http.StatusOK},
		{"NoCredential", token, "", http.StatusUnauthorized},
		{"WrongToken", token, "Bearer nope", http.StatusUnauthorized},
		{"AdminToken", token, "Bearer " + testAdminToken, http.StatusUnauthorized},
		{"Basic", token, "Basic " + token, http.StatusUnauthorized},
		{"MetricsToken", token, "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{MetricsHandler: scraped, MetricsToken: tc.cfgToken, AdminToken: testAdminToken}, nil, nil, slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
