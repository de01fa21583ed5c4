package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// HookConfig holds the per-source secrets and the deduplication switch.
// Each list holds the secrets accepted at once (two during a rotation); an
// empty list leaves the endpoint open.
type HookConfig struct {
	NativeSecrets  []string
	JenkinsSecrets []string
	BambooSecrets  []string
	Dedupe         bool // identical in-flight builds share one job
	// Jenkins Notification plugin events that start a build; empty means
	// COMPLETED or FINALIZED with SUCCESS.
	JenkinsPhases   []string
	JenkinsStatuses []string
	// JenkinsPullRequests is PullRequestsIgnore (also when empty) or
	// PullRequestsHead.
	JenkinsPullRequests string
}

// ignored is a delivery that asks for no build, with why.
type ignored struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

const maxDeliveryIDLen = 255

// deliveryHeader returns the delivery id a client chose, if any.
func deliveryHeader(h http.Header) (string, error) {
	id := h.Get("Idempotency-Key")
	if id == "" {
		id = h.Get("webhook-id")
	}
	if len(id) > maxDeliveryIDLen || strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", badRequest("Idempotency-Key and webhook-id must be at most 255 printable characters.")
	}
	return id, nil
}

// parseNative reads the native build request sent to system's endpoint.
func parseNative(data []byte, system string, sum *deliverySummary) (*job.Delivery, error) {
	var r job.Request
	if err := decodeStrict(data, &r); err != nil {
		return nil, err
	}
	sum.job, sum.buildNumber, sum.commit = r.Trigger.Job, r.Trigger.BuildNumber, r.Source.Commit
	d := job.NativeDelivery(system, r)
	return &d, nil
}

// isNative tells the native request from a CI system's own payload.
func isNative(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["source"]
	return ok
}

// decodeLenient decodes a CI system's payload, which carries many fields
// Slipway does not use; a type mismatch in a field it does use is still an error.
func decodeLenient(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		return badRequest(describeJSONError(err))
	}
	return nil
}

// submit is the one way a job is created: it resolves the delivery into a
// submission (job.Resolve) and stores it, and answers 202 for a new job, 200
// for a replayed delivery or a shared identical build.
func (s *Server) submit(c echo.Context, d *job.Delivery) error {
	ctx := c.Request().Context()
	rec := deliveryOf(c)
	if id, err := deliveryHeader(c.Request().Header); err != nil {
		return err
	} else if id != "" {
		d.ID = id
	}
	rec.summary.deliveryID = d.ID
	sub, err := job.Resolve(ctx, *d, s.jobs, s.rules, time.Now())
	if err != nil {
		return err
	}
	res, err := s.jobs.Submit(ctx, sub)
	if err != nil {
		return err
	}
	j := res.Job
	rec.jobID = j.ID
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+j.ID)
	if !res.Created {
		// A shared job may have gained a callback.
		s.jobViews.Changed(j.ID)
		return c.JSON(http.StatusOK, j)
	}
	s.log.InfoContext(ctx, "job queued", "job_id", j.ID, "system", sub.Spec.Trigger.System, "delivery_id", sub.DeliveryID)
	if res.Superseded > 0 {
		// Which jobs were canceled is not known here.
		s.jobViews.dropAll()
		s.log.InfoContext(ctx, "superseded older queued jobs", "job_id", j.ID, "count", res.Superseded)
	}
	return c.JSON(http.StatusAccepted, j)
}

// redactURL keeps a callback URL's origin only: its path may be a capability
// token, as Jenkins' registerWebhook URLs are.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
