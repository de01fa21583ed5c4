package job

import (
	"net/url"
	"regexp"
	"strings"
)

// BranchRef turns a branch name as Jenkins and Bamboo report it ("origin/main",
// "refs/remotes/origin/main", "main") into the ref it names. A full ref is
// kept; what is left is for validation to judge.
func BranchRef(branch string) string {
	switch {
	case branch == "":
		return ""
	case strings.HasPrefix(branch, "refs/remotes/origin/"):
		return "refs/heads/" + strings.TrimPrefix(branch, "refs/remotes/origin/")
	case strings.HasPrefix(branch, "refs/"):
		return branch
	}
	return "refs/heads/" + strings.TrimPrefix(branch, "origin/")
}

// JenkinsJob names a Jenkins job the ways Slipway matches it.
type JenkinsJob struct {
	// FullName is the job's path through folders, as Jenkins' JOB_NAME:
	// "acme/payments-api/main".
	FullName string
	// Parent is the multibranch project of a branch or pull request job
	// ("acme/payments-api"); "" for any other job.
	Parent string
	// ChangeRequest is the pull or merge request number of a multibranch
	// pull request job ("42" for "PR-42"); "" otherwise.
	ChangeRequest string
}

// changeRequestRE matches the names multibranch projects give pull
// requests (GitHub, Bitbucket, Gitea: "PR-42") and merge requests (GitLab: "MR-7").
var changeRequestRE = regexp.MustCompile(`^(?:PR|MR)-([0-9]+)$`)

// ParseJenkinsJob reads a job's full name from its URL as the Notification
// plugin sends it (job.getUrl(): "job/acme/job/payments-api/job/main/", or an
// absolute URL) — the plugin's name field is only the last part ("main"). A job
// is taken as a multibranch branch when it sits in a folder and its name is
// the branch it built (Jenkins names branch jobs after their branch) or a pull
// request's ("PR-42"). Without a usable URL the short name is all there is.
func ParseJenkinsJob(jobURL, name, branch string) JenkinsJob {
	parts := jenkinsPath(jobURL)
	if len(parts) == 0 {
		return JenkinsJob{FullName: name}
	}
	j := JenkinsJob{FullName: strings.Join(parts, "/")}
	if len(parts) < 2 {
		return j
	}
	short := parts[len(parts)-1]
	decoded, err := url.PathUnescape(short) // branch jobs encode "/" as %2F
	if err != nil {
		decoded = short
	}
	if m := changeRequestRE.FindStringSubmatch(short); m != nil {
		j.ChangeRequest = m[1]
	}
	branch = strings.TrimPrefix(strings.TrimPrefix(branch, "refs/heads/"), "origin/")
	if j.ChangeRequest != "" || (branch != "" && (branch == short || branch == decoded)) {
		j.Parent = strings.Join(parts[:len(parts)-1], "/")
	}
	return j
}

// jenkinsPath returns the job names along a Jenkins job or build URL, each
// unescaped once as Jenkins escapes them.
func jenkinsPath(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	var names []string
	for i := 0; i < len(segs); i++ {
		if segs[i] != "job" || i+1 >= len(segs) {
			continue
		}
		i++
		name, err := url.PathUnescape(segs[i])
		if err != nil || name == "" {
			return nil
		}
		names = append(names, name)
	}
	return names
}

// ProjectNames lists the project names a Jenkins job matches, best first:
// its full name, then its multibranch project's. A folder job's short name
// is never one of them, so a branch job called "main" cannot take another
// repository's project.
func (j JenkinsJob) ProjectNames() []string {
	names := []string{j.FullName}
	if j.Parent != "" {
		names = append(names, j.Parent)
	}
	return names
}

// SplitBambooResultKey splits a build result key into the plan or job key
// and the build number: "PAY-API3-JOB1-42" gives "PAY-API3-JOB1" and "42".
// A key without a numeric last part is all key.
func SplitBambooResultKey(key string) (string, string) {
	i := strings.LastIndexByte(key, '-')
	if i <= 0 || i == len(key)-1 || strings.Trim(key[i+1:], "0123456789") != "" {
		return key, ""
	}
	return key[:i], key[i+1:]
}

// bambooPlanRE matches a plan key with an optional job key:
// PROJECT-PLAN[-JOB]. Bamboo keys are upper-case letters and digits.
var bambooPlanRE = regexp.MustCompile(`^([A-Z][A-Z0-9]*)-([A-Z][A-Z0-9]*)(?:-([A-Z][A-Z0-9]*))?$`)

// BambooProjectNames lists the project names a Bamboo plan or job key
// matches, best first: the key itself, a job's plan ("PAY-API-JOB1" →
// "PAY-API"), and a plan branch's master plan. Bamboo keys a plan branch as
// its master plan's key plus a number ("PAY-API3" for a branch of
// "PAY-API"), so the number is dropped; a master plan whose own key ends in
// digits still matches first by its full key.
func BambooProjectNames(key string) []string {
	if key == "" {
		return nil
	}
	names := []string{key}
	add := func(n string) {
		for _, have := range names {
			if have == n {
				return
			}
		}
		names = append(names, n)
	}
	m := bambooPlanRE.FindStringSubmatch(key)
	if m == nil {
		return names
	}
	plan := m[1] + "-" + m[2]
	add(plan)
	if master := strings.TrimRight(m[2], "0123456789"); master != m[2] {
		add(m[1] + "-" + master)
	}
	return names
}
