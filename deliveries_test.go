package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipwayci/slipway/internal/e2e"
)

type deliveryView struct {
	ID          int64  `json:"id"`
	Endpoint    string `json:"endpoint"`
	System      string `json:"system"`
	DeliveryID  string `json:"delivery_id"`
	Outcome     string `json:"outcome"`
	Status      int    `json:"status"`
	Reason      string `json:"reason"`
	Job         string `json:"job"`
	BuildNumber string `json:"build_number"`
	Commit      string `json:"commit"`
	JobID       string `json:"job_id"`
}

type deliveryPage struct {
	Deliveries []deliveryView `json:"deliveries"`
	Next       *string        `json:"next"`
}

// waitDeliveries polls the deliveries log until it holds n records: they are
// written after the answers.
func waitDeliveries(t *testing.T, slip *e2e.Slipway, n int) []deliveryView {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page deliveryPage
		a := slip.Get(t, "/api/v1/deliveries?limit=200")
		if a.Status != 200 {
			t.Fatalf("GET /api/v1/deliveries: %d %s", a.Status, a.Body)
		}
		if err := json.Unmarshal(a.Body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Deliveries) >= n || time.Now().After(deadline) {
			if len(page.Deliveries) != n {
				t.Fatalf("%d deliveries recorded, want %d: %s", len(page.Deliveries), n, a.Body)
			}
			return page.Deliveries
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPipelineDeliveries: what Jenkins and Bamboo really send becomes the
// right project's build — a folder job, a multibranch branch job, a Bamboo
// plan branch — and what cannot (a pull request build, Bamboo's stock
// template, a wrong secret) is visible with its reason in the deliveries log.
func TestPipelineDeliveries(t *testing.T) {
	slip := e2e.Start(t, hookEnv(nil))
	projects := map[string]string{
		"team%2Fapp": `{"image": "registry.example.com/team/app", "tags": ["{{.BuildNumber}}"]}`,
		"acme%2Fpayments-api": `{"repository": "https://git.example.com/acme/payments-api.git", "image": "registry.example.com/acme/payments-api",
			"tags": ["{{.Branch}}-{{.BuildNumber}}", "{{.Job}}"]}`,
		// Named like every multibranch project's main branch job: must never catch them.
		"main":    `{"repository": "https://git.example.com/other/repo.git", "image": "registry.example.com/other/repo"}`,
		"PAY-API": `{"image": "registry.example.com/acme/payments-bamboo", "tags": ["{{.Branch}}"]}`,
	}
	for name, body := range projects {
		if a := slip.Do(t, http.MethodPut, "/api/v1/projects/"+name, []byte(body), e2e.Bearer(nativeSecret)); a.Status != 201 {
			t.Fatalf("PUT project %s: %d %s", name, a.Status, a.Body)
		}
	}

	jh, bh := e2e.Bearer(jenkinsSecret), e2e.Bearer(bambooSecret)
	built := []struct {
		name, path, fixture, image, tags, job string
	}{
		{"folder job", "/api/v1/hooks/jenkins", "jenkins/notification-no-parameters.json", "registry.example.com/team/app", "18", "team/app"},
		{"multibranch branch job", "/api/v1/hooks/jenkins", "jenkins/multibranch-main.json", "registry.example.com/acme/payments-api",
			"main-31,acme-payments-api-main", "acme/payments-api/main"},
		{"Bamboo plan branch", "/api/v1/hooks/bamboo", "bamboo/plan-branch.json", "registry.example.com/acme/payments-bamboo", "feature-login", "PAY-API3"},
	}
	jobIDs := map[string]string{}
	for _, b := range built {
		h := jh
		if strings.Contains(b.path, "bamboo") {
			h = bh
		}
		a := slip.Do(t, http.MethodPost, b.path, readFixture(t, b.fixture), h)
		if a.Status != 202 {
			t.Fatalf("%s: %d %s, want 202", b.name, a.Status, a.Body)
		}
		j := slip.Job(t, a.JobID(t))
		if j.Image.Name != b.image || strings.Join(j.Image.Tags, ",") != b.tags || j.Trigger.Job != b.job {
			t.Errorf("%s: image %+v, trigger job %q; want %s:%s for %s", b.name, j.Image, j.Trigger.Job, b.image, b.tags, b.job)
		}
		jobIDs[b.job] = j.ID
	}

	pr := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/multibranch-pr.json"), jh)
	if pr.Status != 202 || !bytes.Contains(pr.Body, []byte(`"ignored"`)) {
		t.Errorf("pull request build: %d %s, want 202 ignored", pr.Status, pr.Body)
	}
	stock := slip.Do(t, http.MethodPost, "/api/v1/hooks/bamboo", readFixture(t, "bamboo/build-default-template.json"), bh)
	if stock.Status != 422 {
		t.Errorf("stock Bamboo template: %d %s, want 422", stock.Status, stock.Body)
	}
	wrong := slip.Do(t, http.MethodPost, "/api/v1/hooks/jenkins", readFixture(t, "jenkins/multibranch-main.json"), e2e.Bearer("not-the-secret"))
	if wrong.Status != 401 {
		t.Errorf("wrong secret: %d, want 401", wrong.Status)
	}
	if n := slip.CountJobs(t); n != 3 {
		t.Errorf("%d jobs, want 3", n)
	}

	got := waitDeliveries(t, slip, 6) // project PUTs are not deliveries
	want := []struct {
		system, outcome, job, reason string
		status                       int
	}{
		{"jenkins", "refused", "", "401", 401},
		{"bamboo", "refused", "PROJ-APP-JOB1", "${bamboo.planRepository.revision}", 422},
		{"jenkins", "ignored", "acme/payments-api/PR-42", "SLIPWAY_JENKINS_PULL_REQUESTS=head", 202},
		{"bamboo", "created", "PAY-API3", "", 202},
		{"jenkins", "created", "acme/payments-api/main", "", 202},
		{"jenkins", "created", "team/app", "", 202},
	}
	for i, w := range want {
		d := got[i]
		if d.System != w.system || d.Outcome != w.outcome || d.Job != w.job || d.Status != w.status || !strings.Contains(d.Reason, w.reason) {
			t.Errorf("delivery %d = %+v\nwant %+v", i, d, w)
		}
		if w.outcome == "created" && (d.JobID != jobIDs[w.job] || d.Commit != testCommit || d.DeliveryID == "") {
			t.Errorf("delivery %d: job %q commit %q id %q; want job %s", i, d.JobID, d.Commit, d.DeliveryID, jobIDs[w.job])
		}
	}
	if d := got[2]; d.Commit != "5f0e3b9d2a1c4e6f8a7b9c0d1e2f3a4b5c6d7e8f" || d.BuildNumber != "2" || d.DeliveryID != "acme/payments-api/PR-42#2231/2" {
		t.Errorf("pull request summary = %+v", d)
	}

	// Filters, keyset pages and ETags as on the other lists.
	a := slip.Get(t, "/api/v1/deliveries?outcome=ignored&system=jenkins")
	var page deliveryPage
	if err := json.Unmarshal(a.Body, &page); err != nil || len(page.Deliveries) != 1 || page.Next != nil {
		t.Errorf("ignored Jenkins deliveries: %s", a.Body)
	}
	a = slip.Get(t, "/api/v1/deliveries?job_id="+jobIDs["PAY-API3"])
	if err := json.Unmarshal(a.Body, &page); err != nil || len(page.Deliveries) != 1 || page.Deliveries[0].Job != "PAY-API3" {
		t.Errorf("deliveries of a job: %s", a.Body)
	}
	var seen []int64
	next := "/api/v1/deliveries?limit=3"
	for next != "" {
		a = slip.Get(t, next)
		page = deliveryPage{}
		if err := json.Unmarshal(a.Body, &page); err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Deliveries {
			seen = append(seen, d.ID)
		}
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
	}
	if len(seen) != len(got) || seen[0] != got[0].ID || seen[len(seen)-1] != got[len(got)-1].ID {
		t.Errorf("paged ids %v, want the %d deliveries in order", seen, len(got))
	}
	a = slip.Get(t, "/api/v1/deliveries")
	etag := a.Header.Get("ETag")
	h := e2e.Bearer(e2e.AdminToken)
	h.Set("If-None-Match", etag)
	if again := slip.Do(t, http.MethodGet, "/api/v1/deliveries", nil, h); etag == "" || again.Status != 304 {
		t.Errorf("If-None-Match %q: %d, want 304", etag, again.Status)
	}
	if a := slip.Get(t, "/api/v1/deliveries?outcome=lost"); a.Status != 400 {
		t.Errorf("unknown outcome: %d, want 400", a.Status)
	}
	all := slip.Get(t, "/api/v1/deliveries")
	for _, secret := range []string{jenkinsSecret, bambooSecret, nativeSecret, "not-the-secret"} {
		if bytes.Contains(all.Body, []byte(secret)) || strings.Contains(slip.Logs(), secret) {
			t.Errorf("a secret reached the deliveries log or the server log")
		}
	}

	// The dashboard's Deliveries page shows the same, reasons included.
	ctx := browser(t)
	dir := artifacts(t)
	signIn(t, ctx, slip.URL+"/#/deliveries")
	waitFor(t, ctx, "the deliveries table", `document.querySelectorAll('#deliveries-table tbody tr').length === 6`)
	for _, d := range got {
		row := fmt.Sprintf(`document.querySelector('tr[data-delivery="%d"]')`, d.ID)
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](row+`.innerText`))
		if err != nil || !strings.Contains(text, d.Outcome) || (d.Reason != "" && !strings.Contains(text, firstLine(d.Reason))) {
			t.Errorf("row of delivery %d (%s) = %q, %v", d.ID, d.Outcome, text, err)
		}
		if d.JobID != "" {
			if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](row+`.querySelector('a').getAttribute('href')`)); href != "#/jobs/"+d.JobID {
				t.Errorf("delivery %d links %q, want its job", d.ID, href)
			}
		}
	}
	// Screenshots at 1280 px, 390 px and in the dark scheme, each checked with axe-core.
	viewports(t, ctx, dir, "deliveries", `document.querySelectorAll('#deliveries-table tbody tr').length === 6`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#deliveries-outcome"), "refused")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('deliveries-outcome').dispatchEvent(new Event('change'))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "only refused deliveries", `(() => { const rows = [...document.querySelectorAll('#deliveries-table tbody tr')];
		return rows.length === 2 && rows.every(r => r.querySelector('[data-outcome="refused"]')); })()`)
}

// firstLine is the part of a reason a table row surely shows whole.
func firstLine(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}
