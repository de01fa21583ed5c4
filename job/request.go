package job

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is a build request as a source sent it, before project defaults:
// the native JSON request, or what a CI system's parser read from its payload.
type Request struct {
	Source         Source  `json:"source"`
	Build          Build   `json:"build"`
	Image          Image   `json:"image"`
	Push           *bool   `json:"push"` // nil: the project's setting, else true
	Trigger        Trigger `json:"trigger"`
	Priority       int     `json:"priority"`
	TimeoutSeconds int     `json:"timeout_seconds"`

	CallbackURL string `json:"callback_url"` // told the outcome when the job ends
	Project     string `json:"project"`      // supplies what the request leaves out
}

// Delivery is one request from one source, with what Resolve needs to know
// about where it came from.
type Delivery struct {
	System  string // System*: whose delivery ids these are
	ID      string // the source's delivery id; "" makes every delivery new
	Request Request
	// Branch feeds tag templates; Projects are the project names to try,
	// best first; MissingHint says how this source supplies what is missing.
	Branch      string
	Projects    []string
	MissingHint string
}

// NativeDelivery is a native request sent to the endpoint of system: it names
// its project itself, and a CI system's endpoint is its default trigger.
func NativeDelivery(system string, r Request) Delivery {
	d := Delivery{System: system, Request: r, Branch: r.Source.Ref}
	if r.Project != "" {
		d.Projects = []string{r.Project}
	}
	if d.Request.Trigger.System == "" && system != SystemAPI {
		d.Request.Trigger.System = system
	}
	return d
}

// IntakeRules are the server's settings that decide what a delivery becomes.
type IntakeRules struct {
	Policy    Policy
	Dedupe    bool // identical in-flight builds share one job
	Supersede bool // a new job cancels older queued ones for its ref and image
}

// ProjectFinder finds the project a delivery builds under: the first of names
// that exists, else one whose repository is repository; ErrNotFound if none.
type ProjectFinder interface {
	FindProject(ctx context.Context, names []string, repository string) (*Project, error)
}

// Resolve turns a delivery into a submission: it fills what the request
// lacks from its project, names what is still missing and how this source can
// supply it, validates the result and adds provenance labels.
func Resolve(ctx context.Context, d Delivery, projects ProjectFinder, rules IntakeRules, now time.Time) (Submission, error) {
	r := d.Request
	var proj *Project
	if len(d.Projects) > 0 || r.Image.Name == "" || r.Source.Repository == "" {
		p, err := projects.FindProject(ctx, d.Projects, r.Source.Repository)
		switch {
		case err == nil:
			proj = p
		case !errors.Is(err, ErrNotFound):
			return Submission{}, err
		case r.Project != "":
			return Submission{}, fieldError("project", "no project is called "+strconv.Quote(r.Project))
		}
	}
	if proj != nil {
		if err := proj.apply(&r, d.Branch); err != nil {
			return Submission{}, err
		}
	}
	if err := missing(r, d, proj); err != nil {
		return Submission{}, err
	}
	spec := Spec{Source: r.Source, Build: r.Build, Image: r.Image, Push: r.Push == nil || *r.Push, Trigger: r.Trigger,
		Priority: r.Priority, TimeoutSeconds: r.TimeoutSeconds}
	if err := spec.Normalize(rules.Policy); err != nil {
		return Submission{}, err
	}
	if d.System == SystemJenkins || d.System == SystemBamboo {
		if err := checkNamespace(spec.Image.Name, proj); err != nil {
			return Submission{}, err
		}
	}
	projectName := ""
	if proj != nil {
		projectName = proj.Name
	}
	if err := checkImageOwner(rules.Policy.ImageOwners, spec.Image.Name, projectName); err != nil {
		return Submission{}, err
	}
	if r.CallbackURL != "" {
		if msg := checkCallbackURL(r.CallbackURL); msg != "" {
			return Submission{}, fieldError("callback_url", msg)
		}
	}
	sub := Submission{
		Source:      d.System,
		DeliveryID:  d.ID,
		CallbackURL: r.CallbackURL,
		Supersede:   rules.Supersede,
	}
	if proj != nil {
		sub.Project = proj.Name
	}
	if d.ID != "" {
		// Only a replay of a delivery is checked against it.
		sub.Fingerprint = Fingerprint(spec, r.CallbackURL)
	}
	if rules.Dedupe {
		sub.BuildKey = BuildKey(spec)
	}
	spec.AddProvenanceLabels(now)
	sub.Spec = spec
	return sub, nil
}

func fieldError(field, msg string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: msg}}}
}

// apply fills the request's empty settings from p; what the request sets wins.
func (p *Project) apply(r *Request, branch string) error {
	if r.Source.Repository == "" {
		r.Source.Repository = p.Repository
	}
	if r.Image.Name == "" {
		r.Image.Name = p.Image
	}
	if len(r.Image.Tags) == 0 && len(p.Tags) > 0 {
		commit := strings.ToLower(r.Source.Commit)
		tags, err := p.RenderTags(TagVars{
			Commit:      commit,
			ShortCommit: ShortCommit(commit),
			Branch:      TagSafe(branch),
			BuildNumber: r.Trigger.BuildNumber,
			Job:         TagSafe(r.Trigger.Job),
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
func missing(r Request, d Delivery, proj *Project) error {
	hint := d.MissingHint
	if proj == nil {
		names := strings.Join(d.Projects, ", ")
		if names == "" {
			names = "its repository"
		}
		hint += "; or define a project (PUT /api/v1/projects/{name}) for " + names
	}
	v := &ValidationError{}
	if r.Source.Repository == "" {
		v.add("source.repository", "is missing"+hint)
	}
	if r.Source.Commit == "" {
		v.add("source.commit", "is missing"+d.MissingHint)
	}
	if r.Image.Name == "" {
		v.add("image.name", "is missing"+hint)
	}
	if len(v.Fields) > 0 {
		return v
	}
	return nil
}

// checkCallbackURL accepts what a trigger URL may be (checkHTTPURL), without
// credentials in it: the URL is stored and shown.
func checkCallbackURL(raw string) string {
	if msg := checkHTTPURL(raw); msg != "" {
		return msg
	}
	if u, _ := url.Parse(raw); u.User != nil {
		return "must not carry credentials"
	}
	return ""
}
