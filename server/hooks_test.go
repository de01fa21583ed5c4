package server

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/job"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtures(t testing.TB, dir string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = fixture(t, filepath.Join(dir, filepath.Base(n)))
	}
	return out
}

const sha = "c6d86dc7c9a7cbd1ad7ad3bef0b17e4c1b3fe4a9"

func TestParseJenkins(t *testing.T) {
	folderParams := job.Request{
		Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
		Build:   job.Build{Dockerfile: "build/Dockerfile", Context: ".", Target: "runtime"},
		Image:   job.Image{Name: "registry.example.com/team/app", Tags: []string{"1.4.0", "latest"}},
		Trigger: job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
	}
	payments := "https://git.example.com/acme/payments-api.git"
	tests := []struct {
		file       string
		rule       func(*jenkinsRule)
		ignored    string // part of the reason
		deliveryID string
		branch     string
		req        job.Request
		projects   []string
		summary    deliverySummary
	}{
		{file: "notification-completed.json", deliveryID: "team/app#1207/18", branch: "main", projects: []string{"team/app"}, req: folderParams,
			summary: deliverySummary{"team/app#1207/18", "team/app", "18", sha}},
		{file: "notification-finalized.json", deliveryID: "team/app#1207/18", branch: "main", projects: []string{"team/app"}, req: folderParams},
		{file: "notification-no-parameters.json", deliveryID: "team/app#1207/18", branch: "main", projects: []string{"team/app"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
		}},
		{file: "notification-top-level.json", deliveryID: "app#311/7", branch: "main", projects: []string{"app"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "jenkins", Job: "app", BuildNumber: "7"},
		}},
		{file: "multibranch-main.json", deliveryID: "acme/payments-api/main#2210/31", branch: "main",
			projects: []string{"acme/payments-api/main", "acme/payments-api"}, req: job.Request{
				Source:  job.Source{Repository: payments, Commit: sha, Ref: "refs/heads/main"},
				Trigger: job.Trigger{System: "jenkins", Job: "acme/payments-api/main", BuildNumber: "31", URL: "https://jenkins.example.com/job/acme/job/payments-api/job/main/31/"},
			}},
		{file: "multibranch-feature.json", deliveryID: "acme/payments-api/feature%2Flogin#2214/4", branch: "feature/login",
			projects: []string{"acme/payments-api/feature%2Flogin", "acme/payments-api"}, req: job.Request{
				Source: job.Source{Repository: payments, Commit: sha, Ref: "refs/heads/feature/login"},
				Trigger: job.Trigger{System: "jenkins", Job: "acme/payments-api/feature%2Flogin", BuildNumber: "4",
					URL: "https://jenkins.example.com/job/acme/job/payments-api/job/feature%252Flogin/4/"},
			}},
		{file: "multibranch-pr.json", ignored: "SLIPWAY_JENKINS_PULL_REQUESTS=head",
			summary: deliverySummary{"acme/payments-api/PR-42#2231/2", "acme/payments-api/PR-42", "2", "5f0e3b9d2a1c4e6f8a7b9c0d1e2f3a4b5c6d7e8f"}},
		{file: "multibranch-pr.json", rule: func(r *jenkinsRule) { r.pullRequests = PullRequestsHead }, ignored: "names no head commit"},
		{file: "notification-started.json", ignored: `phase "STARTED"`},
		{file: "notification-queued.json", ignored: `phase "QUEUED"`},
		{file: "notification-failure.json", ignored: `status "FAILURE"`},
		{file: "native.json", branch: "refs/heads/main", req: job.Request{
			Source:      job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Image:       job.Image{Name: "registry.example.com/team/app", Tags: []string{"18"}},
			Trigger:     job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
			CallbackURL: "https://jenkins.example.com/webhook-step/5e1c0b0f7a2d4c7e9d1f",
		}, summary: deliverySummary{"", "team/app", "18", sha}},
		{file: "http-request.json", branch: "refs/heads/main", req: job.Request{
			Source:      job.Source{Repository: payments, Commit: sha, Ref: "refs/heads/main"},
			Image:       job.Image{Name: "registry.example.com/acme/payments-api", Tags: []string{"31"}},
			Trigger:     job.Trigger{System: "jenkins", Job: "acme/payments-api/main", BuildNumber: "31", URL: "https://jenkins.example.com/job/acme/job/payments-api/job/main/31/"},
			CallbackURL: "https://jenkins.example.com/webhook-step/5e1c0b0f7a2d4c7e9d1f",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rule := defaultJenkinsRule
			if tc.rule != nil {
				tc.rule(&rule)
			}
			var sum deliverySummary
			in, skip, err := parseJenkins(fixture(t, "jenkins/"+tc.file), rule, &sum)
			if err != nil {
				t.Fatal(err)
			}
			if tc.summary != (deliverySummary{}) && sum != tc.summary {
				t.Errorf("summary = %+v, want %+v", sum, tc.summary)
			}
			if tc.ignored != "" {
				if skip == nil || !strings.Contains(skip.Reason, tc.ignored) {
					t.Fatalf("want ignored with a reason naming %q, got %+v %+v", tc.ignored, in, skip)
				}
				return
			}
			if skip != nil {
				t.Fatalf("ignored: %s", skip.Reason)
			}
			if !reflect.DeepEqual(in.Request, tc.req) {
				t.Errorf("request = %+v\nwant      %+v", in.Request, tc.req)
			}
			if in.ID != tc.deliveryID || !reflect.DeepEqual(in.Projects, tc.projects) || in.Branch != tc.branch {
				t.Errorf("delivery %q projects %q branch %q, want %q %q %q", in.ID, in.Projects, in.Branch, tc.deliveryID, tc.projects, tc.branch)
			}
		})
	}
}

// TestJenkinsPullRequestHead: with pull requests built from their head, the
// head commit the build parameter gives is built, without a branch ref.
func TestJenkinsPullRequestHead(t *testing.T) {
	const head = "0123456789abcdef0123456789abcdef01234567"
	body := bytes.Replace(fixture(t, "jenkins/multibranch-pr.json"), []byte(`"log":""`),
		[]byte(`"parameters":{"SLIPWAY_COMMIT":"`+head+`"},"log":""`), 1)
	rule := defaultJenkinsRule
	rule.pullRequests = PullRequestsHead
	var sum deliverySummary
	in, skip, err := parseJenkins(body, rule, &sum)
	if err != nil || skip != nil {
		t.Fatalf("parse: %v %+v", err, skip)
	}
	if in.Request.Source.Commit != head || in.Request.Source.Ref != "" || sum.commit != head {
		t.Errorf("source = %+v, summary commit %q; want the head commit and no ref", in.Request.Source, sum.commit)
	}
	if _, skip, _ := parseJenkins(body, defaultJenkinsRule, &sum); skip == nil {
		t.Error("a pull request build was built by default")
	}
}

func TestParseBamboo(t *testing.T) {
	tests := []struct {
		file       string
		ignored    bool
		refused    string // part of the problem
		deliveryID string
		req        job.Request
		projects   []string
		summary    deliverySummary
	}{
		{file: "build-custom-template.json", deliveryID: "2c5e9b57-5d8c-4c2d-9d4e-0d6f8a4cf3a1", projects: []string{"PROJ-APP"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "bamboo", Job: "PROJ-APP", BuildNumber: "42", URL: "https://bamboo.example.com/browse/PROJ-APP-42"},
		}, summary: deliverySummary{"2c5e9b57-5d8c-4c2d-9d4e-0d6f8a4cf3a1", "PROJ-APP", "42", sha}},
		{file: "plan-branch.json", deliveryID: "6a1f3c9e-2b7d-4e05-9c8a-1d2e3f4a5b6c", projects: []string{"PAY-API3", "PAY-API"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/acme/payments-api.git", Commit: sha, Ref: "refs/heads/feature/login"},
			Trigger: job.Trigger{System: "bamboo", Job: "PAY-API3", BuildNumber: "17", URL: "https://bamboo.example.com/browse/PAY-API3-17"},
		}},
		{file: "build-default-template.json", refused: "${bamboo.planRepository.revision}",
			summary: deliverySummary{"8f0a3d2e-1b4c-4e57-a9d2-63c1f0e4b7aa", "PROJ-APP-JOB1", "43", ""}},
		{file: "build-unsubstituted.json", deliveryID: "0d3c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d", projects: []string{"PROJ-APP"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "bamboo", Job: "PROJ-APP", BuildNumber: "42", URL: "https://bamboo.example.com/browse/PROJ-APP-42"},
		}},
		{file: "build-failed.json", ignored: true},
		{file: "native.json", req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Image:   job.Image{Name: "registry.example.com/team/app"},
			Trigger: job.Trigger{System: "bamboo", Job: "PROJ-APP", BuildNumber: "42", URL: "https://bamboo.example.com/browse/PROJ-APP-42"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var sum deliverySummary
			in, skip, err := parseBamboo(fixture(t, "bamboo/"+tc.file), &sum)
			if tc.summary != (deliverySummary{}) && sum != tc.summary {
				t.Errorf("summary = %+v, want %+v", sum, tc.summary)
			}
			if tc.refused != "" {
				p := problemFor(err)
				if p.Status != 422 || !strings.Contains(p.Detail, tc.refused) || !strings.Contains(p.Detail, "All builds completed") {
					t.Fatalf("want 422 naming %q and the event, got %d %q", tc.refused, p.Status, p.Detail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ignored {
				if skip == nil || skip.Reason == "" {
					t.Fatalf("want ignored with a reason, got %+v %+v", in, skip)
				}
				return
			}
			if skip != nil {
				t.Fatalf("ignored: %s", skip.Reason)
			}
			if !reflect.DeepEqual(in.Request, tc.req) {
				t.Errorf("request = %+v\nwant      %+v", in.Request, tc.req)
			}
			if in.ID != tc.deliveryID || !reflect.DeepEqual(in.Projects, tc.projects) {
				t.Errorf("delivery %q projects %q, want %q %q", in.ID, in.Projects, tc.deliveryID, tc.projects)
			}
		})
	}
}

func TestParseRejectsOtherJSON(t *testing.T) {
	for _, body := range []string{`{}`, `{"name": "x"}`, `{"build": "x"}`, `{"source": {}, "extra": 1}`} {
		if _, _, err := parseJenkins([]byte(body), defaultJenkinsRule, &deliverySummary{}); err == nil {
			t.Errorf("parseJenkins(%s): no error", body)
		}
		if _, _, err := parseBamboo([]byte(body), &deliverySummary{}); err == nil {
			t.Errorf("parseBamboo(%s): no error", body)
		}
	}
	if _, _, err := parseJenkins([]byte(`{"build": {"number": "x"}}`), defaultJenkinsRule, &deliverySummary{}); err == nil {
		t.Error("parseJenkins accepted a build number that is a string")
	}
}

// checkParsed holds for every parse: an error, an ignored event with a
// reason, or an intake of the right system.
func checkParsed(t *testing.T, system string, in *job.Delivery, skip *ignored, err error) {
	t.Helper()
	switch {
	case err != nil:
		if problemFor(err).Status >= 500 {
			t.Fatalf("parse error maps to %d: %v", problemFor(err).Status, err)
		}
	case skip != nil:
		if skip.Reason == "" {
			t.Fatal("ignored without a reason")
		}
	case in == nil:
		t.Fatal("no intake, no error, not ignored")
	case in.System != system:
		t.Fatalf("system = %q, want %q", in.System, system)
	}
}

func FuzzParseJenkins(f *testing.F) {
	for _, b := range fixtures(f, "jenkins") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, skip, err := parseJenkins(data, defaultJenkinsRule, &deliverySummary{})
		checkParsed(t, job.SystemJenkins, in, skip, err)
	})
}

func FuzzParseBamboo(f *testing.F) {
	for _, b := range fixtures(f, "bamboo") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, skip, err := parseBamboo(data, &deliverySummary{})
		checkParsed(t, job.SystemBamboo, in, skip, err)
	})
}

func TestJenkinsRule(t *testing.T) {
	unstable := bytes.Replace(fixture(t, "jenkins/notification-completed.json"), []byte(`"SUCCESS"`), []byte(`"UNSTABLE"`), 1)
	if _, skip, err := parseJenkins(unstable, defaultJenkinsRule, &deliverySummary{}); err != nil || skip == nil {
		t.Errorf("UNSTABLE with the default rule: skip %v, err %v; want ignored", skip, err)
	}
	rule := jenkinsRule{phases: []string{"COMPLETED"}, statuses: []string{"SUCCESS", "UNSTABLE"}, pullRequests: PullRequestsIgnore}
	if in, skip, err := parseJenkins(unstable, rule, &deliverySummary{}); err != nil || skip != nil || in == nil {
		t.Errorf("UNSTABLE allowed: skip %v, err %v; want a build", skip, err)
	}
	if _, skip, _ := parseJenkins(fixture(t, "jenkins/notification-finalized.json"), rule, &deliverySummary{}); skip == nil {
		t.Error("FINALIZED built although only COMPLETED is allowed")
	}
}
