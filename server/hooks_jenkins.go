package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// jenkinsNotification is the Jenkins Notification plugin's JSON (Gson,
// lower_case_with_underscores). Only the fields Slipway reads are listed.
type jenkinsNotification struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Build *struct {
		FullURL    string         `json:"full_url"`
		Number     int64          `json:"number"`
		QueueID    int64          `json:"queue_id"`
		Phase      string         `json:"phase"`
		Status     string         `json:"status"`
		URL        string         `json:"url"`
		Parameters map[string]any `json:"parameters"`
		SCM        struct {
			URL    string `json:"url"`
			Branch string `json:"branch"`
			Commit string `json:"commit"`
		} `json:"scm"`
	} `json:"build"`
}

const jenkinsHint = " (the Notification plugin sends build.scm.url and build.scm.commit when the job checks out with the Git plugin; a build parameter SLIPWAY_IMAGE names the image)"

// jenkinsRule says which Notification plugin events start a build.
type jenkinsRule struct {
	phases, statuses []string // upper case
}

var defaultJenkinsRule = jenkinsRule{phases: []string{"COMPLETED", "FINALIZED"}, statuses: []string{"SUCCESS"}}

// parseJenkins reads a delivery to /api/v1/hooks/jenkins: the native request
// or a Notification plugin event. A non-nil ignored means no build is wanted.
func parseJenkins(data []byte, rule jenkinsRule) (*job.Delivery, *ignored, error) {
	if isNative(data) {
		in, err := parseNative(data, job.SystemJenkins)
		return in, nil, err
	}
	var n jenkinsNotification
	if err := decodeLenient(data, &n); err != nil {
		return nil, nil, err
	}
	if n.Build == nil {
		return nil, nil, badRequest("The body is neither a build request (source, image) nor a Jenkins Notification plugin event (name, build).")
	}
	b := n.Build
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
	in := &job.Delivery{System: job.SystemJenkins, MissingHint: jenkinsHint, Branch: b.SCM.Branch}
	if b.QueueID != 0 || b.Number != 0 {
		in.ID = fmt.Sprintf("%s#%d/%d", n.Name, b.QueueID, b.Number)
	}
	if n.Name != "" {
		in.Projects = []string{n.Name}
	}
	r := &in.Request
	r.Source = job.Source{Repository: b.SCM.URL, Commit: b.SCM.Commit, Ref: branchRef(b.SCM.Branch)}
	r.Image.Name = param("SLIPWAY_IMAGE")
	for _, t := range strings.Split(param("SLIPWAY_TAGS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.Image.Tags = append(r.Image.Tags, t)
		}
	}
	r.Build.Dockerfile = param("SLIPWAY_DOCKERFILE")
	r.Build.Context = param("SLIPWAY_CONTEXT")
	r.Build.Target = param("SLIPWAY_TARGET")
	r.Trigger = job.Trigger{System: job.SystemJenkins, Job: n.Name, URL: b.FullURL}
	if b.Number != 0 {
		r.Trigger.BuildNumber = fmt.Sprint(b.Number)
	}
	return in, nil, nil
}

// branchRef turns Jenkins' and Bamboo's branch names ("origin/main",
// "main") into a ref; anything else is left for validation to judge.
func branchRef(branch string) string {
	switch {
	case branch == "":
		return ""
	case strings.HasPrefix(branch, "refs/"):
		return branch
	}
	return "refs/heads/" + strings.TrimPrefix(branch, "origin/")
}

func (s *Server) jenkinsHook(c echo.Context) error {
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
	in, skip, err := parseJenkins(data, rule)
	if err != nil {
		return err
	}
	if skip != nil {
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
