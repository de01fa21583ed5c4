package server

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
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
	tests := []struct {
		file       string
		ignored    bool
		deliveryID string
		req        job.Request
		projects   []string
	}{
		{file: "notification-completed.json", deliveryID: "team/app#1207/18", projects: []string{"team/app"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Build:   job.Build{Dockerfile: "build/Dockerfile", Context: ".", Target: "runtime"},
			Image:   job.Image{Name: "registry.example.com/team/app", Tags: []string{"1.4.0", "latest"}},
			Trigger: job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
		}},
		{file: "notification-finalized.json", deliveryID: "team/app#1207/18", projects: []string{"team/app"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Build:   job.Build{Dockerfile: "build/Dockerfile", Context: ".", Target: "runtime"},
			Image:   job.Image{Name: "registry.example.com/team/app", Tags: []string{"1.4.0", "latest"}},
			Trigger: job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
		}},
		{file: "notification-no-parameters.json", deliveryID: "team/app#1207/18", projects: []string{"team/app"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
		}},
		{file: "notification-started.json", ignored: true},
		{file: "notification-failure.json", ignored: true},
		{file: "native.json", req: job.Request{
			Source:      job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Image:       job.Image{Name: "registry.example.com/team/app", Tags: []string{"18"}},
			Trigger:     job.Trigger{System: "jenkins", Job: "team/app", BuildNumber: "18", URL: "https://jenkins.example.com/job/team/job/app/18/"},
			CallbackURL: "https://jenkins.example.com/webhook-step/5e1c0b0f7a2d4c7e9d1f",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in, skip, err := parseJenkins(fixture(t, "jenkins/"+tc.file), defaultJenkinsRule)
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

func TestParseBamboo(t *testing.T) {
	tests := []struct {
		file       string
		ignored    bool
		deliveryID string
		req        job.Request
		projects   []string
	}{
		{file: "build-custom-template.json", deliveryID: "2c5e9b57-5d8c-4c2d-9d4e-0d6f8a4cf3a1", projects: []string{"PROJ-APP"}, req: job.Request{
			Source:  job.Source{Repository: "https://git.example.com/team/app.git", Commit: sha, Ref: "refs/heads/main"},
			Trigger: job.Trigger{System: "bamboo", Job: "PROJ-APP", BuildNumber: "42", URL: "https://bamboo.example.com/browse/PROJ-APP-42"},
		}},
		{file: "build-default-template.json", deliveryID: "8f0a3d2e-1b4c-4e57-a9d2-63c1f0e4b7aa", projects: []string{"PROJ-APP-JOB1", "PROJ-APP"}, req: job.Request{
			Trigger: job.Trigger{System: "bamboo", Job: "PROJ-APP-JOB1", BuildNumber: "43"},
		}},
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
			in, skip, err := parseBamboo(fixture(t, "bamboo/"+tc.file))
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
		if _, _, err := parseJenkins([]byte(body), defaultJenkinsRule); err == nil {
			t.Errorf("parseJenkins(%s): no error", body)
		}
		if _, _, err := parseBamboo([]byte(body)); err == nil {
			t.Errorf("parseBamboo(%s): no error", body)
		}
	}
	if _, _, err := parseJenkins([]byte(`{"build": {"number": "x"}}`), defaultJenkinsRule); err == nil {
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
		in, skip, err := parseJenkins(data, defaultJenkinsRule)
		checkParsed(t, job.SystemJenkins, in, skip, err)
	})
}

func FuzzParseBamboo(f *testing.F) {
	for _, b := range fixtures(f, "bamboo") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, skip, err := parseBamboo(data)
		checkParsed(t, job.SystemBamboo, in, skip, err)
	})
}

func TestSplitResultKey(t *testing.T) {
	tests := []struct{ key, plan, number string }{
		{"PROJ-APP-42", "PROJ-APP", "42"},
		{"PROJ-APP-JOB1-7", "PROJ-APP-JOB1", "7"},
		{"PROJ-APP", "PROJ-APP", ""},
		{"PROJ-", "PROJ-", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		if p, n := splitResultKey(tc.key); p != tc.plan || n != tc.number {
			t.Errorf("splitResultKey(%q) = %q, %q; want %q, %q", tc.key, p, n, tc.plan, tc.number)
		}
	}
}

func TestJenkinsRule(t *testing.T) {
	unstable := bytes.Replace(fixture(t, "jenkins/notification-completed.json"), []byte(`"SUCCESS"`), []byte(`"UNSTABLE"`), 1)
	if _, skip, err := parseJenkins(unstable, defaultJenkinsRule); err != nil || skip == nil {
		t.Errorf("UNSTABLE with the default rule: skip %v, err %v; want ignored", skip, err)
	}
	rule := jenkinsRule{phases: []string{"COMPLETED"}, statuses: []string{"SUCCESS", "UNSTABLE"}}
	if in, skip, err := parseJenkins(unstable, rule); err != nil || skip != nil || in == nil {
		t.Errorf("UNSTABLE allowed: skip %v, err %v; want a build", skip, err)
	}
	if _, skip, _ := parseJenkins(fixture(t, "jenkins/notification-finalized.json"), rule); skip == nil {
		t.Error("FINALIZED built although only COMPLETED is allowed")
	}
}
