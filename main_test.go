package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/internal/apitest"
	"github.com/slipwayci/slipway/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// instance is a Slipway started through run, as the binary would be.
type instance struct {
	URL  string
	DB   string
	logs *syncBuffer
}

// adminToken is the bootstrap admin token every test instance accepts.
const adminToken = "e2e-admin-token-0123456789abcdefghijklmnopqrstuv"

// authGet is http.Get with the admin token; the answer is validated
// against openapi.yaml.
func authGet(t *testing.T, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return apitest.Shared(t).Client(t).Do(req)
}

// Logs returns what the instance has logged so far.
func (i *instance) Logs() string { return i.logs.String() }

// startSlipway runs `slipway serve` in-process on a free port and stops it
// when the test ends. It uses a new database unless env names one.
func startSlipway(t *testing.T, env map[string]string) *instance {
	t.Helper()
	dbURL := env["SLIPWAY_DATABASE_URL"]
	if dbURL == "" {
		dbURL = testenv.Postgres(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{
		"SLIPWAY_DATABASE_URL":  dbURL,
		"SLIPWAY_LISTEN":        addr,
		"SLIPWAY_GIT_PROTOCOLS": "file",
		"SLIPWAY_POLL_INTERVAL": "100ms",
		"SLIPWAY_LOG_FORMAT":    "text",
		// Tests are one client asking fast; TestRateLimit covers the limit.
		"SLIPWAY_RATE_LIMIT":  "0",
		"SLIPWAY_ADMIN_TOKEN": adminToken,
		"HOME":                os.Getenv("HOME"),
		"PATH":                os.Getenv("PATH"),
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		runErr error
		logs   syncBuffer
	)
	wg.Go(func() {
		runErr = run(ctx, []string{"slipway", "serve"}, func(k string) string { return vars[k] }, io.Discard, &logs)
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("slipway serve: %v", runErr)
		}
		if t.Failed() {
			t.Logf("slipway log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &instance{URL: base, DB: dbURL, logs: &logs}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type jobView struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Result *struct {
		Digest string   `json:"digest"`
		Images []string `json:"images"`
	} `json:"result"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func postJob(t *testing.T, base string, body any) (*http.Response, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/jobs", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := apitest.Shared(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// waitJob polls a job until it ends.
func waitJob(t *testing.T, base, id string) jobView {
	t.Helper()
	return waitJobFor(t, base, id, 3*time.Minute)
}

// waitJobFor polls a job until it ends or timeout passes.
func waitJobFor(t *testing.T, base, id string, timeout time.Duration) jobView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := authGet(t, base+"/api/v1/jobs/"+id)
		if err != nil {
			t.Fatal(err)
		}
		var j jobView
		err = json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if j.State == "succeeded" || j.State == "failed" || j.State == "canceled" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.State, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := authGet(t, url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// registryDigest asks the registry for the manifest digest of name:tag.
func registryDigest(t *testing.T, registry, name, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, name, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry manifest %s:%s: %d", name, tag, resp.StatusCode)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// mustConnect opens a connection to the test's database, closed when the
// test ends.
func mustConnect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func countJobs(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := context.Background()
	conn := mustConnect(t, dbURL)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEndToEnd: a build request becomes a pushed image, on real Postgres, a
// real registry, a real git repository and the real Docker daemon.
func TestEndToEnd(t *testing.T) {
	docker := testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	slip := startSlipway(t, nil)

	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile":      "ARG BASE\nFROM ${BASE}\nCOPY . /app\nRUN cat /app/kept.txt\n",
		"Dockerfile.fail": "ARG BASE\nFROM ${BASE}\nRUN echo about to fail && exit 3\n",
		".dockerignore":   "ignored.txt\n",
		"kept.txt":        "kept\n",
		"ignored.txt":     "must not reach the image\n",
		"sub/Dockerfile":  "FROM scratch\nCOPY kept.txt /kept.txt\n",
		"sub/kept.txt":    "in sub\n",
	})
	name := "e2e/app-" + testenv.RandomHex(4)

	t.Run("BuildAndPush", func(t *testing.T) {
		resp, body := postJob(t, slip.URL, map[string]any{
			"source":  map[string]any{"repository": repo, "commit": commit, "ref": "refs/heads/main"},
			"build":   map[string]any{"args": map[string]string{"BASE": base}, "labels": map[string]string{"test": "e2e"}},
			"image":   map[string]any{"name": registry + "/" + name, "tags": []string{"1.0.0", "latest"}},
			"trigger": map[string]any{"system": "jenkins", "job": "app/main", "build_number": "42", "url": "https://ci.example.com/job/app/42/"},
		})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /api/v1/jobs: %d %s", resp.StatusCode, body)
		}
		var created jobView
		if err := json.Unmarshal(body, &created); err != nil {
			t.Fatal(err)
		}
		if loc := resp.Header.Get("Location"); loc != "/api/v1/jobs/"+created.ID {
			t.Errorf("Location = %q, want /api/v1/jobs/%s", loc, created.ID)
		}
		j := waitJob(t, slip.URL, created.ID)
		logText := getText(t, slip.URL+"/api/v1/jobs/"+j.ID+"/logs")
		if j.State != "succeeded" {
			t.Fatalf("job ended %s: %+v\nlog:\n%s", j.State, j.Error, logText)
		}
		for _, tag := range []string{"1.0.0", "latest"} {
			if got := registryDigest(t, registry, name, tag); got != j.Result.Digest {
				t.Errorf("registry digest of %s = %s, job says %s", tag, got, j.Result.Digest)
			}
		}
		if !strings.Contains(logText, ": COPY . /app") {
			t.Errorf("log lacks the build steps:\n%s", logText)
		}

		// The ignored file stays out of the image; the kept one is in it. The
		// build left no name of it on the daemon: pull what the registry holds.
		ctx := context.Background()
		ref := registry + "/" + name + ":1.0.0"
		if _, err := docker.ImageInspect(ctx, ref); !errdefs.IsNotFound(err) {
			t.Errorf("%s is still on the daemon after its push (%v)", ref, err)
		}
		pull, err := docker.ImagePull(ctx, ref, image.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, pull)
		pull.Close()
		removeImages(t, ref)
		c, err := docker.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"true"}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if _, err := docker.ContainerStatPath(ctx, c.ID, "/app/kept.txt"); err != nil {
			t.Errorf("kept.txt missing from the image: %v", err)
		}
		if _, err := docker.ContainerStatPath(ctx, c.ID, "/app/ignored.txt"); !errdefs.IsNotFound(err) {
			t.Errorf("ignored.txt: want not found, got %v", err)
		}
	})

	t.Run("ContextSubdirectoryAndDefaultTag", func(t *testing.T) {
		resp, body := postJob(t, slip.URL, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"context": "sub"},
			"image":  map[string]any{"name": registry + "/" + name + "-sub"},
		})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		var created jobView
		_ = json.Unmarshal(body, &created)
		j := waitJob(t, slip.URL, created.ID)
		if j.State != "succeeded" {
			t.Fatalf("job ended %s: %+v", j.State, j.Error)
		}
		if got := registryDigest(t, registry, name+"-sub", commit[:12]); got != j.Result.Digest {
			t.Errorf("registry digest = %s, job says %s", got, j.Result.Digest)
		}
	})

	t.Run("FailingRunStep", func(t *testing.T) {
		resp, body := postJob(t, slip.URL, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"dockerfile": "Dockerfile.fail", "args": map[string]string{"BASE": base}},
			"image":  map[string]any{"name": registry + "/" + name + "-fail"},
		})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		var created jobView
		_ = json.Unmarshal(body, &created)
		j := waitJob(t, slip.URL, created.ID)
		if j.State != "failed" || j.Error == nil {
			t.Fatalf("job ended %s with error %+v, want failed", j.State, j.Error)
		}
		// Provenance labels add steps after the Dockerfile's own, so only
		// the step's number and instruction are fixed.
		const step = "Step 3/"
		const run = " : RUN echo about to fail && exit 3"
		if j.Error.Code != "build_failed" || !strings.Contains(j.Error.Message, step) || !strings.Contains(j.Error.Message, run) {
			t.Errorf("error = %+v, want build_failed naming %q", j.Error, step+"…"+run)
		}
		logText := getText(t, slip.URL+"/api/v1/jobs/"+j.ID+"/logs")
		if !strings.Contains(logText, run) || !strings.Contains(logText, "about to fail") {
			t.Errorf("log lacks the failing step:\n%s", logText)
		}
	})

	t.Run("InvalidRequestCreatesNothing", func(t *testing.T) {
		before := countJobs(t, slip.DB)
		resp, body := postJob(t, slip.URL, map[string]any{
			"source": map[string]any{"repository": repo, "commit": "--upload-pack=touch /tmp/pwn"},
			"image":  map[string]any{"name": "Not A Valid Image"},
		})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("status = %d, want 422: %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		var p struct {
			Status int                      `json:"status"`
			Errors []struct{ Field string } `json:"errors"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusUnprocessableEntity || len(p.Errors) != 2 {
			t.Errorf("problem = %s (%v), want status 422 and two field errors", body, err)
		}
		if after := countJobs(t, slip.DB); after != before {
			t.Errorf("jobs went from %d to %d after an invalid request", before, after)
		}
	})
}
