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
// buildResultsUrl. The extension's fields are pointers: absent means the
// stock template, which can never start a build.
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
	RepositoryURL   *string `json:"repositoryUrl"`
	Revision        *string `json:"revision"`
	Branch          *string `json:"branch"`
	BuildResultsURL *string `json:"buildResultsUrl"`
}

const bambooHint = " (Bamboo's Build template sends no repository or commit: use the custom template from docs/bamboo.md, which adds repositoryUrl and revision)"

// bambooStockTemplate says why the stock template cannot work and what to use.
const bambooStockTemplate = `The delivery has no revision: Bamboo's stock Build webhook template carries no repository and no commit, so it can never start a build. ` +
	`Use a custom webhook template that adds "repositoryUrl": "${bamboo.planRepository.repositoryUrl}", "revision": "${bamboo.planRepository.revision}", ` +
	`"branch": "${bamboo.planRepository.branchName}" and "buildResultsUrl": "${bamboo.buildResultsUrl}" to the Build template's payload ` +
	`(see docs/bamboo.md), and attach it to the plan's "All builds completed" notification.`

// parseBamboo reads a delivery to /api/v1/hooks/bamboo: the native request or
// a Bamboo webhook. A non-nil ignored means no build is wanted. What the
// delivery says about itself goes into sum as soon as it is known.
func parseBamboo(data []byte, sum *deliverySummary) (*job.Delivery, *ignored, error) {
	if isNative(data) {
		in, err := parseNative(data, job.SystemBamboo, sum)
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
	planKey, number := job.SplitBambooResultKey(b.BuildResultKey)
	sum.deliveryID, sum.job, sum.buildNumber, sum.commit = w.UUID, planKey, number, substituted(w.Revision)
	if w.Revision == nil {
		return nil, nil, &requestError{status: http.StatusUnprocessableEntity, detail: bambooStockTemplate}
	}
	if st := strings.ToUpper(b.Status); st != "SUCCESS" && st != "SUCCESSFUL" {
		return nil, &ignored{Status: "ignored", Reason: fmt.Sprintf("status %q starts no build: only Successful does", b.Status)}, nil
	}
	branch := substituted(w.Branch)
	in := &job.Delivery{System: job.SystemBamboo, ID: w.UUID, MissingHint: bambooHint, Branch: branch, Projects: job.BambooProjectNames(planKey)}
	r := &in.Request
	r.Source = job.Source{Repository: substituted(w.RepositoryURL), Commit: substituted(w.Revision), Ref: job.BranchRef(branch)}
	r.Trigger = job.Trigger{System: job.SystemBamboo, Job: planKey, BuildNumber: number, URL: substituted(w.BuildResultsURL)}
	return in, nil, nil
}

// substituted drops a template variable Bamboo left as it was because it had
// no value, such as "${bamboo.planRepository.revision}".
func substituted(p *string) string {
	if p == nil {
		return ""
	}
	v := strings.TrimSpace(*p)
	if strings.HasPrefix(v, "${") {
		return ""
	}
	return v
}

func (s *Server) bambooHook(c echo.Context) error {
	rec := deliveryOf(c)
	data, err := readJSONBody(c, s.bodyLimit(c))
	if err != nil {
		return err
	}
	in, skip, err := parseBamboo(data, &rec.summary)
	if err != nil {
		return err
	}
	if skip != nil {
		rec.ignore(skip.Reason)
		return c.JSON(http.StatusAccepted, skip)
	}
	return s.submit(c, in)
}
