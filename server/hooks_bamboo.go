package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// bambooWebhook is Bamboo's Build webhook template, extended by the custom
// template in docs/bamboo.md with repositoryUrl, revision, branch and
// buildResultsUrl.
type bambooWebhook struct {
	UUID         string          `json:"uuid"`
	Timestamp    json.RawMessage `json:"timestamp"`
	Notification json.RawMessage `json:"notification"`
	Webhook      json.RawMessage `json:"webhook"`
	Build        *struct {
		BuildResultKey  string `json:"buildResultKey"`
		Status          string `json:"status"`
		BuildPlanName   string `json:"buildPlanName"`
		TriggerReason   string `json:"triggerReason"`
		TriggerSentence string `json:"triggerSentence"`
	} `json:"build"`
	RepositoryURL   string `json:"repositoryUrl"`
	Revision        string `json:"revision"`
	Branch          string `json:"branch"`
	BuildResultsURL string `json:"buildResultsUrl"`
}

const bambooHint = " (Bamboo's Build template sends no repository or commit: use the custom template from docs/bamboo.md, which adds repositoryUrl and revision)"

// parseBamboo reads a delivery to /api/v1/hooks/bamboo: the native request or
// a Bamboo webhook. A non-nil ignored means no build is wanted.
func parseBamboo(data []byte) (*job.Delivery, *ignored, error) {
	if isNative(data) {
		in, err := parseNative(data, job.SystemBamboo)
		return in, nil, err
	}
	var w bambooWebhook
	if err := decodeLenient(data, &w); err != nil {
		return nil, nil, err
	}
	if w.Build == nil {
		return nil, nil, badRequest("The body is neither a build request (source, image) nor a Bamboo webhook (uuid, build).")
	}
	b := w.Build
	if st := strings.ToUpper(b.Status); st != "SUCCESS" && st != "SUCCESSFUL" {
		return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("status %q starts no build: only SUCCESS does", b.Status)}, nil
	}
	in := &job.Delivery{System: job.SystemBamboo, ID: w.UUID, MissingHint: bambooHint, Branch: substituted(w.Branch)}
	planKey, number := splitResultKey(b.BuildResultKey)
	in.Projects = planKeys(planKey)
	r := &in.Request
	r.Source = job.Source{Repository: substituted(w.RepositoryURL), Commit: substituted(w.Revision), Ref: branchRef(substituted(w.Branch))}
	r.Trigger = job.Trigger{System: job.SystemBamboo, Job: planKey, BuildNumber: number, URL: substituted(w.BuildResultsURL)}
	return in, nil, nil
}

// substituted drops a template variable Bamboo left as it was because it had
// no value, such as "${bamboo.planRepository.revision}".
func substituted(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "${") {
		return ""
	}
	return v
}

// splitResultKey splits "PROJ-PLAN-JOB1-42" into "PROJ-PLAN-JOB1" and "42".
func splitResultKey(key string) (string, string) {
	i := strings.LastIndexByte(key, '-')
	if i <= 0 || strings.Trim(key[i+1:], "0123456789") != "" || i == len(key)-1 {
		return key, ""
	}
	return key[:i], key[i+1:]
}

// planKeys lists the project names a Bamboo key can match: the job's key
// ("PROJ-PLAN-JOB1") first, then its plan's ("PROJ-PLAN").
func planKeys(key string) []string {
	if key == "" {
		return nil
	}
	keys := []string{key}
	if parts := strings.Split(key, "-"); len(parts) > 2 {
		keys = append(keys, parts[0]+"-"+parts[1])
	}
	return keys
}

func (s *Server) bambooHook(c echo.Context) error {
	data, err := readJSONBody(c, s.bodyLimit(c))
	if err != nil {
		return err
	}
	in, skip, err := parseBamboo(data)
	if err != nil {
		return err
	}
	if skip != nil {
		return c.JSON(http.StatusAccepted, skip)
	}
	return s.submit(c, in)
}
