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
	pr := detectCI(env(map[string]string{"JENKINS_URL": "https://j/", "GIT_BRANCH": "PR-42", "CHANGE_ID": "42", "JOB_NAME": "acme/api/PR-42"}))
	if pr.branch != "" || pr.job != "acme/api/PR-42" {
		t.Errorf("pull request build: %+v, want no branch", pr)
	}
	branchKey := detectCI(env(map[string]string{"bamboo_buildResultKey": "PAY-API3-17"}))
	if branchKey.job != "PAY-API3" || branchKey.number != "17" {
		t.Errorf("plan branch: %+v", branchKey)
	}
}
