package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/webhooksig"
)

const (
	nativeSecret  = "native-secret-0123456789"
	jenkinsSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	bambooSecret  = "bamboo-secret-abcdefghij"
	rotatedSecret = "previous-secret-still-valid"
	testCommit    = "c6d86dc7c9a7cbd1ad7ad3bef0b17e4c1b3fe4a9"
)

// hookEnv configures every hook secret, with a second one as in a rotation,
// and no workers: these tests look at intake, not at builds.
func hookEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"SLIPWAY_WORKERS":             "0",
		"SLIPWAY_GIT_PROTOCOLS":       "https,file",
		"SLIPWAY_HOOK_SECRET":         nativeSecret + " " + rotatedSecret,
		"SLIPWAY_HOOK_SECRET_JENKINS": jenkinsSecret + " " + rotatedSecret,
		"SLIPWAY_HOOK_SECRET_BAMBOO":  bambooSecret + " " + rotatedSecret,
		// Callback receivers here listen on loopback, which egress refuses by default.
		"SLIPWAY_ALLOWED_NETWORKS": "127.0.0.1/32",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func stdSigned(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := webhooksig.Key(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", webhooksig.Sign(key, id, ts, body))
	return h
}

func nativeBody(repo, image string, extra map[string]any) []byte {
	m := map[string]any{
		"source": map[string]any{"repository": repo, "commit": testCommit},
		"image":  map[string]any{"name": image},
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("server", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHookAuthMatrix: per endpoint, every kind of credential, right and
// wrong, on real Postgres; a refused request creates nothing.
func TestHookAuthMatrix(t *testing.T) {
	slip := e2e.Start(t, hookEnv(nil))
	endpoints := []struct {
		path, secret string
	}{
		{"/api/v1/jobs", nativeSecret},
		{"/api/v1/hooks/jenkins", jenkinsSecret},
		{"/api/v1/hooks/bamboo", bambooSecret},
	}
	now := time.Now()
	n := 0
	for _, ep := range endpoints {
		cases := []struct {
			name   string
			header func(body []byte) http.Header
			query  string
			tamper bool
			want   int
		}{
			{"none", func([]byte) http.Header { return nil }, "", false, 401},
			{"bearer wrong", func([]byte) http.Header { return e2e.Bearer("wrong") }, "", false, 401},
			{"bearer other endpoint's", func([]byte) http.Header { return e2e.Bearer(otherSecret(ep.secret)) }, "", false, 401},
			{"bearer right", func([]byte) http.Header { return e2e.Bearer(ep.secret) }, "", false, 202},
			{"bearer rotated", func([]byte) http.Header { return e2e.Bearer(rotatedSecret) }, "", false, 202},
			{"hub right", func(b []byte) http.Header {
				return http.Header{"X-Hub-Signature-256": {webhooksig.HubSign([]byte(ep.secret), b)}}
			}, "", false, 202},
			{"hub tampered", func(b []byte) http.Header {
				return http.Header{"X-Hub-Signature-256": {webhooksig.HubSign([]byte(ep.secret), b)}}
			}, "", true, 401},
			{"standard right", func(b []byte) http.Header { return stdSigned(t, ep.secret, fmt.Sprintf("msg-%d", n), now, b) }, "", false, 202},
			{"standard rotated", func(b []byte) http.Header { return stdSigned(t, rotatedSecret, fmt.Sprintf("msg-%d", n), now, b) }, "", false, 202},
			{"standard stale", func(b []byte) http.Header {
				return stdSigned(t, ep.secret, fmt.Sprintf("msg-%d", n), now.Add(-10*time.Minute), b)
			}, "", false, 401},
			{"standard tampered", func(b []byte) http.Header { return stdSigned(t, ep.secret, fmt.Sprintf("msg-%d", n), now, b) }, "", true, 401},
			{"query secret", func([]byte) http.Header { return nil }, "?token=" + ep.secret, false, 401},
		}
		for _, tc := range cases {
			t.Run(strings.TrimPrefix(ep.path, "/api/v1/")+"/"+tc.name, func(t *testing.T) {
				n++
				// A distinct image per case keeps deduplication out of the way.
				body := nativeBody("https://git.example.com/app.git", fmt.Sprintf("registry.example.com/auth/app%d", n), nil)
				h := tc.header(body)
				if tc.tamper {
					body = bytes.Replace(body, []byte("auth/app"), []byte("auth/APP"), 1)
				}
				before := slip.CountJobs(t)
				a := slip.Do(t, http.MethodPost, ep.path+tc.query, body, h)
				if a.Status != tc.want {
					t.Fatalf("status = %d, want %d: %s", a.Status, tc.want, a.Body)
				}
				after := slip.CountJobs(t)
				switch {
				case tc.want == 401 && after != before:
					t.Errorf("a refused request created %d jobs", after-before)
				case tc.want == 401 && a.Header.Get("Content-Type") != "application/problem+json":
					t.Errorf("401 Content-Type = %q", a.Header.Get("Content-Type"))
				case tc.want == 202 && after != before+1:
					t.Errorf("an accepted request created %d jobs, want 1", after-before)
				}
			})
		}
	}
}

func otherSecret(s string) string {
	if s == nativeSecret {
		return bambooSecret
	}
	return nativeSecret
}

// TestIdempotency: a delivery makes one job however often and however
// concurrently it arrives; its id reused for another request is refused.
func TestIdempotency(t *testing.T) {
	// Deduplication off: the delivery id alone must hold the line.
	slip := e2e.Start(t, hookEnv(map[string]string{"SLIPWAY_DEDUPE": "false"}))
	body := nativeBody("https://git.example.com/app.git", "registry.example.com/idem/app", nil)
	h := e2e.Bearer(nativeSecret)
	h.Set("Idempotency-Key", "jenkins-app-42")

	const copies = 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ids      = map[string]int{}
		statuses = map[int]int{}
	)
	start := time.Now()
	for range copies {
		wg.Go(func() {
			a := slip.Do(t, http.MethodPost, "/api/v1/jobs", body, h)
			mu.Lock()
			defer mu.Unlock()
			statuses[a.Status]++
			if a.Status < 300 {
				ids[a.JobID(t)]++
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent copies answered in %s", copies, time.Since(start))
	if statuses[202] != 1 || statuses[200] != copies-1 || len(ids) != 1 {
		t.Fatalf("statuses %v, job ids %v: want one 202, %d 200 and one job", statuses, ids, copies-1)
	}
	if n := slip.CountJobs(t); n != 1 {
		t.Fatalf("%d jobs after %d copies of one delivery, want 1", n, copies)
	}

	other := nativeBody("https://git.example.com/app.git", "registry.example.com/idem/other", nil)
	if a := slip.Do(t, http.MethodPost, "/api/v1/jobs", other, h); a.Status != 422 {
		t.Errorf("same key, other body: %d %s, want 422", a.Status, a.Body)
	}

	// Jenkins sends COMPLETED and then FINALIZED for one build: one job.
	jh := e2e.Bearer(jenkinsSecret)
	first := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/notification-completed.json"), jh)
	second := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/notification-finalized.json"), jh)
	if first.Status != 202 || second.Status != 200 || first.JobID(t) != second.JobID(t) {
		t.Errorf("COMPLETED %d %s, FINALIZED %d %s: want 202 then 200 with one job", first.Status, first.Body, second.Status, second.Body)
	}
	started := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/notification-started.json"), jh)
	if started.Status != 202 || !bytes.Contains(started.Body, []byte(`"ignored"`)) {
		t.Errorf("STARTED: %d %s, want 202 ignored", started.Status, started.Body)
	}
	if n := slip.CountJobs(t); n != 2 {
		t.Errorf("%d jobs, want 2", n)
	}
}

// TestDedupe: a Jenkins job and a Bamboo plan asking for the same build while
// it is queued share it, unless deduplication is off.
func TestDedupe(t *testing.T) {
	for _, dedupe := range []bool{true, false} {
		t.Run(fmt.Sprintf("dedupe=%v", dedupe), func(t *testing.T) {
			slip := e2e.Start(t, hookEnv(map[string]string{"SLIPWAY_DEDUPE": strconv.FormatBool(dedupe)}))
			j := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/native.json"), e2e.Bearer(jenkinsSecret))
			body := readFixture(t, "bamboo/native.json")
			body = bytes.Replace(body, []byte(`"name": "registry.example.com/team/app"`), []byte(`"name": "registry.example.com/team/app", "tags": ["18"]`), 1)
			b := slip.Do(t, http.MethodPost, "/api/v1/hooks/bamboo", body, e2e.Bearer(bambooSecret))
			if j.Status != 202 {
				t.Fatalf("jenkins: %d %s", j.Status, j.Body)
			}
			wantStatus, wantJobs := 200, 1
			if !dedupe {
				wantStatus, wantJobs = 202, 2
			}
			if b.Status != wantStatus || (dedupe != (j.JobID(t) == b.JobID(t))) {
				t.Errorf("bamboo: %d %s; want %d, shared job %v", b.Status, b.Body, wantStatus, dedupe)
			}
			if n := slip.CountJobs(t); n != wantJobs {
				t.Errorf("%d jobs, want %d", n, wantJobs)
			}
		})
	}
}

// TestProjects: deliveries without image settings take them from a project,
// from the API or the YAML file; a delivery that maps to nothing gets a 422
// naming what is missing.
func TestProjects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "projects.yaml")
	yaml := `projects:
  - name: PROJ-APP
    repository: https://git.example.com/team/app.git
    image: registry.example.com/team/app
    tags: ["{{.ShortCommit}}", "{{.Branch}}-{{.BuildNumber}}"]
    dockerfile: build/Dockerfile
    labels: {team: core}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	slip := e2e.Start(t, hookEnv(map[string]string{"SLIPWAY_PROJECTS_FILE": file}))

	if list := slip.Get(t, "/api/v1/projects").Want(t, http.StatusOK).String(); !strings.Contains(list, `"PROJ-APP"`) {
		t.Fatalf("projects file not loaded: %s", list)
	}

	// Bamboo's custom template: repository and commit from the payload, the rest from the project.
	a := slip.Do(t, http.MethodPost, "/api/v1/hooks/bamboo", readFixture(t, "bamboo/build-custom-template.json"), e2e.Bearer(bambooSecret))
	if a.Status != 202 {
		t.Fatalf("bamboo: %d %s", a.Status, a.Body)
	}
	j := slip.Job(t, a.JobID(t))
	if j.Image.Name != "registry.example.com/team/app" || strings.Join(j.Image.Tags, ",") != testCommit[:12]+",main-42" || j.Build.Dockerfile != "build/Dockerfile" {
		t.Errorf("image %+v dockerfile %q: project settings not applied", j.Image, j.Build.Dockerfile)
	}
	if j.Trigger.System != "bamboo" || j.Trigger.Job != "PROJ-APP" || j.Trigger.BuildNumber != "42" || j.Trigger.URL != "https://bamboo.example.com/browse/PROJ-APP-42" {
		t.Errorf("trigger = %+v", j.Trigger)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source":   "https://git.example.com/team/app.git",
		"org.opencontainers.image.revision": testCommit,
		"io.slipway.ci.build-url":           "https://bamboo.example.com/browse/PROJ-APP-42",
		"team":                              "core",
	} {
		if got := j.Build.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, j.Build.Labels["org.opencontainers.image.created"]); err != nil {
		t.Errorf("created label: %v", err)
	}

	// The stock template carries no commit: 422 says so and how to fix it.
	a = slip.Do(t, http.MethodPost, "/api/v1/hooks/bamboo", readFixture(t, "bamboo/build-default-template.json"), e2e.Bearer(bambooSecret))
	if a.Status != 422 || !bytes.Contains(a.Body, []byte("${bamboo.planRepository.revision}")) || !bytes.Contains(a.Body, []byte("custom webhook template")) {
		t.Errorf("stock template: %d %s, want 422 naming the custom template's variables", a.Status, a.Body)
	}

	// A Jenkins job without parameters or project: the image is missing.
	unmapped := bytes.ReplaceAll(readFixture(t, "jenkins/notification-no-parameters.json"), []byte("team/app.git"), []byte("team/other.git"))
	a = slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", unmapped, e2e.Bearer(jenkinsSecret))
	if a.Status != 422 || !bytes.Contains(a.Body, []byte(`"image.name"`)) || !bytes.Contains(a.Body, []byte("team/app")) {
		t.Errorf("unmapped Jenkins job: %d %s, want 422 naming image.name and the job", a.Status, a.Body)
	}

	// Project CRUD; a Jenkins folder job's name travels escaped.
	proj := []byte(`{"image": "registry.example.com/team/app2", "tags": ["{{.BuildNumber}}"]}`)
	path := "/api/v1/projects/team%2Fapp"
	if a := slip.Do(t, http.MethodPut, path, proj, nil); a.Status != 401 {
		t.Errorf("PUT without credential: %d, want 401", a.Status)
	}
	if a := slip.Do(t, http.MethodPut, path, proj, e2e.Bearer(nativeSecret)); a.Status != 201 {
		t.Fatalf("PUT project: %d %s", a.Status, a.Body)
	}
	if a := slip.Do(t, http.MethodPut, path, proj, e2e.Bearer(nativeSecret)); a.Status != 200 {
		t.Errorf("PUT again: %d %s, want 200", a.Status, a.Body)
	}
	if a := slip.Do(t, http.MethodPut, "/api/v1/projects/bad", []byte(`{"image": "Not Valid", "tags": ["{{.Nope"]}`), e2e.Bearer(nativeSecret)); a.Status != 422 {
		t.Errorf("PUT invalid project: %d %s, want 422", a.Status, a.Body)
	}
	a = slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", unmapped, e2e.Bearer(jenkinsSecret))
	if a.Status != 202 {
		t.Fatalf("mapped Jenkins job: %d %s", a.Status, a.Body)
	}
	if j := slip.Job(t, a.JobID(t)); j.Image.Name != "registry.example.com/team/app2" || strings.Join(j.Image.Tags, ",") != "18" {
		t.Errorf("image = %+v, want team/app2:18", j.Image)
	}
	if a := slip.Do(t, http.MethodDelete, path, nil, e2e.Bearer(nativeSecret)); a.Status != 204 {
		t.Errorf("DELETE: %d %s", a.Status, a.Body)
	}
	if a := slip.Get(t, path); a.Status != 404 {
		t.Errorf("GET deleted: %d, want 404", a.Status)
	}
}

// TestCallbackRetried: a receiver that fails twice gets the signed job three
// times and is recorded as delivered after three attempts.
func TestCallbackRetried(t *testing.T) {
	const secret = "whsec_c2xpcHdheS1jYWxsYmFjay1zZWNyZXQtdGVzdA=="
	var (
		calls     atomic.Int32
		delivered = make(chan []byte, 4)
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, _ := webhooksig.Key(secret)
		if err := webhooksig.Verify([][]byte{key}, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
			r.Header.Get("webhook-signature"), body, time.Now()); err != nil {
			t.Errorf("callback signature: %v", err)
		}
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		delivered <- body
	}))
	defer recv.Close()
	slip := e2e.Start(t, hookEnv(map[string]string{
		"SLIPWAY_CALLBACK_SECRET":        secret,
		"SLIPWAY_CALLBACK_MIN_BACKOFF":   "50ms",
		"SLIPWAY_CALLBACK_POLL_INTERVAL": "50ms",
	}))
	body := nativeBody("https://git.example.com/app.git", "registry.example.com/cb/app",
		map[string]any{"callback_url": recv.URL + "/webhook-step/capability-token"})
	a := slip.Do(t, http.MethodPost, "/api/v1/jobs", body, e2e.Bearer(nativeSecret))
	if a.Status != 202 {
		t.Fatalf("POST: %d %s", a.Status, a.Body)
	}
	id := a.JobID(t)
	if j := slip.Job(t, id); len(j.Callbacks) != 1 || j.Callbacks[0].State != "waiting" || strings.Contains(j.Callbacks[0].URL, "capability-token") {
		t.Fatalf("callbacks before the end = %+v, want one waiting with its path hidden", j.Callbacks)
	}
	// No worker runs here: the job ends as any code would end it, by an UPDATE.
	ctx := context.Background()
	conn := slip.Conn(t)
	if _, err := conn.Exec(ctx, `UPDATE jobs SET state = 'failed', finished_at = now(), error_code = 'build_failed', error_message = 'x' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-delivered:
		var j e2e.Job
		if err := json.Unmarshal(got, &j); err != nil || j.ID != id || j.State != "failed" {
			t.Errorf("callback body %s: want job %s failed", got, id)
		}
	case <-time.After(time.Minute):
		t.Fatal("callback never delivered")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := slip.Job(t, id)
		if len(j.Callbacks) == 1 && j.Callbacks[0].State == "delivered" {
			if c := j.Callbacks[0]; c.Attempts != 3 || c.LastStatus == nil || *c.LastStatus != 200 {
				t.Errorf("callback = %+v, want 3 attempts ending in 200", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback state = %+v", j.Callbacks)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := calls.Load(); n != 3 {
		t.Errorf("receiver called %d times, want 3", n)
	}
}

// TestCallbackExpires: a receiver that never answers 2xx is given up on once
// the callback expires, and the job says so.
func TestCallbackExpires(t *testing.T) {
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer recv.Close()
	slip := e2e.Start(t, hookEnv(map[string]string{
		"SLIPWAY_CALLBACK_MIN_BACKOFF": "20ms",
		"SLIPWAY_CALLBACK_MAX_BACKOFF": "40ms",
		// Long enough for several attempts on a loaded machine.
		"SLIPWAY_CALLBACK_EXPIRY":        "5s",
		"SLIPWAY_CALLBACK_POLL_INTERVAL": "20ms",
	}))
	body := nativeBody("https://git.example.com/app.git", "registry.example.com/cb/expires", map[string]any{"callback_url": recv.URL})
	_, j := awaitExpiredCallback(t, slip, body)
	c := j.Callbacks[0]
	if c.Attempts < 2 || c.LastStatus == nil || *c.LastStatus != 503 || int(calls.Load()) != c.Attempts {
		t.Errorf("callback = %+v after %d calls, want several attempts ending in 503", c, calls.Load())
	}
}

// awaitExpiredCallback posts body, a job with one callback, ends the job by
// hand and waits until its callback has expired; it returns the job's id and
// what GET shows of it then.
func awaitExpiredCallback(t *testing.T, slip *e2e.Slipway, body []byte) (string, e2e.Job) {
	t.Helper()
	a := slip.Do(t, http.MethodPost, "/api/v1/jobs", body, e2e.Bearer(nativeSecret))
	if a.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", a.Status, a.Body)
	}
	id := a.JobID(t)
	conn := slip.Conn(t)
	if _, err := conn.Exec(context.Background(), `UPDATE jobs SET state = 'canceled', finished_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := slip.Job(t, id)
		if len(j.Callbacks) == 1 && j.Callbacks[0].State == "expired" {
			return id, j
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback state = %+v", j.Callbacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
