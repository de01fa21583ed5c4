package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// browser starts headless Chromium for the test. Without Chromium the test
// skips, unless SLIPWAY_REQUIRE_DOCKER=1 (CI), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("SLIPWAY_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_DOCKER") == "1" {
			t.Fatalf("Chromium required in CI but not found at %s (set SLIPWAY_CHROMIUM)", path)
		}
		t.Skipf("skipping: no Chromium at %s (set SLIPWAY_CHROMIUM)", path)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, consoleLogger(t))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// consoleLogger copies a tab's console and uncaught exceptions to the test log.
func consoleLogger(t *testing.T) chromedp.ContextOption {
	return chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value))
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s %s", ev.ExceptionDetails.Text, describeException(ev.ExceptionDetails))
		}
	})
}

// artifacts returns where screenshots go: SLIPWAY_ARTIFACTS_DIR, or a
// temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SLIPWAY_ARTIFACTS_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// waitLimit bounds every wait: a build of the test image takes seconds.
const waitLimit = 90 * time.Second

// waitFor polls a JavaScript predicate in the page.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(waitLimit))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, text)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// signIn opens url in a tab and enters the token once; the tab keeps it in
// its session storage.
func signIn(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the sign-in form", `!document.getElementById('login').hidden`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), e2e.AdminToken),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the signed-in page", `document.getElementById('login').hidden`)
}

// TestDashboard drives the dashboard in headless Chromium against a real
// server: the API process has no workers, so a job stays queued until a
// second Slipway with a worker starts on the same database; the list shows the
// job's badge go queued → running → succeeded and its page shows the log
// lines as the other process writes them.
func TestDashboard(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	ctx := browser(t)
	dir := artifacts(t)

	dbURL := testenv.Postgres(t)
	api := e2e.Start(t, map[string]string{"SLIPWAY_DATABASE_URL": dbURL, "SLIPWAY_WORKERS": "0",
		"SLIPWAY_LOG_POLL_INTERVAL": "100ms"})
	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile":      "ARG BASE\nFROM ${BASE}\nRUN for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done\n",
		"Dockerfile.slow": "ARG BASE\nFROM ${BASE}\nRUN for i in $(seq 1 40); do echo slow $i; sleep 1; done\n",
	})
	name := registry + "/dash/app-" + testenv.RandomHex(4)

	signIn(t, ctx, api.URL+"/")

	created := api.Submit(t, map[string]any{
		"source":  map[string]any{"repository": repo, "commit": commit, "ref": "refs/heads/main"},
		"build":   map[string]any{"args": map[string]string{"BASE": base}, "no_cache": true}, // a cached RUN prints nothing
		"image":   map[string]any{"name": name, "tags": []string{"1.0.0"}},
		"trigger": map[string]any{"system": "jenkins", "job": "app/main", "build_number": "7", "url": "https://jenkins.example.com/job/app/7/"},
	})
	badge := func(state string) string {
		return fmt.Sprintf(`document.querySelector('tr[data-job=%s] .badge[data-state=%s]') !== null`, jsString(created.ID), state)
	}
	waitFor(t, ctx, "the new job queued in the list", badge("queued"))
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr[data-job=%s] a[href^="https://jenkins"]').href`, jsString(created.ID)))); got != "https://jenkins.example.com/job/app/7/" {
		t.Errorf("link to the Jenkins build = %q", got)
	}

	// A second tab follows the job's page while the list stays open.
	jobTab, cancelTab := chromedp.NewContext(ctx, consoleLogger(t))
	defer cancelTab()
	signIn(t, jobTab, api.URL+"/#/jobs/"+created.ID)
	waitFor(t, jobTab, "the job page", `document.querySelector('#job-state .badge[data-state=queued]') !== null`)

	// The build runs in another Slipway, which shares only the database.
	e2e.Start(t, map[string]string{"SLIPWAY_DATABASE_URL": dbURL, "SLIPWAY_WORKERS": "1"})

	waitFor(t, ctx, "the badge to turn running", badge("running"))
	// A log line shows while the job still runs: it arrived live.
	waitFor(t, jobTab, "a live log line while running",
		`document.getElementById('log').textContent.includes('tick 2') && document.querySelector('#job-state .badge[data-state=running]') !== null`)
	waitFor(t, ctx, "the badge to turn succeeded", badge("succeeded"))
	waitFor(t, jobTab, "the log's end", `document.getElementById('log-status').textContent.startsWith('Finished: succeeded')`)
	waitFor(t, jobTab, "the digest", `(document.getElementById('digest') || {}).textContent?.startsWith('sha256:')`)

	j := api.Wait(t, created.ID)
	logText, _ := chromedp.Run(jobTab, chromedp.Text(chromedp.CSS("#log")))
	for i := 1; i <= 6; i++ {
		if !strings.Contains(logText, fmt.Sprintf("tick %d", i)) {
			t.Errorf("the page's log lacks tick %d:\n%s", i, logText)
		}
	}
	if digest, _ := chromedp.Run(jobTab, chromedp.Text(chromedp.CSS("#digest"))); digest != j.Result.Digest {
		t.Errorf("page digest %q, job digest %q", digest, j.Result.Digest)
	}
	screenshot(t, jobTab, dir, "job.png")

	// Cancel: a slow job, cancelled from its page while it runs.
	slow := api.Submit(t, map[string]any{
		"source": map[string]any{"repository": repo, "commit": commit},
		"build":  map[string]any{"dockerfile": "Dockerfile.slow", "args": map[string]string{"BASE": base}, "no_cache": true},
		"image":  map[string]any{"name": name + "-slow", "tags": []string{"slow"}},
	})
	if err := chromedp.Do(jobTab, chromedp.Navigate(api.URL+"/#/jobs/"+slow.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, jobTab, "the slow job running", `document.getElementById('log').textContent.includes('slow 1')`)
	if err := chromedp.Do(jobTab, chromedp.Click(chromedp.CSS("#cancel"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, jobTab, "the cancel answer", `/Cancel (requested|failed)/.test(document.getElementById('action-result').textContent)`)
	result, _ := chromedp.Run(jobTab, chromedp.Text(chromedp.CSS("#action-result")))
	cancelPath := "/api/v1/jobs/" + slow.ID + "/cancel"
	if !strings.Contains(api.Logs(), "path="+cancelPath) {
		t.Errorf("the Cancel button did not reach POST %s; page says %q", cancelPath, result)
	}
	if !strings.HasPrefix(result, "Cancel requested") {
		t.Fatalf("cancel answer on the page: %q, want Cancel requested", result)
	}
	waitFor(t, jobTab, "the job canceled", `document.querySelector('#job-state .badge[data-state=canceled]') !== null`)

	waitFor(t, ctx, "the slow job in the list", fmt.Sprintf(`document.querySelector('tr[data-job=%s]') !== null`, jsString(slow.ID)))
	rows := func(n int) string { return fmt.Sprintf(`document.querySelectorAll('#jobs tbody tr').length === %d`, n) }
	waitFor(t, ctx, "both jobs listed", rows(2))
	screenshot(t, ctx, dir, "list.png")

	// Search by image, then by commit prefix, then narrow by state.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#search-field"), "image"),
		chromedp.SendKeys(chromedp.CSS("#search"), name+"-slow"),
		chromedp.Click(chromedp.CSS("#filters button[type=submit]")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the image search", rows(1)+fmt.Sprintf(` && document.querySelector('tr[data-job=%s]') !== null`, jsString(slow.ID)))
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#search-field"), "commit"),
		chromedp.SetValue(chromedp.CSS("#search"), commit[:8]),
		chromedp.Click(chromedp.CSS("#filters button[type=submit]")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the commit search", rows(2))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#filters input[value=succeeded]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the state filter", rows(1)+fmt.Sprintf(` && document.querySelector('tr[data-job=%s]') !== null`, jsString(created.ID)))

	// A phone-sized screen shows the list as cards.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the list as cards", `getComputedStyle(document.querySelector('#jobs thead')).display === 'none'`)
	screenshot(t, ctx, dir, "list-phone.png")
}

func describeException(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
