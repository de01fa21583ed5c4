package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestBadRequestCorpusEndToEnd sends server/testdata/bad_requests.json to a
// running instance with real Postgres and a worker polling it: every answer
// is the expected 4xx problem, no job row is written and no canary file
// appears.
func TestBadRequestCorpusEndToEnd(t *testing.T) {
	corpus := testenv.LoadBadRequests(t, filepath.Join("server", "testdata", "bad_requests.json"))
	slip := e2e.Start(t, map[string]string{"SLIPWAY_GIT_PROTOCOLS": "https", "SLIPWAY_RATE_LIMIT": "0", "SLIPWAY_WORKERS": "1"})
	canary := filepath.Join(os.TempDir(), "slipway-pwn-"+testenv.RandomHex(8))
	for _, b := range corpus {
		t.Run(b.Name, func(t *testing.T) {
			a := slip.Send(t, b.Request(t, slip.URL, canary, e2e.AdminToken))
			if !b.Expects(a.Status) {
				t.Errorf("status = %d, want %d%v: %s", a.Status, b.Status, b.Statuses, a.Body)
			}
			var p struct{ Status int }
			if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(a.Body, &p) != nil || p.Status != a.Status {
				t.Errorf("answer %s %s is not a matching problem", ct, a.Body)
			}
		})
	}
	if n := slip.CountJobs(t); n != 0 {
		t.Errorf("the corpus wrote %d job rows", n)
	}
	if found, _ := filepath.Glob(filepath.Join(os.TempDir(), "slipway-pwn-*")); len(found) != 0 {
		t.Errorf("canary files exist: %v", found)
	}
}

// runHostileJob runs req to its end and returns the job, every API answer
// about it and its log.
func runHostileJob(t *testing.T, slip *e2e.Slipway, req map[string]any) (e2e.Job, string, string) {
	t.Helper()
	created := slip.Post(t, "/api/v1/jobs", req).Want(t, http.StatusAccepted)
	id := created.JobID(t)
	slip.Wait(t, id)
	a := slip.Get(t, "/api/v1/jobs/"+id).Want(t, http.StatusOK)
	var j e2e.Job
	a.Decode(t, &j)
	return j, a.String() + created.String(), slip.Log(t, id)
}

// dbText is every text the database holds about jobs.
func dbText(t *testing.T, slip *e2e.Slipway) string {
	t.Helper()
	ctx := context.Background()
	conn := slip.Conn(t)
	var s string
	err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(t, E'\n'), '') FROM (
		SELECT spec::text || ' ' || coalesce(result::text, '') || ' ' || coalesce(error_code, '') || ' ' || coalesce(error_message, '') AS t FROM jobs
		UNION ALL SELECT text FROM job_logs) x`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHostileBuildsEndToEnd runs hostile repositories through real workers,
// git, Docker and a registry: symbolic links out of the checkout, internal
// repository addresses, oversized contexts and logs, and a build that prints
// the registry password in every spelling. Canary values are then searched
// for in the API answers, the build logs, the database and the application
// log.
func TestHostileBuildsEndToEnd(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	baseImage := testenv.BaseImage(t)

	regPass := "cnry$" + testenv.RandomHex(10) + "/+x"
	outsideCanary := "outside-" + testenv.RandomHex(10)
	cfgDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("slipway:" + regPass))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+registry+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	slip := e2e.Start(t, map[string]string{
		"SLIPWAY_GIT_PROTOCOLS":     "file,http,https",
		"SLIPWAY_DOCKER_CONFIG":     filepath.Join(cfgDir, "config.json"),
		"SLIPWAY_MAX_CONTEXT_FILES": "50",
		"SLIPWAY_MAX_LOG_BYTES":     "20000",
	})

	outside := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": "FROM scratch\nCOPY secret.txt /\n", "secret.txt": outsideCanary + "\n"} {
		if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var searched []string // everything a canary must not be in
	image := registry + "/hostile/app-" + testenv.RandomHex(4)

	t.Run("Symlinks", func(t *testing.T) {
		repo, commit := testenv.GitRepoWithLinks(t,
			map[string]string{"inner/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY leak.txt /leak.txt\nRUN cat /leak.txt\n"},
			map[string]string{
				"Dockerfile":     filepath.Join(outside, "Dockerfile"),
				"ctx":            outside,
				"inner/leak.txt": filepath.Join(outside, "secret.txt"),
			})
		tests := []struct {
			name  string
			build map[string]any
			code  string
		}{
			{"DockerfileLinkOut", map[string]any{}, "context_invalid"},
			{"ContextLinkOut", map[string]any{"context": "ctx"}, "context_invalid"},
			// A link inside the context travels as a link: the daemon never
			// reads its target, so the build cannot see the file.
			{"LinkInsideContext", map[string]any{"context": "inner", "args": map[string]string{"BASE": baseImage}}, "build_failed"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				j, api, logText := runHostileJob(t, slip, map[string]any{
					"source": map[string]any{"repository": repo, "commit": commit},
					"build":  tt.build,
					"image":  map[string]any{"name": image},
				})
				if j.State != "failed" || j.Error == nil || j.Error.Code != tt.code {
					t.Errorf("job %s %+v, want failed with %s\n%s", j.State, j.Error, tt.code, logText)
				}
				searched = append(searched, api, logText)
			})
		}
	})

	t.Run("InternalRepository", func(t *testing.T) {
		for _, repo := range []string{"http://127.0.0.1:1/x.git", "http://localhost:1/x.git", "http://2130706433:1/x.git",
			"http://[::1]:1/x.git", "http://169.254.169.254/latest/x.git"} {
			j, api, logText := runHostileJob(t, slip, map[string]any{
				"source": map[string]any{"repository": repo, "commit": strings.Repeat("a", 40)},
				"image":  map[string]any{"name": image},
			})
			if j.State != "failed" || j.Error == nil || j.Error.Code != "egress_refused" || !strings.Contains(j.Error.Message, "refused") {
				t.Errorf("%s: job %s %+v, want egress_refused\n%s", repo, j.State, j.Error, logText)
			}
			searched = append(searched, api, logText)
		}
	})

	t.Run("ContextTooLarge", func(t *testing.T) {
		files := map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n"}
		for i := range 60 {
			files[fmt.Sprintf("f%02d.txt", i)] = "x"
		}
		repo, commit := testenv.GitRepo(t, files)
		j, api, logText := runHostileJob(t, slip, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"image":  map[string]any{"name": image},
		})
		if j.State != "failed" || j.Error == nil || j.Error.Code != "context_too_large" || !strings.Contains(j.Error.Message, "more than 50 files") {
			t.Errorf("job %s %+v, want context_too_large\n%s", j.State, j.Error, logText)
		}
		searched = append(searched, api, logText)
	})

	t.Run("SecretsMasked", func(t *testing.T) {
		half := len(regPass) / 2
		dockerfile := "ARG BASE\nFROM ${BASE}\nARG NPM_TOKEN\nRUN echo 'plain: " + regPass + "' && echo 'basic: " + auth +
			"' && echo 'url: " + url.QueryEscape(regPass) + "' && echo 'dollars: " + strings.ReplaceAll(regPass, "$", "$$") +
			"' && echo 'b64: " + base64.RawURLEncoding.EncodeToString([]byte("x"+regPass)) +
			"' && echo '" + regPass[:half] + "' && echo '" + regPass[half:] + "'\n" +
			"RUN printf 'nul:\\000: bad:\\377:\\n'\n" +
			"RUN i=0; while [ $i -lt 3000 ]; do echo chatty line $i; i=$((i+1)); done\n"
		repo, commit := testenv.GitRepo(t, map[string]string{"Dockerfile": dockerfile})
		j, api, logText := runHostileJob(t, slip, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"args": map[string]string{"BASE": baseImage, "NPM_TOKEN": "not-a-real-token"}},
			"image":  map[string]any{"name": image, "tags": []string{"masked"}},
		})
		if j.State != "succeeded" {
			t.Fatalf("job %s %+v\n%s", j.State, j.Error, logText)
		}
		if len(j.Warnings) != 1 || !strings.HasPrefix(j.Warnings[0], "build.args.NPM_TOKEN looks like a secret") {
			t.Errorf("warnings = %q, want one about NPM_TOKEN", j.Warnings)
		}
		if !strings.Contains(logText, "nul:\uFFFD: bad:\uFFFD:") {
			t.Errorf("NUL and invalid UTF-8 not replaced in the log")
		}
		if !strings.Contains(logText, "plain: ***") || !strings.Contains(logText, "log truncated: it reached 20000 bytes") {
			t.Errorf("log lacks the masked line or the truncation marker:\n%s", logText)
		}
		if len(logText) > 21000 {
			t.Errorf("log is %d bytes, over the 20000 byte limit", len(logText))
		}
		searched = append(searched, api, logText)
	})

	searched = append(searched, dbText(t, slip), slip.Logs())
	spellings := []string{regPass, auth, url.QueryEscape(regPass), strings.ReplaceAll(regPass, "$", "$$"),
		base64.RawStdEncoding.EncodeToString([]byte(regPass)), outsideCanary}
	for i, text := range searched {
		joined := strings.ReplaceAll(text, "\n", "")
		for _, s := range spellings {
			if strings.Contains(text, s) || strings.Contains(joined, s) {
				t.Errorf("canary %q found in searched text %d (of %d: API answers, logs, database, application log)", s, i, len(searched))
			}
		}
	}
	t.Logf("searched %d texts (API answers, build logs, database, application log) for %d canary spellings", len(searched), len(spellings))

	// The application log masks what a request carries too: a repository
	// path holding the registry password is logged by the worker masked.
	// (The job record keeps the request as sent, so it is not searched here.)
	t.Run("ApplicationLogMasked", func(t *testing.T) {
		j, _, _ := runHostileJob(t, slip, map[string]any{
			"source": map[string]any{"repository": "file:///nonexistent/" + url.PathEscape(regPass), "commit": strings.Repeat("b", 40)},
			"image":  map[string]any{"name": image},
		})
		if j.State != "failed" {
			t.Fatalf("job %s, want failed", j.State)
		}
		appLog := slip.Logs()
		if !strings.Contains(appLog, "file:///nonexistent/***") {
			t.Errorf("application log lacks the masked repository")
		}
		for _, s := range spellings {
			if strings.Contains(appLog, s) {
				t.Errorf("application log holds %q", s)
			}
		}
	})
}

// TestCallbackEgressRefused: a callback_url on loopback is accepted (the
// address is only known when connecting) but never reached: every attempt
// is refused at connect time until the callback expires.
func TestCallbackEgressRefused(t *testing.T) {
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer recv.Close()
	slip := e2e.Start(t, hookEnv(map[string]string{
		"SLIPWAY_ALLOWED_NETWORKS":       "",
		"SLIPWAY_CALLBACK_MIN_BACKOFF":   "20ms",
		"SLIPWAY_CALLBACK_MAX_BACKOFF":   "40ms",
		"SLIPWAY_CALLBACK_EXPIRY":        "300ms",
		"SLIPWAY_CALLBACK_POLL_INTERVAL": "20ms",
	}))
	port := recv.URL[strings.LastIndex(recv.URL, ":")+1:]
	body := nativeBody("https://git.example.com/app.git", "registry.example.com/cb/egress",
		map[string]any{"callback_url": "http://localhost:" + port + "/hook"})
	_, j := awaitExpiredCallback(t, slip, body)
	if len(j.Callbacks) != 1 || j.Callbacks[0].Attempts < 1 || !strings.Contains(j.Callbacks[0].LastError, "loopback") {
		t.Errorf("callbacks = %+v, want attempts refused as loopback", j.Callbacks)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the loopback receiver was called %d times", n)
	}
}
