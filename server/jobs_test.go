package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

const testAdminToken = "test-admin-token-0123456789abcdefghijkl"

// fakeStore is an in-memory JobStore for handler unit tests: it stores
// whatever it is handed, so the tests see what production intake (decoding
// and job.Resolve) makes of a request.
type fakeStore struct {
	created  []job.Submission
	writes   int                     // every write, projects included
	projects map[string]*job.Project // by name
}

func (f *fakeStore) Submit(_ context.Context, sub job.Submission) (job.Submitted, error) {
	f.created = append(f.created, sub)
	f.writes++
	return job.Submitted{Created: true, Job: &job.Job{ID: "01a21fd2-5ce6-72d7-a947-991c1668d84b", State: job.StateQueued,
		CreatedAt: time.Unix(0, 0).UTC(), Spec: sub.Spec, Project: sub.Project}}, nil
}

func (f *fakeStore) FindProject(_ context.Context, names []string, repository string) (*job.Project, error) {
	for _, n := range names {
		if p, ok := f.projects[n]; ok {
			return p, nil
		}
	}
	for _, p := range f.projects {
		if repository != "" && p.Repository == repository {
			return p, nil
		}
	}
	return nil, job.ErrNotFound
}

func (f *fakeStore) Job(_ context.Context, id string) (*job.Job, error) { return nil, job.ErrNotFound }

func (f *fakeStore) Callbacks(context.Context, string) ([]job.CallbackDelivery, error) {
	return nil, nil
}

func (f *fakeStore) Log(_ context.Context, id string, since int) (string, error) {
	return "", job.ErrNotFound
}

func (f *fakeStore) LogLines(context.Context, string, int, int) ([]job.LogLine, error) {
	return nil, job.ErrNotFound
}

func (f *fakeStore) Cancel(context.Context, string) (*job.Job, error) { return nil, job.ErrNotFound }

func (f *fakeStore) Retry(context.Context, string) (*job.Job, error) { return nil, job.ErrNotFound }

func (f *fakeStore) ListJobs(context.Context, job.ListQuery) ([]*job.Job, error) { return nil, nil }

func (f *fakeStore) Stats(context.Context) (*job.Stats, error) { return &job.Stats{}, nil }

func (f *fakeStore) PutProject(_ context.Context, p job.Project) (bool, error) {
	f.writes++
	if f.projects == nil {
		f.projects = map[string]*job.Project{}
	}
	_, existed := f.projects[p.Name]
	f.projects[p.Name] = &p
	return !existed, nil
}

func (f *fakeStore) Project(_ context.Context, name string) (*job.Project, error) {
	if p, ok := f.projects[name]; ok {
		return p, nil
	}
	return nil, job.ErrNotFound
}

func (f *fakeStore) Projects(context.Context) ([]job.Project, error) { return nil, nil }

func (f *fakeStore) DeleteProject(_ context.Context, name string) error {
	f.writes++
	if _, ok := f.projects[name]; !ok {
		return job.ErrNotFound
	}
	delete(f.projects, name)
	return nil
}

func newTestServer(t *testing.T) (*Server, *fakeStore) {
	t.Helper()
	store := &fakeStore{}
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 64 << 10, AdminToken: testAdminToken}
	return New(cfg, store, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil))), store
}

func do(t *testing.T, h http.Handler, method, target, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateJobAccepts(t *testing.T) {
	for _, name := range []string{"native/full.json", "native/minimal.json"} {
		t.Run(name, func(t *testing.T) {
			s, store := newTestServer(t)
			rec := do(t, s, http.MethodPost, "/api/v1/jobs", "application/json; charset=utf-8", readFixture(t, name))
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b" {
				t.Errorf("Location = %q", got)
			}
			if len(store.created) != 1 || !store.created[0].Spec.Push {
				t.Errorf("created %+v, want one job with push defaulting to true", store.created)
			}
		})
	}
}

// TestCreateJobKeepsIntakeFields: POST /api/v1/jobs is intake: the
// callback URL, the project and the server's rules reach the store.
func TestCreateJobKeepsIntakeFields(t *testing.T) {
	store := &fakeStore{projects: map[string]*job.Project{"team/app": {Name: "team/app", Image: "registry.example.com/team/app"}}}
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 64 << 10, AdminToken: testAdminToken,
		Supersede: true, Hooks: HookConfig{Dedupe: true}}
	s := New(cfg, store, fakeTokens{}, slog.New(slog.DiscardHandler))
	body := `{"project": "team/app", "callback_url": "https://ci.example.com/done",
		"source": {"repository": "https://git.example.com/team/app.git", "commit": "` + strings.Repeat("a", 40) + `"}}`
	rec := do(t, s, http.MethodPost, "/api/v1/jobs", "application/json", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body)
	}
	if len(store.created) != 1 {
		t.Fatalf("stored %d submissions, want 1", len(store.created))
	}
	sub := store.created[0]
	if sub.CallbackURL != "https://ci.example.com/done" || sub.Project != "team/app" || sub.Spec.Image.Name != "registry.example.com/team/app" {
		t.Errorf("submission = %+v, want the callback, the project and its image", sub)
	}
	if !sub.Supersede || sub.BuildKey == "" || sub.Source != job.SystemAPI {
		t.Errorf("submission = %+v, want supersede, a build key and the API as source", sub)
	}
	var got job.Job
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Project != "team/app" {
		t.Errorf("answer = %s (%v), want the job with its project", rec.Body, err)
	}
}

// TestBadRequests: every bad request gets a 4xx problem+json whose status
// member matches, and nothing is stored.
func TestBadRequests(t *testing.T) {
	valid := readFixture(t, "native/minimal.json")
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		status      int
	}{
		{"MalformedJSON", "POST", "/api/v1/jobs", "application/json", `{"source": `, 400},
		{"TrailingGarbage", "POST", "/api/v1/jobs", "application/json", valid + `{}`, 400},
		{"Null", "POST", "/api/v1/jobs", "application/json", `null`, 400},
		{"Array", "POST", "/api/v1/jobs", "application/json", `[]`, 400},
		{"Empty", "POST", "/api/v1/jobs", "application/json", ``, 400},
		{"WrongType", "POST", "/api/v1/jobs", "application/json", `{"source": {"repository": 5}}`, 400},
		{"UnknownField", "POST", "/api/v1/jobs", "application/json", `{"sauce": {}}`, 400},
		{"InvalidUTF8", "POST", "/api/v1/jobs", "application/json", "{\"image\": {\"name\": \"\xff\"}}", 400},
		{"NoContentType", "POST", "/api/v1/jobs", "", valid, 415},
		{"FormContentType", "POST", "/api/v1/jobs", "application/x-www-form-urlencoded", valid, 415},
		{"TooLarge", "POST", "/api/v1/jobs", "application/json", `{"x": "` + strings.Repeat("a", 70<<10) + `"}`, 413},
		{"DeepNesting", "POST", "/api/v1/jobs", "application/json", strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001), 400},
		{"Invalid", "POST", "/api/v1/jobs", "application/json", `{"source": {"repository": "ext::sh", "commit": "x"}, "image": {"name": "A"}}`, 422},
		{"UnknownRoute", "GET", "/api/v1/nope", "", "", 404},
		{"WrongMethod", "DELETE", "/api/v1/jobs", "", "", 405},
		{"UnknownJob", "GET", "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b", "", "", 404},
		{"BadLogSince", "GET", "/api/v1/jobs/x/logs?since=-1", "", "", 400},
		{"MalformedQuery", "GET", "/api/v1/jobs/x/logs?%%%garbage", "", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, store := newTestServer(t)
			rec := do(t, s, tt.method, tt.target, tt.contentType, tt.body)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != problemJSON {
				t.Errorf("Content-Type = %q, want %s", ct, problemJSON)
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Title == "" {
				t.Errorf("problem = %s (%v), want status %d and a title", rec.Body, err, rec.Code)
			}
			if len(store.created) != 0 {
				t.Errorf("a bad request stored %d jobs", len(store.created))
			}
		})
	}
}

// FuzzCreateJob: no input makes the intake answer 5xx or store an invalid job.
func FuzzCreateJob(f *testing.F) {
	for _, name := range []string{"native/full.json", "native/minimal.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add(`{"source": {"repository": "--upload-pack=x", "commit": "` + strings.Repeat("a", 40) + `"}, "image": {"name": "x"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		s, store := newTestServer(t)
		rec := do(t, s, http.MethodPost, "/api/v1/jobs", "application/json", body)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		for _, sub := range store.created {
			check := sub.Spec
			if err := check.Normalize(job.Policy{GitSchemes: []string{"https"}}); err != nil {
				t.Fatalf("stored a spec that does not validate: %v", err)
			}
		}
	})
}

// TestLimitsPerEndpoint: webhooks have their own body limit, and live log
// streams beyond the cap get a 429 problem with Retry-After.
func TestLimitsPerEndpoint(t *testing.T) {
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 64 << 10, MaxHookBodyBytes: 100,
		MaxLogFollowers: 1, AdminToken: testAdminToken}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	big := `{"name": "` + strings.Repeat("a", 200) + `"}`
	if rec := do(t, s, http.MethodPost, "/api/v1/hooks/jenkins", "application/json", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("hook body over its limit: %d, want 413: %s", rec.Code, rec.Body)
	}
	if rec := do(t, s, http.MethodPost, "/api/v1/jobs", "application/json", big); rec.Code == http.StatusRequestEntityTooLarge {
		t.Errorf("the hook limit applied to /api/v1/jobs: %s", rec.Body)
	}

	s.followers <- struct{}{} // the one slot is taken
	rec := do(t, s, http.MethodGet, "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b/logs?follow=true", "", "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != problemJSON {
		t.Errorf("follower over the cap: %d %q %q, want a 429 problem with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	<-s.followers
	if rec := do(t, s, http.MethodGet, "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b/logs?follow=true", "", ""); rec.Code == http.StatusTooManyRequests {
		t.Errorf("a free slot still got 429")
	}
}

// TestLogFollowersPerCaller: one credential cannot take every live log slot.
func TestLogFollowersPerCaller(t *testing.T) {
	cfg := Config{MaxLogFollowers: 10, MaxLogFollowersPerCaller: 2, AdminToken: testAdminToken, PublicReads: true}
	s := New(cfg, &fakeStore{}, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const logs = "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b/logs?follow=true"
	admin := httptest.NewRequest(http.MethodGet, logs, nil)
	admin.Header.Set("Authorization", "Bearer "+testAdminToken)
	for range 2 { // two streams of the admin token are open
		if _, ok := s.callerFollows.take(followerKey(admin)); !ok {
			t.Fatal("slot refused within the cap")
		}
	}
	if rec := do(t, s, http.MethodGet, logs, "", ""); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("third stream of one token: %d, want 429 with Retry-After: %s", rec.Code, rec.Body)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, logs, nil))
	if rec.Code == http.StatusTooManyRequests {
		t.Errorf("another caller's stream got 429: %s", rec.Body)
	}
}

// unavailableStore is a database that cannot be reached.
type unavailableStore struct{ fakeStore }

func (unavailableStore) Job(context.Context, string) (*job.Job, error) {
	return nil, fmt.Errorf("read job: %w", job.ErrUnavailable)
}

func (unavailableStore) ListJobs(context.Context, job.ListQuery) ([]*job.Job, error) {
	return nil, fmt.Errorf("list jobs: %w", job.ErrUnavailable)
}

func (unavailableStore) Submit(context.Context, job.Submission) (job.Submitted, error) {
	return job.Submitted{}, fmt.Errorf("submit: %w", job.ErrUnavailable)
}

// TestDatabaseUnavailableAnswers503: an unreachable database is a 503
// problem with Retry-After, which a client can tell from a bug.
func TestDatabaseUnavailableAnswers503(t *testing.T) {
	s := New(Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 64 << 10, AdminToken: testAdminToken},
		&unavailableStore{}, fakeTokens{}, slog.New(slog.DiscardHandler))
	body := `{"source": {"repository": "https://git.example.com/a.git", "commit": "` + strings.Repeat("a", 40) + `"}, "image": {"name": "registry.example.com/a"}}`
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b", ""},
		{http.MethodGet, "/api/v1/jobs", ""},
		{http.MethodPost, "/api/v1/jobs", body},
	} {
		rec := do(t, s, tc.method, tc.path, "application/json", tc.body)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != problemJSON {
			t.Errorf("%s %s: %d Retry-After %q %s, want a 503 problem with Retry-After", tc.method, tc.path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
}
