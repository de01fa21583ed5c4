package job

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const sha = "9758e831a53ebc6581e6245d9b711ee436954b7d"

func validSpec() Spec {
	return Spec{
		Source: Source{Repository: "https://git.example.com/org/app.git", Commit: sha},
		Image:  Image{Name: "registry.example.com/org/app"},
		Push:   true,
	}
}

var policy = Policy{GitSchemes: []string{"https"}}

func TestNormalizeDefaults(t *testing.T) {
	s := validSpec()
	s.Image.Name = "app"
	if err := s.Normalize(policy); err != nil {
		t.Fatal(err)
	}
	if s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
		t.Errorf("context, dockerfile = %q, %q; want ., Dockerfile", s.Build.Context, s.Build.Dockerfile)
	}
	if !slices.Equal(s.Image.Tags, []string{sha[:12]}) {
		t.Errorf("tags = %v, want the short commit", s.Image.Tags)
	}
	if s.Image.Name != "docker.io/library/app" {
		t.Errorf("image name = %q, want it normalized", s.Image.Name)
	}
	if s.Trigger.System != SystemAPI {
		t.Errorf("trigger.system = %q, want api", s.Trigger.System)
	}
	if got := s.References(); !slices.Equal(got, []string{"docker.io/library/app:" + sha[:12]}) {
		t.Errorf("References() = %v", got)
	}

	s = validSpec()
	s.Build.Context = "services/api/"
	if err := s.Normalize(policy); err != nil {
		t.Fatal(err)
	}
	if s.Build.Context != "services/api" || s.Build.Dockerfile != "services/api/Dockerfile" {
		t.Errorf("context, dockerfile = %q, %q", s.Build.Context, s.Build.Dockerfile)
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Spec)
		field string
	}{
		{"NoRepository", func(s *Spec) { s.Source.Repository = "" }, "source.repository"},
		{"RelativeRepository", func(s *Spec) { s.Source.Repository = "org/app" }, "source.repository"},
		{"OptionAsRepository", func(s *Spec) { s.Source.Repository = "--upload-pack=touch /tmp/pwn" }, "source.repository"},
		{"ExtProtocol", func(s *Spec) { s.Source.Repository = "ext::sh -c touch% /tmp/pwn" }, "source.repository"},
		{"SSHProxyCommand", func(s *Spec) { s.Source.Repository = "ssh://-oProxyCommand=touch /tmp/pwn/x" }, "source.repository"},
		{"FileNotAllowed", func(s *Spec) { s.Source.Repository = "file:///etc" }, "source.repository"},
		{"ControlCharInRepository", func(s *Spec) { s.Source.Repository = "https://h/x\n" }, "source.repository"},
		{"NoCommit", func(s *Spec) { s.Source.Commit = "" }, "source.commit"},
		{"ShortCommit", func(s *Spec) { s.Source.Commit = "9758e83" }, "source.commit"},
		{"OptionAsCommit", func(s *Spec) { s.Source.Commit = "--upload-pack=touch /tmp/pwn" }, "source.commit"},
		{"BranchAsCommit", func(s *Spec) { s.Source.Commit = "main" }, "source.commit"},
		{"RefWithDots", func(s *Spec) { s.Source.Ref = "refs/heads/../x" }, "source.ref"},
		{"RefAsOption", func(s *Spec) { s.Source.Ref = "-h" }, "source.ref"},
		{"ContextParent", func(s *Spec) { s.Build.Context = ".." }, "build.context"},
		{"ContextAbsolute", func(s *Spec) { s.Build.Context = "/etc" }, "build.context"},
		{"ContextEncoded", func(s *Spec) { s.Build.Context = "%2e%2e" }, "build.context"},
		{"ContextNested", func(s *Spec) { s.Build.Context = "a/../../b" }, "build.context"},
		{"DockerfileParent", func(s *Spec) { s.Build.Dockerfile = "../../etc/passwd" }, "build.dockerfile"},
		{"DockerfileAbsolute", func(s *Spec) { s.Build.Dockerfile = "/etc/passwd" }, "build.dockerfile"},
		{"DockerfileBackslash", func(s *Spec) { s.Build.Dockerfile = "..\\Dockerfile" }, "build.dockerfile"},
		{"DockerfileDot", func(s *Spec) { s.Build.Dockerfile = "." }, "build.dockerfile"},
		{"BadTarget", func(s *Spec) { s.Build.Target = "--x" }, "build.target"},
		{"BadArgName", func(s *Spec) { s.Build.Args = map[string]string{"1X": "v"} }, "build.args"},
		{"BadLabelName", func(s *Spec) { s.Build.Labels = map[string]string{"a b": "v"} }, "build.labels"},
		{"NoImage", func(s *Spec) { s.Image.Name = "" }, "image.name"},
		{"UppercaseImage", func(s *Spec) { s.Image.Name = "Registry/App" }, "image.name"},
		{"TaggedImage", func(s *Spec) { s.Image.Name = "app:1" }, "image.name"},
		{"DigestImage", func(s *Spec) { s.Image.Name = "app@sha256:" + strings.Repeat("a", 64) }, "image.name"},
		{"JobLocalImageName", func(s *Spec) { s.Image.Name = "slipway.invalid/jobs/0190a0b4-0000-7000-8000-000000000000" }, "image.name"},
		{"BadTag", func(s *Spec) { s.Image.Tags = []string{"-latest"} }, "image.tags"},
		{"LongTag", func(s *Spec) { s.Image.Tags = []string{strings.Repeat("a", 129)} }, "image.tags"},
		{"DuplicateTag", func(s *Spec) { s.Image.Tags = []string{"a", "a"} }, "image.tags"},
		{"UnknownSystem", func(s *Spec) { s.Trigger.System = "gitlab" }, "trigger.system"},
		{"JavascriptURL", func(s *Spec) { s.Trigger.URL = "javascript:alert(1)" }, "trigger.url"},
		{"DataURL", func(s *Spec) { s.Trigger.URL = "data:text/html,x" }, "trigger.url"},
		{"RelativeURL", func(s *Spec) { s.Trigger.URL = "/job/1" }, "trigger.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.edit(&s)
			err := s.Normalize(policy)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Normalize() = %v, want a ValidationError", err)
			}
			if !slices.ContainsFunc(verr.Fields, func(f FieldError) bool { return strings.HasPrefix(f.Field, tt.field) }) {
				t.Errorf("errors %+v do not name %s", verr.Fields, tt.field)
			}
		})
	}
}

func TestNormalizeAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"Minimal", func(*Spec) {}},
		{"UppercaseCommit", func(s *Spec) { s.Source.Commit = strings.ToUpper(sha) }},
		{"SHA256Commit", func(s *Spec) { s.Source.Commit = strings.Repeat("ab", 32) }},
		{"RegistryWithPort", func(s *Spec) { s.Image.Name = "127.0.0.1:5000/org/app" }},
		{"DockerfileOutsideContext", func(s *Spec) { s.Build.Context = "app"; s.Build.Dockerfile = "docker/app.Dockerfile" }},
		{"FullTrigger", func(s *Spec) {
			s.Trigger = Trigger{System: SystemBamboo, Job: "PROJ-PLAN", BuildNumber: "7", URL: "https://bamboo.example.com/browse/PROJ-PLAN-7"}
		}},
		{"ArgsAndLabels", func(s *Spec) {
			s.Build.Args = map[string]string{"GO_VERSION": "1.26", "_x": ""}
			s.Build.Labels = map[string]string{"org.opencontainers.image.title": "app"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.edit(&s)
			if err := s.Normalize(policy); err != nil {
				t.Fatalf("Normalize() = %v", err)
			}
		})
	}
}
