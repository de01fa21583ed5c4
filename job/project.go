package job

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// Project maps a CI job, plan or repository onto build settings, for
// deliveries that carry no image settings of their own.
type Project struct {
	Name       string            `json:"name" yaml:"name"`
	Repository string            `json:"repository,omitempty" yaml:"repository"`
	Image      string            `json:"image" yaml:"image"`
	Tags       []string          `json:"tags,omitempty" yaml:"tags"` // templates: {{.ShortCommit}}, {{.Commit}}, {{.Branch}}, {{.BuildNumber}}, {{.Job}}
	Dockerfile string            `json:"dockerfile,omitempty" yaml:"dockerfile"`
	Context    string            `json:"context,omitempty" yaml:"context"`
	Target     string            `json:"target,omitempty" yaml:"target"`
	Args       map[string]string `json:"args,omitempty" yaml:"args"`
	Labels     map[string]string `json:"labels,omitempty" yaml:"labels"`
	Push       *bool             `json:"push,omitempty" yaml:"push"`
}

// TagVars are the values a project's tag templates can use.
type TagVars struct {
	Commit      string
	ShortCommit string
	Branch      string
	BuildNumber string
	Job         string // the CI job's full name or plan key, tag-safe: "acme-payments-api-main"
}

var projectNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._/+-]{0,254}$`)

// Validate checks a project's own fields; the spec it produces is validated
// again when a delivery uses it.
func (p *Project) Validate() error {
	v := &ValidationError{}
	if !projectNameRE.MatchString(p.Name) {
		v.add("name", "must be a Jenkins job name, Bamboo plan key or other name of letters, digits, ' ', '.', '_', '/', '+', '-'")
	}
	probe := Spec{
		Source: Source{Repository: p.Repository, Commit: strings.Repeat("0", 40)},
		Build:  Build{Context: p.Context, Dockerfile: p.Dockerfile, Target: p.Target, Args: p.Args, Labels: p.Labels},
		Image:  Image{Name: p.Image, Tags: []string{"probe"}},
	}
	err := probe.Normalize(Policy{GitSchemes: []string{"http", "https", "ssh", "file", "git"}})
	if p.Repository != "" {
		// One spelling per repository, so a delivery's URL matches it.
		p.Repository = probe.Source.Repository
	}
	if err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			for _, f := range verr.Fields {
				switch {
				case f.Field == "source.repository" && p.Repository == "":
				case f.Field == "source.repository":
					v.add("repository", f.Message)
				case f.Field == "image.name":
					v.add("image", f.Message)
				default:
					v.add(strings.TrimPrefix(f.Field, "build."), f.Message)
				}
			}
		}
	}
	if len(p.Tags) > maxTags {
		v.add("tags", "at most 32 tags")
	}
	for _, t := range p.Tags {
		if _, err := parseTag(t); err != nil {
			v.add("tags", quote(t)+" is not a valid tag template: "+err.Error())
		}
	}
	return v.err()
}

// maxTagTemplateLen bounds a tag template; its output is bounded by it and
// by the fields it may name.
const maxTagTemplateLen = 256

// tagFields are the names a tag template may refer to.
var tagFields = []string{"Commit", "ShortCommit", "Branch", "BuildNumber", "Job"}

// tagPart is a piece of a tag template: literal text, or a field's value.
type tagPart struct {
	text  string
	field string
}

// parseTag reads a tag template made of text and field references such as
// {{.ShortCommit}} only: no range, no functions, no pipelines, so rendering
// one costs no more than copying its fields.
func parseTag(t string) ([]tagPart, error) {
	if len(t) > maxTagTemplateLen {
		return nil, fmt.Errorf("longer than %d bytes", maxTagTemplateLen)
	}
	tmpl, err := template.New("tag").Parse(t)
	if err != nil {
		return nil, err
	}
	var parts []tagPart
	if tmpl.Tree == nil {
		return parts, nil
	}
	for _, n := range tmpl.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, tagPart{text: string(n.Text)})
		case *parse.ActionNode:
			f, ok := fieldRef(n.Pipe)
			if !ok {
				return nil, fmt.Errorf("%s: only field references such as {{.ShortCommit}} are allowed (%s)", n, strings.Join(tagFields, ", "))
			}
			parts = append(parts, tagPart{field: f})
		case *parse.CommentNode:
		default:
			return nil, fmt.Errorf("%s: only field references such as {{.ShortCommit}} are allowed (%s)", n, strings.Join(tagFields, ", "))
		}
	}
	return parts, nil
}

// fieldRef returns the field a pipeline names when it is just {{.Field}}.
func fieldRef(p *parse.PipeNode) (string, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 || !slices.Contains(tagFields, f.Ident[0]) {
		return "", false
	}
	return f.Ident[0], true
}

func (v TagVars) field(name string) string {
	switch name {
	case "Commit":
		return v.Commit
	case "ShortCommit":
		return v.ShortCommit
	case "Branch":
		return v.Branch
	case "BuildNumber":
		return v.BuildNumber
	case "Job":
		return v.Job
	}
	return ""
}

// RenderTags expands the project's tag templates. A tag that renders empty is
// dropped, so {{.Branch}} without a branch does not fail the build.
func (p *Project) RenderTags(vars TagVars) ([]string, error) {
	var tags []string
	for _, t := range p.Tags {
		parts, err := parseTag(t)
		if err != nil {
			return nil, &ValidationError{Fields: []FieldError{{Field: "image.tags", Message: "project tag " + quote(t) + " is not a valid tag template: " + err.Error()}}}
		}
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.text)
			b.WriteString(vars.field(p.field))
		}
		// A part left empty ("{{.Branch}}-{{.BuildNumber}}" without a
		// branch) leaves a separator that no tag may start or end with.
		if s := strings.Trim(b.String(), "-."); s != "" {
			tags = append(tags, s)
		}
	}
	return tags, nil
}

// TagSafe turns a branch name into something usable in a tag:
// "origin/feature/x" becomes "feature-x".
func TagSafe(branch string) string {
	branch = strings.TrimPrefix(branch, "refs/heads/")
	branch = strings.TrimPrefix(branch, "origin/")
	var b strings.Builder
	for _, r := range branch {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), ".-")
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}
