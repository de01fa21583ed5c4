package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/apitest"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/server"
)

const testAdminToken = "test-admin-token-0123456789abcdefghijklmnop"

// apiEnv is the API on a real Postgres database, with a client whose every
// answer is validated against openapi.yaml.
type apiEnv struct {
	store  *db.DB
	url    string
	client *http.Client
	logs   *bytes.Buffer
	mu     *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newAPIEnv(t *testing.T, cfg server.Config) *apiEnv {
	t.Helper()
	return newAPIEnvOn(t, testenv.Postgres(t), cfg, nil)
}

// newAPIEnvOn is newAPIEnv on the database at dbURL, with opts from the
// opened store.
func newAPIEnvOn(t *testing.T, dbURL string, cfg server.Config, opts func(*db.DB) []server.Option) *apiEnv {
	t.Helper()
	ctx := context.Background()
	var (
		buf bytes.Buffer
		mu  sync.Mutex
	)
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := db.Open(ctx, dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdminToken
	}
	if cfg.LogPollInterval == 0 {
		cfg.LogPollInterval = 20 * time.Millisecond
	}
	cfg.Policy = job.Policy{GitSchemes: []string{"https", "file"}}
	cfg.MaxBodyBytes = 1 << 20
	var o []server.Option
	if opts != nil {
		o = opts(store)
	}
	ts := httptest.NewServer(server.New(cfg, store, store, log, o...))
	t.Cleanup(ts.Close)
	v := apitest.NewValidator(t)
	t.Cleanup(func() { t.Logf("%d answers validated against openapi.yaml", v.Checked()) })
	return &apiEnv{store: store, url: ts.URL, client: v.Client(t), logs: &buf, mu: &mu}
}

func (e *apiEnv) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// do sends a request with token (none when empty) and returns the answer
// with its body read.
func (e *apiEnv) do(t *testing.T, method, path, token string, body any, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *apiEnv) token(t *testing.T, scope job.Scope) (string, *job.Token) {
	t.Helper()
	secret := job.NewTokenSecret()
	tok, err := e.store.CreateToken(context.Background(), "test "+string(scope), scope, job.HashToken(secret), secret[:8])
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

var hexDigits = "0123456789abcdef"

func sha(seed int) string {
	var b strings.Builder
	for i := range 40 {
		b.WriteByte(hexDigits[(seed*7+i*3+seed*i)%16])
	}
	return b.String()
}

func (e *apiEnv) createJob(t *testing.T, repo, commit, image, system string) *job.Job {
	t.Helper()
	return e.createProjectJob(t, repo, commit, image, system, "")
}

// createProjectJob stores a job as intake does when project supplied defaults.
func (e *apiEnv) createProjectJob(t *testing.T, repo, commit, image, system, project string) *job.Job {
	t.Helper()
	res, err := e.store.Submit(context.Background(), job.Submission{Source: system, Project: project, Spec: job.Spec{
		Source:  job.Source{Repository: repo, Commit: commit},
		Build:   job.Build{Context: ".", Dockerfile: "Dockerfile"},
		Image:   job.Image{Name: image, Tags: []string{"latest"}},
		Push:    true,
		Trigger: job.Trigger{System: system},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

type listPage struct {
	Jobs []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"jobs"`
	Next *string `json:"next"`
}

func (e *apiEnv) list(t *testing.T, path string) listPage {
	t.Helper()
	resp, body := e.do(t, http.MethodGet, path, testAdminToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var p listPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func ids(p listPage) []string {
	out := make([]string, len(p.Jobs))
	for i, j := range p.Jobs {
		out[i] = j.ID
	}
	return out
}

func TestListFilters(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	ctx := context.Background()
	a := e.createJob(t, "https://git.example.com/a.git", sha(1), "registry.example.com/a", job.SystemJenkins)
	b := e.createProjectJob(t, "https://git.example.com/b.git", sha(2), "registry.example.com/b", job.SystemBamboo, "PROJ-B")
	c := e.createJob(t, "https://git.example.com/a.git", sha(3), "registry.example.com/a", job.SystemAPI)
	// b runs, c fails: claim takes the oldest first.
	claimed, err := e.store.Claim(ctx, "w1", time.Minute, 0)
	if err != nil || claimed.ID != a.ID {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if _, err := e.store.Fail(ctx, a.ID, "w1", job.Error{Code: "build_failed", Message: "x"}, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Claim(ctx, "w1", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	d := e.createJob(t, "https://git.example.com/c.git", sha(1), "registry.example.com/c", job.SystemJenkins)

	cases := []struct {
		name  string
		query string
		want  []string
	}{
		{"all newest first", "", []string{d.ID, c.ID, b.ID, a.ID}},
		{"state", "state=queued", []string{d.ID, c.ID}},
		{"states repeat", "state=failed&state=running", []string{b.ID, a.ID}},
		{"source", "source=jenkins", []string{d.ID, a.ID}},
		{"repository", "repository=" + url.QueryEscape("https://git.example.com/a.git"), []string{c.ID, a.ID}},
		{"full commit", "commit=" + sha(1), []string{d.ID, a.ID}},
		{"commit prefix", "commit=" + sha(2)[:7], []string{b.ID}},
		{"commit prefix upper case", "commit=" + strings.ToUpper(sha(3)[:10]), []string{c.ID}},
		{"image", "image=" + url.QueryEscape("registry.example.com/a"), []string{c.ID, a.ID}},
		{"created_after", "created_after=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), []string{d.ID}},
		{"created_before", "created_before=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), []string{c.ID, b.ID, a.ID}},
		{"combined", "source=jenkins&state=queued", []string{d.ID}},
		{"project", "project=PROJ-B", []string{b.ID}},
		{"project matches nothing", "project=none", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(e.list(t, "/api/v1/jobs?"+tc.query))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestListRejectsBadQueries(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	for _, q := range []string{
		"nope=1", "limit=0", "limit=201", "limit=x", "limit=1&limit=2", "state=done", "source=github",
		"commit=abc", "commit=zzzzzzzzz", "created_after=yesterday", "cursor=%%%", "cursor=bm90IGEgY3Vyc29y",
		"access_token=" + testAdminToken, "%zz",
	} {
		resp, body := e.do(t, http.MethodGet, "/api/v1/jobs?"+q, testAdminToken, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("?%s: %d %s, want a 400 problem", q, resp.StatusCode, body)
		}
	}
}

// TestListPagination pages through jobs while others are inserted: every job
// that existed at the start is seen exactly once.
func TestListPagination(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	var want []string
	for i := range 45 {
		want = append(want, e.createJob(t, "https://git.example.com/p.git", sha(i), "registry.example.com/p", job.SystemAPI).ID)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.createJob(t, "https://git.example.com/p.git", sha(100+i), "registry.example.com/p", job.SystemAPI)
		}
	})
	seen := map[string]int{}
	var order []string
	path := "/api/v1/jobs?limit=7&repository=" + url.QueryEscape("https://git.example.com/p.git")
	pages := 0
	for path != "" {
		p := e.list(t, path)
		pages++
		for _, j := range p.Jobs {
			seen[j.ID]++
			order = append(order, j.ID)
		}
		path = ""
		if p.Next != nil {
			path = *p.Next
		}
	}
	close(stop)
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("job %s listed %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("job %s never listed", id)
		}
	}
	// Newest first: ids are UUIDv7, so their order is creation order.
	if !slices.IsSortedFunc(order, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("pages are not newest first")
	}
	t.Logf("%d pages, %d jobs listed, %d existed at the start", pages, len(order), len(want))
}

// TestConditionalRequests measures how many polls of an unchanged list and
// job are answered 304, and that a change gets a fresh 200.
func TestConditionalRequests(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	j := e.createJob(t, "https://git.example.com/e.git", sha(5), "registry.example.com/e", job.SystemAPI)
	for _, path := range []string{"/api/v1/jobs?state=queued", "/api/v1/jobs/" + j.ID} {
		resp, _ := e.do(t, http.MethodGet, path, testAdminToken, nil, nil)
		tag := resp.Header.Get("ETag")
		if tag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag %q, Cache-Control %q", path, tag, resp.Header.Get("Cache-Control"))
		}
		notModified := 0
		const polls = 100
		for range polls {
			resp, body := e.do(t, http.MethodGet, path, testAdminToken, nil, map[string]string{"If-None-Match": tag})
			if resp.StatusCode == http.StatusNotModified && len(body) == 0 && resp.Header.Get("ETag") == tag {
				notModified++
			}
		}
		if notModified != polls {
			t.Errorf("%s: %d of %d polls of an unchanged resource got 304", path, notModified, polls)
		}
		t.Logf("%s: %d/%d polls of the unchanged resource answered 304", path, notModified, polls)
	}
	tag := func(path string) string {
		resp, _ := e.do(t, http.MethodGet, path, testAdminToken, nil, nil)
		return resp.Header.Get("ETag")
	}
	before, beforeJob := tag("/api/v1/jobs?state=queued"), tag("/api/v1/jobs/"+j.ID)
	if _, err := e.store.Claim(context.Background(), "w", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	resp, _ := e.do(t, http.MethodGet, "/api/v1/jobs?state=queued", testAdminToken, nil, map[string]string{"If-None-Match": before})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == before {
		t.Errorf("list after a change: %d with ETag %s, want 200 with a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	resp, _ = e.do(t, http.MethodGet, "/api/v1/jobs/"+j.ID, testAdminToken, nil, map[string]string{"If-None-Match": `W/` + beforeJob + `, "other"`})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("job after a change: %d, want 200", resp.StatusCode)
	}
}

type sseEvent struct{ id, event, data string }

// readEvents reads SSE events until an end event or n events.
func readEvents(t *testing.T, r io.Reader, events chan<- sseEvent) {
	t.Helper()
	sc := bufio.NewScanner(r)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
	close(events)
}

func (e *apiEnv) follow(t *testing.T, path string, header map[string]string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go readEvents(t, resp.Body, ch)
	return ch
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// TestFollowLog streams a log while lines arrive, as a worker in another
// process would write them, then resumes from Last-Event-ID.
func TestFollowLog(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	ctx := context.Background()
	j := e.createJob(t, "https://git.example.com/l.git", sha(9), "registry.example.com/l", job.SystemAPI)
	if _, err := e.store.Claim(ctx, "w", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AppendLog(ctx, j.ID, []string{"one", "two"}); err != nil {
		t.Fatal(err)
	}
	events := e.follow(t, "/api/v1/jobs/"+j.ID+"/logs?follow=true", nil)
	for i, want := range []string{"one", "two"} {
		if ev := next(t, events); ev.id != fmt.Sprint(i+1) || ev.data != want {
			t.Fatalf("event %d = %+v, want id %d data %q", i, ev, i+1, want)
		}
	}
	if err := e.store.AppendLog(ctx, j.ID, []string{"three", "carriage\rreturn"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.id != "3" || ev.data != "three" {
		t.Fatalf("live event = %+v", ev)
	}
	if ev := next(t, events); ev.id != "4" || ev.data != "carriage\nreturn" {
		t.Fatalf("event with CR = %+v", ev)
	}
	if err := e.store.AppendLog(ctx, j.ID, []string{"==> succeeded"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Succeed(ctx, j.ID, "w", job.Result{Digest: "sha256:" + strings.Repeat("a", 64), Images: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.id != "5" {
		t.Fatalf("event = %+v, want line 5", ev)
	}
	if ev := next(t, events); ev.event != "end" || ev.data != `{"lines":5,"state":"succeeded"}` {
		t.Fatalf("end event = %+v", ev)
	}

	resumed := e.follow(t, "/api/v1/jobs/"+j.ID+"/logs?follow=true&since=1", map[string]string{"Last-Event-ID": "3"})
	if ev := next(t, resumed); ev.id != "4" {
		t.Errorf("resumed at %+v, want line 4", ev)
	}
	next(t, resumed)
	if ev := next(t, resumed); ev.event != "end" {
		t.Errorf("resumed stream ended with %+v", ev)
	}

	resp, body := e.do(t, http.MethodGet, "/api/v1/jobs/"+j.ID+"/logs?since=3", testAdminToken, nil, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "carriage\rreturn\n==> succeeded\n" {
		t.Errorf("plain log since 3 = %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{"?follow=maybe", "?since=-1", "?tail=1"} {
		if resp, _ := e.do(t, http.MethodGet, "/api/v1/jobs/"+j.ID+"/logs"+bad, testAdminToken, nil, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/v1/jobs/"+j.ID+"/logs?follow=true", testAdminToken, nil, map[string]string{"Last-Event-ID": "x"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad Last-Event-ID: %d, want 400", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/v1/jobs/00000000-0000-0000-0000-000000000000/logs?follow=true", testAdminToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing job: %d, want 404", resp.StatusCode)
	}
}

// TestTokenMatrix tries every endpoint with no, a bad, a revoked, a read and
// an admin token.
func TestTokenMatrix(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	j := e.createJob(t, "https://git.example.com/m.git", sha(4), "registry.example.com/m", job.SystemAPI)
	read, _ := e.token(t, job.ScopeRead)
	admin, _ := e.token(t, job.ScopeAdmin)
	revoked, rt := e.token(t, job.ScopeAdmin)
	if _, err := e.store.RevokeToken(context.Background(), rt.ID); err != nil {
		t.Fatal(err)
	}
	_, victim := e.token(t, job.ScopeRead)
	repo, commit := "https://git.example.com/m.git", sha(4)
	newJob := map[string]any{"source": map[string]any{"repository": repo, "commit": commit}, "image": map[string]any{"name": "registry.example.com/m"}}

	type endpoint struct {
		method, path string
		body         any
		admin        bool // needs scope admin
		ok           int
	}
	endpoints := []endpoint{
		{http.MethodGet, "/api/v1/jobs", nil, false, 200},
		{http.MethodGet, "/api/v1/jobs/" + j.ID, nil, false, 200},
		{http.MethodGet, "/api/v1/jobs/" + j.ID + "/logs", nil, false, 200},
		{http.MethodGet, "/api/v1/stats", nil, false, 200},
		{http.MethodGet, "/api/v1/whoami", nil, false, 200},
		{http.MethodPost, "/api/v1/jobs", newJob, true, 202},
		{http.MethodGet, "/api/v1/tokens", nil, true, 200},
		{http.MethodDelete, "/api/v1/tokens/" + victim.ID, nil, true, 200},
	}
	creds := []struct {
		name, token string
		admin, read bool
	}{
		{"none", "", false, false},
		{"bad", "slw_not-a-token", false, false},
		{"revoked", revoked, false, false},
		{"read", read, false, true},
		{"admin", admin, true, true},
		{"bootstrap", testAdminToken, true, true},
	}
	for _, ep := range endpoints {
		for _, cr := range creds {
			t.Run(cr.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				resp, body := e.do(t, ep.method, ep.path, cr.token, ep.body, nil)
				want, challenge := ep.ok, ""
				switch {
				case !cr.read:
					want, challenge = 401, `Bearer realm="slipway"`
					if cr.token != "" {
						challenge += `, error="invalid_token"`
					}
				case ep.admin && !cr.admin:
					want, challenge = 403, `Bearer realm="slipway", error="insufficient_scope", scope="admin"`
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
				}
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, challenge) || (challenge == "") != (got == "") {
					t.Errorf("WWW-Authenticate = %q, want prefix %q", got, challenge)
				}
			})
		}
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/v1/openapi.yaml", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("openapi.yaml without a token: %d, want 200", resp.StatusCode)
	}
	resp, body := e.do(t, http.MethodGet, "/api/v1/tokens", admin, nil, nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), read) || strings.Contains(string(body), admin) {
		t.Errorf("token list leaks a secret or failed: %d %s", resp.StatusCode, body)
	}
	for _, secret := range []string{read, admin, revoked, testAdminToken} {
		if strings.Contains(e.logText(), secret) {
			t.Errorf("a token appears in the log")
		}
	}
}

func TestPublicReads(t *testing.T) {
	e := newAPIEnv(t, server.Config{PublicReads: true})
	if resp, body := e.do(t, http.MethodGet, "/api/v1/jobs", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("public list: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/v1/jobs", "bogus", nil, nil); resp.StatusCode != 401 {
		t.Errorf("public list with a bad token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/v1/tokens", "", nil, nil); resp.StatusCode != 401 {
		t.Errorf("token list without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodPost, "/api/v1/jobs", "", map[string]any{}, nil); resp.StatusCode != 401 {
		t.Errorf("create without a token: %d, want 401", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	e := newAPIEnv(t, server.Config{CORSOrigins: []string{"https://ci.example.com"}})
	cases := []struct {
		origin, method string
		allowed        bool
	}{
		{"https://ci.example.com", http.MethodGet, true},
		{"https://ci.example.com", http.MethodOptions, true},
		{"https://evil.example.com", http.MethodGet, false},
		{"https://sub.ci.example.com", http.MethodOptions, false},
		{"http://ci.example.com", http.MethodGet, false},
	}
	for _, tc := range cases {
		h := map[string]string{"Origin": tc.origin}
		if tc.method == http.MethodOptions {
			h["Access-Control-Request-Method"] = "GET"
			h["Access-Control-Request-Headers"] = "authorization"
		}
		req, _ := http.NewRequest(tc.method, e.url+"/api/v1/jobs", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if tc.allowed && got != tc.origin || !tc.allowed && got != "" {
			t.Errorf("%s from %s: Access-Control-Allow-Origin %q", tc.method, tc.origin, got)
		}
		if !slices.Contains(resp.Header.Values("Vary"), "Origin") {
			t.Errorf("%s from %s: Vary %q lacks Origin", tc.method, tc.origin, resp.Header.Values("Vary"))
		}
	}
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/v1/nope", 404},
		{http.MethodGet, "/nope", 404},
		{http.MethodPut, "/api/v1/jobs", 405},
		{http.MethodGet, "/ui/missing.js", 404},
	} {
		resp, body := e.do(t, c.method, c.path, testAdminToken, nil, nil)
		if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, body := e.do(t, http.MethodGet, "/", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>Slipway</title>") {
		t.Errorf("dashboard: %d", resp.StatusCode)
	}
}

func TestStats(t *testing.T) {
	e := newAPIEnv(t, server.Config{})
	ctx := context.Background()
	for i := range 3 {
		e.createJob(t, "https://git.example.com/s.git", sha(i), "registry.example.com/s", job.SystemAPI)
	}
	if _, err := e.store.Claim(ctx, "worker-1", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, http.MethodGet, "/api/v1/stats", testAdminToken, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("stats: %d %s", resp.StatusCode, body)
	}
	var st job.Stats
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.States[job.StateQueued] != 2 || st.States[job.StateRunning] != 1 || st.QueueDepth != 2 ||
		st.RunningByOwner["worker-1"] != 1 || st.OldestQueued == nil || st.States[job.StateCanceled] != 0 {
		t.Errorf("stats = %s", body)
	}
}
