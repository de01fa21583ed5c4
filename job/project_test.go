package job

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRenderTags(t *testing.T) {
	p := Project{Tags: []string{"{{.ShortCommit}}", "{{.Branch}}-{{.BuildNumber}}", "{{.Branch}}", "{{.Job}}", "latest"}}
	tests := []struct {
		vars TagVars
		want []string
	}{
		{TagVars{ShortCommit: "c6d86dc7c9a7", Branch: "main", BuildNumber: "42", Job: "acme-payments-api-main"},
			[]string{"c6d86dc7c9a7", "main-42", "main", "acme-payments-api-main", "latest"}},
		{TagVars{ShortCommit: "c6d86dc7c9a7"}, []string{"c6d86dc7c9a7", "latest"}},
		{TagVars{ShortCommit: "c6d86dc7c9a7", BuildNumber: "7"}, []string{"c6d86dc7c9a7", "7", "latest"}},
	}
	for _, tc := range tests {
		got, err := p.RenderTags(tc.vars)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RenderTags(%+v) = %q, %v; want %q", tc.vars, got, err, tc.want)
		}
	}
	bad := Project{Tags: []string{"{{.Nope}}"}}
	var verr *ValidationError
	if _, err := bad.RenderTags(TagVars{}); !errors.As(err, &verr) {
		t.Errorf("unknown field: %v, want a ValidationError", err)
	}
}

func TestTagSafe(t *testing.T) {
	tests := map[string]string{
		"main":                   "main",
		"origin/main":            "main",
		"refs/heads/feature/x":   "feature-x",
		"origin/feature/JIRA-12": "feature-JIRA-12",
		".hidden":                "hidden",
		"a b@c":                  "a-b-c",
		strings.Repeat("x", 200): strings.Repeat("x", 128),
	}
	for in, want := range tests {
		if got := TagSafe(in); got != want {
			t.Errorf("TagSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProjectValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      Project
		fields []string
	}{
		{"minimal", Project{Name: "PROJ-APP", Image: "registry.example.com/team/app"}, nil},
		{"folder job", Project{Name: "team/app", Image: "team/app", Repository: "https://git.example.com/a.git", Tags: []string{"{{.ShortCommit}}"}}, nil},
		{"empty", Project{}, []string{"image", "name"}},
		{"bad parts", Project{Name: "-x", Image: "Bad Image:tag", Context: "../up", Tags: []string{"{{.X"}}, []string{"context", "image", "name", "tags"}},
		{"bad repository", Project{Name: "x", Image: "x", Repository: "ext::sh"}, []string{"repository"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			var got []string
			var verr *ValidationError
			if errors.As(err, &verr) {
				for _, f := range verr.Fields {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.fields) {
				t.Errorf("fields = %q, want %q (%v)", got, tc.fields, err)
			}
		})
	}
}

func TestBuildKeyAndFingerprint(t *testing.T) {
	base := Spec{
		Source: Source{Repository: "https://git.example.com/a.git", Commit: strings.Repeat("a", 40)},
		Build:  Build{Context: ".", Dockerfile: "Dockerfile", Args: map[string]string{"A": "1", "B": "2"}},
		Image:  Image{Name: "example.com/a", Tags: []string{"x"}},
		Push:   true,
	}
	other := base
	other.Trigger = Trigger{System: SystemBamboo, Job: "PROJ-A"}
	other.Build.Labels = map[string]string{"team": "core"}
	other.Build.Args = map[string]string{"B": "2", "A": "1"}
	if BuildKey(base) != BuildKey(other) {
		t.Error("triggers and labels changed the build key")
	}
	if Fingerprint(base, "") == Fingerprint(other, "") {
		t.Error("a different trigger kept the fingerprint")
	}
	if Fingerprint(base, "") == Fingerprint(base, "https://cb.example.com/") {
		t.Error("a callback URL did not change the fingerprint")
	}
	changed := base
	changed.Build.Target = "runtime"
	if BuildKey(base) == BuildKey(changed) {
		t.Error("a different target kept the build key")
	}
}

func TestAddProvenanceLabels(t *testing.T) {
	s := Spec{
		Source:  Source{Repository: "https://user:pw@git.example.com/a.git", Commit: strings.Repeat("b", 40)},
		Build:   Build{Labels: map[string]string{LabelCreated: "kept"}},
		Trigger: Trigger{URL: "https://ci.example.com/job/a/1/"},
	}
	s.AddProvenanceLabels(testTime)
	want := map[string]string{
		LabelSource:   "https://git.example.com/a.git",
		LabelRevision: strings.Repeat("b", 40),
		LabelCreated:  "kept",
		LabelBuildURL: "https://ci.example.com/job/a/1/",
	}
	if !reflect.DeepEqual(s.Build.Labels, want) {
		t.Errorf("labels = %v, want %v", s.Build.Labels, want)
	}
}

var testTime = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

// hostileTagTemplates parse as text/template but do work or allocate beyond
// copying a field; a project naming one is refused at PUT.
var hostileTagTemplates = []string{
	"{{range .}}{{range .}}x{{end}}{{end}}",
	`{{range $i, $e := "abcdefgh"}}{{range $j, $f := "abcdefgh"}}{{.}}{{end}}{{end}}`,
	`{{printf "%0999999999d" 1}}`,
	`{{.Commit | printf "%s"}}`,
	`{{printf "%s" .Commit}}`,
	`{{$x := .Commit}}{{$x}}`,
	`{{if .Branch}}{{.Branch}}{{end}}`,
	`{{with .Branch}}x{{end}}`,
	`{{define "t"}}{{template "t"}}{{end}}{{template "t"}}`,
	`{{block "b" .}}x{{end}}`,
	`{{.Commit.Len}}`,
	`{{.Nope}}`,
	`{{.}}`,
	`{{"literal"}}`,
	`{{len .Commit}}`,
	strings.Repeat("{{.Commit}}", 30),
}

func TestTagTemplatesAreFieldReferencesOnly(t *testing.T) {
	for _, tmpl := range hostileTagTemplates {
		p := Project{Name: "app", Image: "registry.example.com/app", Tags: []string{tmpl}}
		var verr *ValidationError
		if err := p.Validate(); !errors.As(err, &verr) || verr.Fields[0].Field != "tags" {
			t.Errorf("Validate(tags %q) = %v, want a tags error", tmpl, err)
		}
		done := make(chan error, 1)
		go func() { _, err := p.RenderTags(TagVars{Commit: strings.Repeat("a", 40)}); done <- err }()
		select {
		case err := <-done:
			if !errors.As(err, &verr) {
				t.Errorf("RenderTags(%q) = %v, want a ValidationError", tmpl, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("RenderTags(%q) still running after 5s", tmpl)
		}
	}
	ok := Project{Name: "app", Image: "registry.example.com/app", Tags: []string{"v{{.BuildNumber}}-{{.ShortCommit}}{{/* note */}}"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := ok.RenderTags(TagVars{ShortCommit: "abc", BuildNumber: "7"})
	if err != nil || !reflect.DeepEqual(got, []string{"v7-abc"}) {
		t.Errorf("RenderTags = %q, %v; want [v7-abc]", got, err)
	}
}

// FuzzTagTemplate checks that any template Validate accepts renders to at
// most its own length plus its fields' values.
func FuzzTagTemplate(f *testing.F) {
	for _, s := range append(hostileTagTemplates, "{{.ShortCommit}}", "{{.Branch}}-{{.BuildNumber}}", "latest", "{{.X") {
		f.Add(s)
	}
	vars := TagVars{Commit: strings.Repeat("c", 40), ShortCommit: "cccccccccccc", Branch: "main", BuildNumber: "12345"}
	f.Fuzz(func(t *testing.T, tmpl string) {
		p := Project{Name: "app", Image: "registry.example.com/app", Tags: []string{tmpl}}
		if p.Validate() != nil {
			return
		}
		tags, err := p.RenderTags(vars)
		if err != nil {
			t.Fatalf("accepted template %q does not render: %v", tmpl, err)
		}
		for _, tag := range tags {
			if len(tag) > len(tmpl)*len(vars.Commit) {
				t.Fatalf("template %q rendered %d bytes", tmpl, len(tag))
			}
		}
	})
}
