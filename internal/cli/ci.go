package cli

import "github.com/slipwayci/slipway/job"

// ciBuild is what the CI environment says about the running build.
type ciBuild struct {
	system, repository, commit, branch, job, number, url string
}

// detectCI reads Jenkins' or Bamboo's environment.
func detectCI(getenv func(string) string) ciBuild {
	switch {
	case getenv("bamboo_buildResultKey") != "":
		plan, number := job.SplitBambooResultKey(getenv("bamboo_buildResultKey"))
		if number == "" {
			number = getenv("bamboo_buildNumber")
		}
		return ciBuild{
			system:     "bamboo",
			repository: getenv("bamboo_planRepository_repositoryUrl"),
			commit:     getenv("bamboo_planRepository_revision"),
			branch:     getenv("bamboo_planRepository_branchName"),
			job:        plan,
			number:     number,
			url:        getenv("bamboo_buildResultsUrl"),
		}
	case getenv("JENKINS_URL") != "" || getenv("BUILD_URL") != "":
		return ciBuild{
			system:     "jenkins",
			repository: getenv("GIT_URL"),
			commit:     getenv("GIT_COMMIT"),
			branch:     jenkinsBranch(getenv),
			job:        getenv("JOB_NAME"),
			number:     getenv("BUILD_NUMBER"),
			url:        getenv("BUILD_URL"),
		}
	}
	return ciBuild{system: "api"}
}

// jenkinsBranch is the branch a Jenkins build checked out; a multibranch pull
// request build (CHANGE_ID set) has none: its GIT_BRANCH is the job's name
// ("PR-42") and its commit Jenkins' own merge.
func jenkinsBranch(getenv func(string) string) string {
	if getenv("CHANGE_ID") != "" {
		return ""
	}
	return getenv("GIT_BRANCH")
}
