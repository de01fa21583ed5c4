package cli

import "testing"

func TestDetectCI(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	jenkins := detectCI(env(map[string]string{"JENKINS_URL": "https://j/", "GIT_URL": "https://g/a.git", "GIT_COMMIT": "abc",
		"GIT_BRANCH": "origin/main", "JOB_NAME": "team/app", "BUILD_NUMBER": "7", "BUILD_URL": "https://j/job/app/7/"}))
	if want := (ciBuild{"jenkins", "https://g/a.git", "abc", "origin/main", "team/app", "7", "https://j/job/app/7/"}); jenkins != want {
		t.Errorf("jenkins = %+v, want %+v", jenkins, want)
	}
	bamboo := detectCI(env(map[string]string{"bamboo_buildResultKey": "PROJ-APP-JOB1-9", "bamboo_planRepository_repositoryUrl": "https://g/a.git",
		"bamboo_planRepository_revision": "abc", "bamboo_planRepository_branchName": "main", "bamboo_buildResultsUrl": "https://b/browse/PROJ-APP-JOB1-9"}))
	if want := (ciBuild{"bamboo", "https://g/a.git", "abc", "main", "PROJ-APP-JOB1", "9", "https://b/browse/PROJ-APP-JOB1-9"}); bamboo != want {
		t.Errorf("bamboo = %+v, want %+v", bamboo, want)
	}
	if got := detectCI(env(nil)); got.system != "api" {
		t.Errorf("no CI: %+v", got)
	}
	for in, want := range map[string]string{"origin/main": "refs/heads/main", "main": "refs/heads/main", "refs/tags/v1": "refs/tags/v1", "": ""} {
		if got := branchToRef(in); got != want {
			t.Errorf("branchToRef(%q) = %q, want %q", in, got, want)
		}
	}
}
