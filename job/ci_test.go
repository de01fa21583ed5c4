package job

import (
	"reflect"
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
