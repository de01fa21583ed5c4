package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// IntakeStore is what webhook intake and projects need of the store.
type IntakeStore interface {
	Submit(ctx context.Context, sub job.Submission) (*job.Job, bool, error)
	FindProject(ctx context.Context, names []string, repository string) (*job.Project, error)
	PutProject(ctx context.Context, p job.Project) (bool, error)
	Project(ctx context.Context, name string) (*job.Project, error)
	Projects(ctx context.Context) ([]job.Project, error)
	DeleteProject(ctx context.Context, name string) error
	Callbacks(ctx context.Context, jobID string) ([]job.CallbackDelivery, error)
}

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
}

// Option adds an optional part to the Server.
type Option func(*Server)

// WithIntake enables idempotent intake, the Jenkins and Bamboo hooks,
// projects and completion callbacks, backed by store.
func WithIntake(store IntakeStore) Option {
	return func(s *Server) { s.intake = store }
}

// intake is a build request as read from one source, before project defaults.
type intake struct {
	system      string // job.System*: whose delivery ids these are
	deliveryID  string
	req         jobRequest
	branch      string   // for tag templates
	projects    []string // project names to try, best first
	missingHint string   // how this source supplies what is missing
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

// parseNative reads the native build request.
func parseNative(data []byte, system string) (*intake, error) {
	in := &intake{system: system}
	if err := decodeStrict(data, &in.req); err != nil {
		return nil, err
	}
	if in.req.Project != "" {
		in.projects = []string{in.req.Project}
	}
	if in.req.Trigger.System == "" && system != job.SystemAPI {
		in.req.Trigger.System = system
	}
	in.branch = in.req.Source.Ref
	return in, nil
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

// submit resolves in into a job and answers: 202 for a new job, 200 for a
// replayed delivery or a shared identical build.
func (s *Server) submit(c echo.Context, in *intake) error {
	ctx := c.Request().Context()
	if id, err := deliveryHeader(c.Request().Header); err != nil {
		return err
	} else if id != "" {
		in.deliveryID = id
	}
	sub, err := s.resolve(ctx, in, time.Now())
	if err != nil {
		return err
	}
	j, created, err := s.intake.Submit(ctx, sub)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+j.ID)
	if created {
		s.log.InfoContext(ctx, "job queued", "job_id", j.ID, "system", sub.Spec.Trigger.System, "delivery_id", sub.DeliveryID)
		s.supersede(ctx, j)
		return c.JSON(http.StatusAccepted, j)
	}
	// A shared job may have gained a callback.
	s.jobViews.Changed(j.ID)
	return c.JSON(http.StatusOK, j)
}

// resolve fills what the request lacks from its project, validates the
// result and adds provenance labels.
func (s *Server) resolve(ctx context.Context, in *intake, now time.Time) (job.Submission, error) {
	r := in.req
	var proj *job.Project
	if len(in.projects) > 0 || r.Image.Name == "" || r.Source.Repository == "" {
		p, err := s.intake.FindProject(ctx, in.projects, r.Source.Repository)
		switch {
		case err == nil:
			proj = p
		case !errors.Is(err, job.ErrNotFound):
			return job.Submission{}, err
		case r.Project != "":
			return job.Submission{}, &job.ValidationError{Fields: []job.FieldError{{Field: "project", Message: "no project is called " + strconv.Quote(r.Project)}}}
		}
	}
	if proj != nil {
		if err := applyProject(&r, proj, in.branch); err != nil {
			return job.Submission{}, err
		}
	}
	if err := missing(r, in, proj); err != nil {
		return job.Submission{}, err
	}
	spec, err := r.spec(s.cfg.Policy)
	if err != nil {
		return job.Submission{}, err
	}
	if r.CallbackURL != "" {
		if msg := checkCallbackURL(r.CallbackURL); msg != "" {
			return job.Submission{}, &job.ValidationError{Fields: []job.FieldError{{Field: "callback_url", Message: msg}}}
		}
	}
	sub := job.Submission{
		Source:      in.system,
		DeliveryID:  in.deliveryID,
		CallbackURL: r.CallbackURL,
	}
	if in.deliveryID != "" {
		// Only a replay of a delivery is checked against it.
		sub.Fingerprint = job.Fingerprint(spec, r.CallbackURL)
	}
	if s.cfg.Hooks.Dedupe {
		sub.BuildKey = job.BuildKey(spec)
	}
	spec.AddProvenanceLabels(now)
	sub.Spec = spec
	return sub, nil
}

// applyProject fills the request's empty settings from p; what the request
// sets wins.
func applyProject(r *jobRequest, p *job.Project, branch string) error {
	if r.Source.Repository == "" {
		r.Source.Repository = p.Repository
	}
	if r.Image.Name == "" {
		r.Image.Name = p.Image
	}
	if len(r.Image.Tags) == 0 && len(p.Tags) > 0 {
		tags, err := p.RenderTags(job.TagVars{
			Commit:      strings.ToLower(r.Source.Commit),
			ShortCommit: job.ShortCommit(strings.ToLower(r.Source.Commit)),
			Branch:      job.TagSafe(branch),
			BuildNumber: r.Trigger.BuildNumber,
		})
		if err != nil {
			return err
		}
		r.Image.Tags = tags
	}
	if r.Build.Dockerfile == "" {
		r.Build.Dockerfile = p.Dockerfile
	}
	if r.Build.Context == "" {
		r.Build.Context = p.Context
	}
	if r.Build.Target == "" {
		r.Build.Target = p.Target
	}
	r.Build.Args = merge(p.Args, r.Build.Args)
	r.Build.Labels = merge(p.Labels, r.Build.Labels)
	if r.Push == nil {
		r.Push = p.Push
	}
	return nil
}

func merge(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return over
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// missing names each setting neither the delivery nor a project supplied,
// and how to supply it.
func missing(r jobRequest, in *intake, proj *job.Project) error {
	hint := in.missingHint
	if proj == nil {
		names := strings.Join(in.projects, ", ")
		if names == "" {
			names = "its repository"
		}
		hint += "; or define a project (PUT /api/v1/projects/{name}) for " + names
	}
	v := &job.ValidationError{}
	if r.Source.Repository == "" {
		v.Fields = append(v.Fields, job.FieldError{Field: "source.repository", Message: "is missing" + hint})
	}
	if r.Source.Commit == "" {
		v.Fields = append(v.Fields, job.FieldError{Field: "source.commit", Message: "is missing" + in.missingHint})
	}
	if r.Image.Name == "" {
		v.Fields = append(v.Fields, job.FieldError{Field: "image.name", Message: "is missing" + hint})
	}
	if len(v.Fields) > 0 {
		return v
	}
	return nil
}

// checkCallbackURL accepts absolute http(s) URLs without credentials in them.
func checkCallbackURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > 2048 || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an absolute http or https URL of at most 2048 characters"
	case u.User != nil:
		return "must not carry credentials"
	}
	return ""
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
