package cli

import "strings"

// ciBuild is what the CI environment says about the running build.
type ciBuild struct {
	system, repository, commit, branch, job, number, url string
}

// detectCI reads Jenkins' or Bamboo's environment.
func detectCI(getenv func(string) string) ciBuild {
	switch {
	case getenv("bamboo_buildResultKey") != "":
		key := getenv("bamboo_buildResultKey")
		plan, number := key, getenv("bamboo_buildNumber")
		if i := strings.LastIndexByte(key, '-'); i > 0 {
			plan, number = key[:i], key[i+1:]
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
			branch:     getenv("GIT_BRANCH"),
			job:        getenv("JOB_NAME"),
			number:     getenv("BUILD_NUMBER"),
			url:        getenv("BUILD_URL"),
		}
	}
	return ciBuild{system: "api"}
}

func branchToRef(branch string) string {
	if branch == "" || strings.HasPrefix(branch, "refs/") {
		return branch
	}
	return "refs/heads/" + strings.TrimPrefix(branch, "origin/")
}
