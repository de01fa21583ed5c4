package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// jenkinsNotification is the Jenkins Notification plugin's JSON: its JobState,
// BuildState and ScmState serialised by Gson with lower_case_with_underscores
// names, null fields left out. Only the fields Slipway reads are listed.
type jenkinsNotification struct {
	Name  string `json:"name"` // job.getName(): the last part of the job's path only
	URL   string `json:"url"`  // job.getUrl(): "job/<folder>/job/<name>/"
	Build *struct {
		FullURL    string         `json:"full_url"` // absent when Jenkins has no root URL configured
		Number     int64          `json:"number"`
		QueueID    int64          `json:"queue_id"`
		Phase      string         `json:"phase"`
		Status     string         `json:"status"` // absent until the result is known
		URL        string         `json:"url"`
		Parameters map[string]any `json:"parameters"` // the non-sensitive build parameters
		SCM        struct {
			URL    string `json:"url"`    // GIT_URL
			Branch string `json:"branch"` // GIT_BRANCH: "origin/main", or the branch job's name in multibranch
			Commit string `json:"commit"` // GIT_COMMIT: for a pull request, Jenkins' local merge commit
		} `json:"scm"`
	} `json:"build"`
}

const jenkinsHint = " (the Notification plugin sends build.scm.url and build.scm.commit when the job checks out with the Git plugin; a build parameter SLIPWAY_IMAGE names the image)"

// Pull request builds of multibranch projects.
const (
	PullRequestsIgnore = "ignore" // not built: Jenkins built a merge commit the remote does not have
	PullRequestsHead   = "head"   // built from the head commit the build parameter SLIPWAY_COMMIT gives
)

// jenkinsRule says which Notification plugin events start a build.
type jenkinsRule struct {
	phases, statuses []string // upper case
	pullRequests     string
}

var defaultJenkinsRule = jenkinsRule{phases: []string{"COMPLETED", "FINALIZED"}, statuses: []string{"SUCCESS"}, pullRequests: PullRequestsIgnore}

// parseJenkins reads a delivery to /api/v1/hooks/jenkins: the native request
// (as the HTTP Request plugin or slipway submit send it) or a Notification
// plugin event. A non-nil ignored means no build is wanted. What the delivery
// says about itself goes into sum as soon as it is known, for the deliveries
// log.
func parseJenkins(data []byte, rule jenkinsRule, sum *deliverySummary) (*job.Delivery, *ignored, error) {
	if isNative(data) {
		in, err := parseNative(data, job.SystemJenkins, sum)
		return in, nil, err
	}
	var n jenkinsNotification
	if err := decodeLenient(data, &n); err != nil {
		return nil, nil, err
	}
	if n.Build == nil {
		return nil, nil, badRequest("The body is neither a build request (source, image) nor a Jenkins Notification plugin event (name, build); set the endpoint's format to JSON.")
	}
	b := n.Build
	jobURL := n.URL
	if jobURL == "" {
		jobURL = b.URL
	}
	j := job.ParseJenkinsJob(jobURL, n.Name, b.SCM.Branch)
	sum.job, sum.commit = j.FullName, b.SCM.Commit
	if b.Number != 0 {
		sum.buildNumber = fmt.Sprint(b.Number)
	}
	if b.QueueID != 0 || b.Number != 0 {
		// COMPLETED and FINALIZED of one build are one delivery.
		sum.deliveryID = fmt.Sprintf("%s#%d/%d", j.FullName, b.QueueID, b.Number)
	}
	if !slices.Contains(rule.phases, strings.ToUpper(b.Phase)) {
		return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("phase %q starts no build: only %s do", b.Phase, strings.Join(rule.phases, ", "))}, nil
	}
	if !slices.Contains(rule.statuses, strings.ToUpper(b.Status)) {
		return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("status %q starts no build: only %s do", b.Status, strings.Join(rule.statuses, ", "))}, nil
	}
	param := func(name string) string {
		if v, ok := b.Parameters[name].(string); ok {
			return strings.TrimSpace(v)
		}
		return ""
	}
	branch := strings.TrimPrefix(b.SCM.Branch, "origin/")
	source := job.Source{Repository: b.SCM.URL, Commit: b.SCM.Commit, Ref: job.BranchRef(b.SCM.Branch)}
	if j.ChangeRequest != "" {
		head := param("SLIPWAY_COMMIT")
		switch {
		case rule.pullRequests != PullRequestsHead:
			return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("pull request build %s: Jenkins built its own merge commit, which the repository does not have; "+
				"to build the pull request's head set SLIPWAY_JENKINS_PULL_REQUESTS=head and pass the head commit as build parameter SLIPWAY_COMMIT", j.FullName)}, nil
		case head == "":
			return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("pull request build %s names no head commit: pass it as build parameter SLIPWAY_COMMIT "+
				"(Jenkins' merge commit does not exist in the repository)", j.FullName)}, nil
		}
		// The head has no branch of its own in the repository.
		source.Commit, source.Ref = head, ""
		sum.commit = head
	}
	in := &job.Delivery{System: job.SystemJenkins, ID: sum.deliveryID, MissingHint: jenkinsHint, Branch: branch, Projects: j.ProjectNames()}
	r := &in.Request
	r.Source = source
	r.Image.Name = param("SLIPWAY_IMAGE")
	for _, t := range strings.Split(param("SLIPWAY_TAGS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.Image.Tags = append(r.Image.Tags, t)
		}
	}
	r.Build.Dockerfile = param("SLIPWAY_DOCKERFILE")
	r.Build.Context = param("SLIPWAY_CONTEXT")
	r.Build.Target = param("SLIPWAY_TARGET")
	r.Trigger = job.Trigger{System: job.SystemJenkins, Job: j.FullName, BuildNumber: sum.buildNumber, URL: b.FullURL}
	return in, nil, nil
}

func (s *Server) jenkinsHook(c echo.Context) error {
	rec := deliveryOf(c)
	data, err := readJSONBody(c, s.bodyLimit(c))
	if err != nil {
		return err
	}
	rule := defaultJenkinsRule
	if len(s.cfg.Hooks.JenkinsPhases) > 0 {
		rule.phases = upper(s.cfg.Hooks.JenkinsPhases)
	}
	if len(s.cfg.Hooks.JenkinsStatuses) > 0 {
		rule.statuses = upper(s.cfg.Hooks.JenkinsStatuses)
	}
	if s.cfg.Hooks.JenkinsPullRequests != "" {
		rule.pullRequests = s.cfg.Hooks.JenkinsPullRequests
	}
	in, skip, err := parseJenkins(data, rule, &rec.summary)
	if err != nil {
		return err
	}
	if skip != nil {
		rec.ignore(skip.Reason)
		return c.JSON(http.StatusAccepted, skip)
	}
	return s.submit(c, in)
}

func upper(list []string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = strings.ToUpper(v)
	}
	return out
}
