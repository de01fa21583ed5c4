package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slipwayci/slipway/internal/app"
	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// runBusyboxJob builds and pushes a one-file image and waits for the job.
func runBusyboxJob(t *testing.T, slip *e2e.Slipway, registry string) e2e.Job {
	t.Helper()
	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "hello " + testenv.RandomHex(8) + "\n",
	})
	created := slip.Submit(t, map[string]any{
		"source": map[string]any{"repository": repo, "commit": commit},
		"build":  map[string]any{"args": map[string]string{"BASE": testenv.BaseImage(t)}},
		"image":  map[string]any{"name": registry + "/ops/app-" + testenv.RandomHex(4)},
	})
	j := slip.Wait(t, created.ID)
	if j.State != "succeeded" {
		t.Fatalf("job ended %s: %+v", j.State, j.Error)
	}
	return j
}

// scrape reads /metrics and returns its families by name.
func scrape(t *testing.T, slip *e2e.Slipway) (string, map[string]float64) {
	t.Helper()
	text := slip.Get(t, "/metrics").Want(t, http.StatusOK).String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	// Flatten to "name{k=v,…}" → value; histograms as name_count.
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return text, out
}

// TestMetricsAfterJob: a job moves the counters, and every metric passes
// promtool's naming rules.
func TestMetricsAfterJob(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	slip := e2e.Start(t, nil)

	_, before := scrape(t, slip)
	runBusyboxJob(t, slip, registry)
	text, after := scrape(t, slip)

	moved := []string{
		"slipway_webhooks_received_total{outcome=accepted,source=api}",
		"slipway_build_duration_seconds_count{result=succeeded}",
		"slipway_job_queue_wait_seconds_count{result=succeeded}",
		"slipway_push_bytes_total{}",
		"slipway_http_request_duration_seconds_count{code=202,method=POST,route=/api/v1/jobs}",
	}
	for _, k := range moved {
		if after[k] <= before[k] {
			t.Errorf("%s: %v before the job, %v after; want it to grow", k, before[k], after[k])
		}
	}
	for _, k := range []string{"slipway_jobs{state=queued}", "slipway_jobs{state=running}", "go_goroutines{}"} {
		if _, ok := after[k]; !ok {
			t.Errorf("%s missing from /metrics", k)
		}
	}
	// The jobs gauge is a count refreshed at most every 15 s, so it may
	// trail the job by that much.
	deadline := time.Now().Add(20 * time.Second)
	for after["slipway_jobs{state=succeeded}"] <= before["slipway_jobs{state=succeeded}"] {
		if time.Now().After(deadline) {
			t.Errorf("slipway_jobs{state=succeeded}: %v before the job, %v 20 s after; want it to grow",
				before["slipway_jobs{state=succeeded}"], after["slipway_jobs{state=succeeded}"])
			break
		}
		time.Sleep(500 * time.Millisecond)
		_, after = scrape(t, slip)
	}
	for k := range after {
		if strings.Contains(k, "route=/api/v1/jobs/0") {
			t.Errorf("a raw path became a route label: %s", k)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestReadyzFollowsPostgres: /readyz turns 503 naming postgres when the
// database goes away and 200 when it is back. The database is reached
// through a proxy the test cuts, so the shared server keeps running.
func TestReadyzFollowsPostgres(t *testing.T) {
	testenv.Docker(t)
	dbURL := testenv.Postgres(t)
	proxied, proxy := testenv.ProxiedURL(t, dbURL)
	slip := e2e.Start(t, map[string]string{"SLIPWAY_DATABASE_URL": proxied, "SLIPWAY_WORKERS": "1"})

	ready := func() (int, map[string]any) {
		t.Helper()
		a := slip.Get(t, "/readyz")
		var body map[string]any
		a.Decode(t, &body)
		return a.Status, body
	}
	waitReady := func(want int) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := ready()
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz stayed %d %v, want %d", code, body, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	body := waitReady(http.StatusOK)
	checks, _ := body["checks"].(map[string]any)
	for _, name := range []string{"postgres", "migrations", "docker"} {
		if checks[name] != "ok" {
			t.Errorf("check %s = %v, want ok (body %v)", name, checks[name], body)
		}
	}

	proxy.Cut()
	body = waitReady(http.StatusServiceUnavailable)
	failed, _ := body["failed"].([]any)
	if len(failed) == 0 || failed[0] != "postgres" || body["status"] != "unavailable" {
		t.Errorf("body = %v, want status unavailable with postgres failing", body)
	}
	u, _ := url.Parse(dbURL)
	if strings.Contains(slip.Get(t, "/readyz").String(), u.User.Username()+"@") {
		t.Errorf("/readyz leaks connection details")
	}

	proxy.Restore(t)
	waitReady(http.StatusOK)
}

// TestRequestIDs: every answer carries X-Request-ID, a caller's plain id is
// kept, and the request's log line carries it.
func TestRequestIDs(t *testing.T) {
	slip := e2e.Start(t, map[string]string{"SLIPWAY_WORKERS": "0"})
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"generated", "", false},
		{"kept", "jenkins-build-42.7", true},
		{"replaced", strings.Repeat("x", 200), false},
		{"unsafe", "a b\"c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sent != "" {
				h.Set("X-Request-ID", tc.sent)
			}
			got := slip.Do(t, http.MethodGet, "/api/v1/jobs/00000000-0000-0000-0000-000000000000", nil, h).Header.Get("X-Request-ID")
			switch {
			case got == "":
				t.Fatal("no X-Request-ID")
			case tc.kept && got != tc.sent:
				t.Errorf("X-Request-ID = %q, want the caller's %q", got, tc.sent)
			case !tc.kept && got == tc.sent:
				t.Errorf("X-Request-ID %q was kept, want a fresh one", got)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(slip.Logs(), "request_id="+got) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line carries request_id=%s:\n%s", got, slip.Logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestSecretsStayOut plants canary values in every secret Slipway reads
// (the database password, registry credentials, and every setting
// registered as a secret), runs a job, and looks for them in the logs and
// in every API answer.
func TestSecretsStayOut(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	canary := func(what string) string { return "canary-" + what + "-" + testenv.RandomHex(12) }

	// A database role whose password is a canary.
	dbURL := testenv.Postgres(t)
	dbPassword := canary("dbpass")
	role := "slipway_canary_" + testenv.RandomHex(4)
	execSQL(t, dbURL, "CREATE ROLE "+role+" LOGIN PASSWORD '"+dbPassword+"'")
	u, _ := url.Parse(dbURL)
	execSQL(t, dbURL, "GRANT ALL ON DATABASE "+strings.TrimPrefix(u.Path, "/")+" TO "+role+"; GRANT ALL ON SCHEMA public TO "+role)
	// Runs after Slipway stopped (cleanups run last first); the role owns the
	// tables the migrations made, which go with it.
	t.Cleanup(func() { execSQL(t, dbURL, "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	u.User = url.UserPassword(role, dbPassword)

	// Registry credentials in the Docker config the workers read.
	regPassword := canary("regpass")
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + regPassword))
	cfg := `{"auths": {"` + registry + `": {"auth": "` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{
		"SLIPWAY_DATABASE_URL":  u.String(),
		"SLIPWAY_DOCKER_CONFIG": filepath.Join(dir, "config.json"),
		"SLIPWAY_LOG_FORMAT":    "json",
		"SLIPWAY_LOG_LEVEL":     "debug",
	}
	secrets := []string{dbPassword, regPassword, auth}
	for _, name := range secretSettings(t) {
		if _, set := env[name]; set {
			continue // planted above, in a form Slipway can use
		}
		v := canary(strings.ToLower(name))
		if name == "SLIPWAY_ADMIN_TOKEN" {
			v = e2e.AdminToken // the test's requests need it; it is searched for all the same
		}
		env[name] = v
		secrets = append(secrets, v)
	}
	slip := e2e.Start(t, env)
	j := runBusyboxJob(t, slip, registry)

	var answers strings.Builder
	for _, path := range []string{"/api/v1/jobs/" + j.ID, "/api/v1/jobs/" + j.ID + "/logs", "/metrics", "/readyz", "/healthz", "/api/v1/jobs/nope", "/nope"} {
		answers.Write(slip.Get(t, path).Body)
	}
	answers.Write(slip.Post(t, "/api/v1/jobs", map[string]any{"source": map[string]any{"repository": "ftp://x"}}).Body)
	logs := slip.Logs()
	if !strings.Contains(logs, `"job_id":"`+j.ID+`"`) {
		t.Errorf("no log line carries job_id %s", j.ID)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%s…) is in the log", s[:14])
		}
		if strings.Contains(answers.String(), s) {
			t.Errorf("a secret (%s…) is in an API answer", s[:14])
		}
	}
}

// secretSettings lists the environment variables `slipway serve --help`
// marks as secret.
func secretSettings(t *testing.T) []string {
	t.Helper()
	var help strings.Builder
	_ = app.Run(t.Context(), app.Build{}, []string{"slipway", "serve", "--help"}, func(string) string { return "" }, io.Discard, &help)
	var names []string
	for _, line := range strings.Split(help.String(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.Contains(line, "default (secret)") {
			for _, w := range f {
				if strings.ToUpper(w) == w && strings.Contains(w, "_") {
					names = append(names, w)
					break
				}
			}
		}
	}
	return names
}

func execSQL(t *testing.T, dbURL, sql string) {
	t.Helper()
	// Not t.Context(): cleanups run after it is canceled.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
