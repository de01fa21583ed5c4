package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// axeViolation is one failed axe-core rule, with where it failed.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility injects axe-core (testdata/axe, never served by
// Slipway) into the page and fails on any serious or critical violation of
// the WCAG 2.1 A/AA rules and axe's best practices.
func checkAccessibility(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
		t.Fatalf("inject axe-core: %v", err)
	}
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
		.then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run axe-core on %s: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe-core result on %s: %v: %s", page, err, out)
	}
	for _, v := range vs {
		t.Errorf("axe-core on the %s page: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
	}
}

// colorScheme makes the page see prefers-color-scheme as scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// viewports screenshots the page at desktop and phone widths, light and
// (for the desktop) dark, and checks each for accessibility.
func viewports(t *testing.T, ctx context.Context, dir, page, ready string) {
	t.Helper()
	for _, v := range []struct {
		suffix string
		width  int64
		dark   bool
	}{{"", 1280, false}, {"-phone", 390, false}, {"-dark", 1280, true}} {
		scheme := "light"
		if v.dark {
			scheme = "dark"
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, 900), colorScheme(scheme)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, page+" at "+fmt.Sprint(v.width)+" px", ready)
		// Charts follow a new width or scheme after a short debounce, and the
		// job page's runs chart on its next poll.
		time.Sleep(2500 * time.Millisecond)
		screenshot(t, ctx, dir, page+v.suffix+".png")
		checkAccessibility(t, ctx, page+v.suffix)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), colorScheme("light")); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardPages drives the overview and the job page in headless
// Chromium against a real server that built one image twice with the real
// Docker daemon: the overview's charts hold the builds (read from the uPlot
// instances' data, not only from a canvas being there) and its images table
// lists the image; each job page shows its five steps, cached ones marked,
// and the image's runs. Every page is
// screenshotted at 1280 px and 390 px, and in the dark scheme, into
// SLIPWAY_ARTIFACTS_DIR (or the test's temporary directory), and checked
// with axe-core.
func TestDashboardPages(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	ctx := browser(t)
	dir := artifacts(t)

	s := e2e.Start(t, map[string]string{"SLIPWAY_WORKERS": "1", "SLIPWAY_LOG_POLL_INTERVAL": "100ms"})
	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN echo one && sleep 1\nRUN echo two && sleep 2\nCOPY Dockerfile /Dockerfile\n",
	})
	name := registry + "/dash/pages-" + testenv.RandomHex(4)
	var ids []string
	for i, noCache := range []bool{true, false} { // the second run takes every step from the cache
		j := s.Submit(t, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"args": map[string]string{"BASE": base}, "no_cache": noCache},
			"image":  map[string]any{"name": name, "tags": []string{fmt.Sprintf("v%d", i)}},
		})
		if got := s.Wait(t, j.ID); got.State != "succeeded" {
			t.Fatalf("job %s: %+v", j.ID, got)
		}
		ids = append(ids, j.ID)
	}

	signIn(t, ctx, s.URL+"/#/overview")
	// The default window is 24 hours in 15-minute buckets.
	waitFor(t, ctx, "the overview's charts with both builds", `typeof charts !== "undefined" && charts.outcomes && charts.duration && charts.queue
		&& charts.outcomes.counts[3].reduce((a, b) => a + (b || 0), 0) === 2
		&& charts.queue.data[0].length === 96`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		points: charts.duration.data[1].filter(v => v != null).length,
		p95: Math.max(...charts.duration.data[2].filter(v => v != null)),
		waits: charts.queue.data[2].filter(v => v != null).length,
		depthNow: charts.queue.data[1][charts.queue.data[1].length - 1],
		failed: charts.outcomes.counts[2].reduce((a, b) => a + b, 0),
		canvases: document.querySelectorAll("#overview canvas").length})`))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Points, Waits, DepthNow, Failed, Canvases int
		P95                                       float64
	}
	if err := json.Unmarshal([]byte(got), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.Points < 1 || chart.P95 <= 0 || chart.Waits < 1 || chart.DepthNow != 0 || chart.Failed != 0 || chart.Canvases != 3 {
		t.Errorf("overview chart data: %s", got)
	}
	waitFor(t, ctx, "the image in the images table", fmt.Sprintf(
		`(document.querySelector('#images tr[data-image=%s] td[data-label=Runs]') || {}).textContent === "2"`, jsString(name)))
	viewports(t, ctx, dir, "overview", `document.querySelectorAll("#overview canvas").length === 3`)

	// The window is selectable; the choice reloads the charts.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#window"), "1h"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("window").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the last hour in minutes", `charts.queue.data[0].length === 60 && charts.outcomes.counts[3].reduce((a, b) => a + (b || 0), 0) === 2`)

	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/#/")); err != nil {
		t.Fatal(err)
	}
	viewports(t, ctx, dir, "list", `document.querySelectorAll("#jobs tbody tr").length === 2`)

	// The job pages: one bar per "Step n/m" line of the log (the Dockerfile's
	// five and the labels Slipway adds), none cached in the first build and
	// the RUN and COPY steps cached in the second; both runs in the image's
	// duration chart.
	n := len(regexp.MustCompile(`(?m)^Step \d+/\d+ : `).FindAllString(s.Log(t, ids[0]), -1))
	if n < 5 {
		t.Fatalf("the first build logged %d steps, want at least the Dockerfile's 5", n)
	}
	steps := func(cached string) string {
		return fmt.Sprintf(`document.querySelectorAll("#steps li").length === %d && document.querySelectorAll('#steps li[data-cached=true]').length %s`+
			` && typeof charts.runs !== "undefined" && charts.runs.data[1].filter(v => v != null).length === 2`, n, cached)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/#/jobs/"+ids[1])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the cached build's timeline", steps(">= 3"))
	screenshot(t, ctx, dir, "job-cached.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/#/jobs/"+ids[0])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first build's timeline", steps("=== 0"))
	names, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#steps .step-name")].slice(0, 5).map(e => e.textContent).join("|")`))
	if err != nil || names != "ARG BASE|FROM ${BASE}|RUN echo one && sleep 1|RUN echo two && sleep 2|COPY Dockerfile /Dockerfile" {
		t.Errorf("step names %q, %v", names, err)
	}
	viewports(t, ctx, dir, "job", `document.getElementById("log-status").textContent.startsWith("Finished") && `+steps("=== 0"))
}
