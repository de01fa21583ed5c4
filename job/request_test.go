package job

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// projects is a ProjectFinder over a fixed list, as the store finds them:
// the first name that exists, else a project for the repository.
type projects []Project

func (ps projects) FindProject(_ context.Context, names []string, repository string) (*Project, error) {
	for _, n := range names {
		for i := range ps {
			if ps[i].Name == n {
				return &ps[i], nil
			}
		}
	}
	for i := range ps {
		if repository != "" && ps[i].Repository == repository {
			return &ps[i], nil
		}
	}
	return nil, ErrNotFound
}

func TestResolve(t *testing.T) {
	const (
		repo   = "https://git.example.com/team/app.git"
		commit = "C6D86DC7C9A7CBD1AD7AD3BEF0B17E4C1B3FE4A9"
	)
	no := false
	found := projects{{
		Name: "team/app", Repository: repo, Image: "registry.example.com/team/app",
		Tags: []string{"{{.ShortCommit}}", "{{.Branch}}-{{.BuildNumber}}"}, Dockerfile: "build/Dockerfile",
		Args: map[string]string{"GO": "1.26", "MODE": "release"}, Push: &no,
	}}
	rules := IntakeRules{Policy: Policy{GitSchemes: []string{"https"}}}
	tests := []struct {
		name  string
		d     Delivery
		rules IntakeRules
		check func(t *testing.T, sub Submission)
		// fields, when set, are the fields the ValidationError names.
		fields []string
	}{
		{name: "project by job name fills the rest", d: Delivery{System: SystemJenkins, ID: "team/app#1/7", Branch: "origin/main",
			Projects: []string{"team/app"}, Request: Request{
				Source:  Source{Repository: repo, Commit: commit},
				Build:   Build{Args: map[string]string{"MODE": "debug"}},
				Trigger: Trigger{System: SystemJenkins, BuildNumber: "7"}}},
			check: func(t *testing.T, sub Submission) {
				s := sub.Spec
				if !reflect.DeepEqual(s.Image.Tags, []string{"c6d86dc7c9a7", "main-7"}) || s.Image.Name != "registry.example.com/team/app" {
					t.Errorf("image = %+v, want the project's, tags rendered", s.Image)
				}
				if s.Build.Dockerfile != "build/Dockerfile" || !reflect.DeepEqual(s.Build.Args, map[string]string{"GO": "1.26", "MODE": "debug"}) {
					t.Errorf("build = %+v, want the project's with the request's args winning", s.Build)
				}
				if s.Push || sub.Project != "team/app" || sub.Source != SystemJenkins || sub.DeliveryID != "team/app#1/7" {
					t.Errorf("submission = %+v, want push off from the project, project and delivery recorded", sub)
				}
				if sub.Fingerprint == "" || s.Build.Labels[LabelRevision] != strings.ToLower(commit) {
					t.Errorf("fingerprint %q, labels %v: want a fingerprint and provenance labels", sub.Fingerprint, s.Build.Labels)
				}
			}},
		{name: "project by repository", d: NativeDelivery(SystemAPI, Request{Source: Source{Repository: repo, Commit: commit}}),
			rules: IntakeRules{Policy: rules.Policy, Dedupe: true, Supersede: true},
			check: func(t *testing.T, sub Submission) {
				if sub.Project != "team/app" || sub.BuildKey != BuildKey(sub.Spec) || !sub.Supersede || sub.Fingerprint != "" {
					t.Errorf("submission = %+v, want the repository's project, a build key, supersede, no fingerprint without a delivery id", sub)
				}
			}},
		{name: "complete request needs no project", d: NativeDelivery(SystemBamboo, Request{
			Source: Source{Repository: "https://git.example.com/other.git", Commit: commit}, Image: Image{Name: "other"},
			CallbackURL: "https://bamboo.example.com/cb"}),
			check: func(t *testing.T, sub Submission) {
				if sub.Project != "" || !sub.Spec.Push || sub.Spec.Trigger.System != SystemBamboo || sub.CallbackURL != "https://bamboo.example.com/cb" {
					t.Errorf("submission = %+v, want no project, push on, the endpoint's trigger and the callback", sub)
				}
			}},
		{name: "unknown project named", d: NativeDelivery(SystemAPI, Request{Project: "nope",
			Source: Source{Repository: "https://git.example.com/other.git", Commit: commit}, Image: Image{Name: "x"}}), fields: []string{"project"}},
		{name: "missing with hints", d: Delivery{System: SystemJenkins, Projects: []string{"other"}, MissingHint: " (hint)"},
			fields: []string{"source.repository", "source.commit", "image.name"}},
		{name: "callback with credentials", d: NativeDelivery(SystemAPI, Request{Source: Source{Repository: repo, Commit: commit},
			Image: Image{Name: "x"}, CallbackURL: "https://u:p@ci.example.com/"}), fields: []string{"callback_url"}},
		{name: "callback not http", d: NativeDelivery(SystemAPI, Request{Source: Source{Repository: repo, Commit: commit},
			Image: Image{Name: "x"}, CallbackURL: "javascript:alert(1)"}), fields: []string{"callback_url"}},
		{name: "invalid spec", d: NativeDelivery(SystemAPI, Request{Source: Source{Repository: "ext::sh", Commit: "x"},
			Image: Image{Name: "x"}}), fields: []string{"source.commit", "source.repository"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rules
			if tc.rules.Policy.GitSchemes != nil {
				r = tc.rules
			}
			sub, err := Resolve(context.Background(), tc.d, found, r, time.Unix(0, 0))
			if tc.fields != nil {
				var verr *ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("err = %v, want a ValidationError", err)
				}
				var got []string
				for _, f := range verr.Fields {
					got = append(got, f.Field)
				}
				if !reflect.DeepEqual(got, tc.fields) {
					t.Errorf("fields = %q, want %q", got, tc.fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, sub)
		})
	}
}

// TestResolveMissingHint: what is missing is named with how this source
// supplies it, and a project is suggested when none matched.
func TestResolveMissingHint(t *testing.T) {
	d := Delivery{System: SystemBamboo, Projects: []string{"PROJ-APP"}, MissingHint: " (use the custom template)"}
	_, err := Resolve(context.Background(), d, projects{}, IntakeRules{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "use the custom template") || !strings.Contains(err.Error(), "define a project (PUT /api/v1/projects/{name}) for PROJ-APP") {
		t.Errorf("err = %v, want the source's hint and a project suggestion", err)
	}
}

// TestResolveStoreError: a failing project lookup is an error, not "no
// project".
func TestResolveStoreError(t *testing.T) {
	boom := errors.New("database down")
	_, err := Resolve(context.Background(), Delivery{}, failingFinder{boom}, IntakeRules{}, time.Now())
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
}

type failingFinder struct{ err error }

func (f failingFinder) FindProject(context.Context, []string, string) (*Project, error) {
	return nil, f.err
}
