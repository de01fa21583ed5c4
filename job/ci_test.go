package job

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBranchRef(t *testing.T) {
	tests := map[string]string{
		"":                          "",
		"main":                      "refs/heads/main",
		"origin/main":               "refs/heads/main",
		"origin/feature/x":          "refs/heads/feature/x",
		"refs/remotes/origin/main":  "refs/heads/main",
		"refs/heads/release/1.4":    "refs/heads/release/1.4",
		"refs/tags/v1.0.0":          "refs/tags/v1.0.0",
		"feature/JIRA-12-login-fix": "refs/heads/feature/JIRA-12-login-fix",
	}
	for in, want := range tests {
		if got := BranchRef(in); got != want {
			t.Errorf("BranchRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseJenkinsJob(t *testing.T) {
	tests := []struct {
		name, url, short, branch string
		want                     JenkinsJob
		projects                 []string
	}{
		{"top-level job", "job/app/", "app", "origin/main",
			JenkinsJob{FullName: "app"}, []string{"app"}},
		{"folder job", "job/team/job/app/", "app", "origin/main",
			JenkinsJob{FullName: "team/app"}, []string{"team/app"}},
		{"multibranch branch", "job/acme/job/payments-api/job/main/", "main", "main",
			JenkinsJob{FullName: "acme/payments-api/main", Parent: "acme/payments-api"}, []string{"acme/payments-api/main", "acme/payments-api"}},
		{"multibranch branch with a slash", "job/acme/job/payments-api/job/feature%252Fx/", "feature%2Fx", "feature/x",
			JenkinsJob{FullName: "acme/payments-api/feature%2Fx", Parent: "acme/payments-api"}, []string{"acme/payments-api/feature%2Fx", "acme/payments-api"}},
		{"pull request", "job/acme/job/payments-api/job/PR-42/", "PR-42", "PR-42",
			JenkinsJob{FullName: "acme/payments-api/PR-42", Parent: "acme/payments-api", ChangeRequest: "42"}, []string{"acme/payments-api/PR-42", "acme/payments-api"}},
		{"merge request", "job/acme/job/payments-api/job/MR-7/", "MR-7", "",
			JenkinsJob{FullName: "acme/payments-api/MR-7", Parent: "acme/payments-api", ChangeRequest: "7"}, []string{"acme/payments-api/MR-7", "acme/payments-api"}},
		{"absolute URL under a context path", "https://ci.example.com/jenkins/job/team/job/app/", "app", "",
			JenkinsJob{FullName: "team/app"}, []string{"team/app"}},
		{"space in a folder name", "job/My%20Team/job/app/", "app", "",
			JenkinsJob{FullName: "My Team/app"}, []string{"My Team/app"}},
		{"folder called job", "job/job/job/app/", "app", "",
			JenkinsJob{FullName: "job/app"}, []string{"job/app"}},
		{"no URL", "", "app", "", JenkinsJob{FullName: "app"}, []string{"app"}},
		{"top-level PR-like job", "job/PR-42/", "PR-42", "", JenkinsJob{FullName: "PR-42"}, []string{"PR-42"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseJenkinsJob(tc.url, tc.short, tc.branch)
			if got != tc.want {
				t.Errorf("ParseJenkinsJob(%q, %q, %q) = %+v, want %+v", tc.url, tc.short, tc.branch, got, tc.want)
			}
			if p := got.ProjectNames(); !reflect.DeepEqual(p, tc.projects) {
				t.Errorf("ProjectNames() = %q, want %q", p, tc.projects)
			}
		})
	}
}

func TestBamboo(t *testing.T) {
	tests := []struct {
		result, key, number string
		projects            []string
	}{
		{"PAY-API-17", "PAY-API", "17", []string{"PAY-API"}},
		{"PAY-API3-17", "PAY-API3", "17", []string{"PAY-API3", "PAY-API"}},
		{"PAY-API-JOB1-17", "PAY-API-JOB1", "17", []string{"PAY-API-JOB1", "PAY-API"}},
		{"PAY-API12-JOB1-17", "PAY-API12-JOB1", "17", []string{"PAY-API12-JOB1", "PAY-API12", "PAY-API"}},
		{"PAY-API", "PAY-API", "", []string{"PAY-API"}},
		{"PAY-API-", "PAY-API-", "", []string{"PAY-API-"}},
		{"pay-api-5", "pay-api", "5", []string{"pay-api"}},
		{"", "", "", nil},
	}
	for _, tc := range tests {
		key, number := SplitBambooResultKey(tc.result)
		if key != tc.key || number != tc.number {
			t.Errorf("SplitBambooResultKey(%q) = %q, %q; want %q, %q", tc.result, key, number, tc.key, tc.number)
		}
		if got := BambooProjectNames(key); !reflect.DeepEqual(got, tc.projects) {
			t.Errorf("BambooProjectNames(%q) = %q, want %q", key, got, tc.projects)
		}
	}
}

// jenkinsSeeds reads the job URL, name and branch of every Jenkins payload in
// the server's testdata.
func jenkinsSeeds(f *testing.F) [][3]string {
	f.Helper()
	files, err := filepath.Glob("../server/testdata/jenkins/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no Jenkins fixtures: %v", err)
	}
	var seeds [][3]string
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var n struct {
			Name  string `json:"name"`
			URL   string `json:"url"`
			Build struct {
				SCM struct {
					Branch string `json:"branch"`
				} `json:"scm"`
			} `json:"build"`
		}
		if json.Unmarshal(data, &n) == nil {
			seeds = append(seeds, [3]string{n.URL, n.Name, n.Build.SCM.Branch})
		}
	}
	return seeds
}

func FuzzParseJenkinsJob(f *testing.F) {
	for _, s := range jenkinsSeeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, jobURL, name, branch string) {
		j := ParseJenkinsJob(jobURL, name, branch)
		names := j.ProjectNames()
		if names[0] != j.FullName {
			t.Fatalf("first project name %q is not the full name %q", names[0], j.FullName)
		}
		if j.Parent != "" && !strings.HasPrefix(j.FullName, j.Parent+"/") {
			t.Fatalf("parent %q is not a folder of %q", j.Parent, j.FullName)
		}
		if j.ChangeRequest != "" && j.Parent == "" {
			t.Fatalf("pull request %q outside a multibranch project: %+v", j.ChangeRequest, j)
		}
	})
}

func FuzzBambooKeys(f *testing.F) {
	for _, k := range []string{"PAY-API3-17", "PAY-API-JOB1-17", "PAY-API12-JOB1-17", "PROJ-APP-42", "PAY-API", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, result string) {
		key, number := SplitBambooResultKey(result)
		if number != "" && key+"-"+number != result {
			t.Fatalf("%q split into %q and %q", result, key, number)
		}
		names := BambooProjectNames(key)
		if key != "" && (len(names) == 0 || names[0] != key) {
			t.Fatalf("project names of %q = %q, want the key first", key, names)
		}
		for _, n := range names[min(1, len(names)):] {
			if !strings.HasPrefix(key, n) {
				t.Fatalf("project name %q of %q is not a prefix of it", n, key)
			}
		}
	})
}
