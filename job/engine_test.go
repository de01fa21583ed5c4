package job

import (
	"errors"
	"strings"
	"testing"
)

func TestEngineFields(t *testing.T) {
	known := func(id string) bool { return id == "npm_token" || id == "deploy" }
	p := Policy{GitSchemes: []string{"https"}, KnownSecret: known, RegistryHosts: []string{"registry.example.com"}}
	tests := []struct {
		name  string
		edit  func(*Spec)
		field string // "" when valid
		msg   string
	}{
		{"DefaultAuto", func(s *Spec) {}, "", ""},
		{"Classic", func(s *Spec) { s.Build.Engine = EngineClassic }, "", ""},
		{"UnknownEngine", func(s *Spec) { s.Build.Engine = "kaniko" }, "build.engine", "must be one of auto, classic, buildkit"},
		{"SecretsNeedBuildKit", func(s *Spec) { s.Build.Engine = EngineClassic; s.Build.Secrets = []string{"npm_token"} }, "build.engine", "build.secrets needs BuildKit"},
		{"KnownSecretAndKey", func(s *Spec) { s.Build.Secrets = []string{"npm_token"}; s.Build.SSH = []string{"deploy"} }, "", ""},
		{"UnknownSecret", func(s *Spec) { s.Build.Secrets = []string{"npm_token", "aws_key"} }, "build.secrets", `unknown id "aws_key"`},
		{"UnknownKey", func(s *Spec) { s.Build.SSH = []string{"default"} }, "build.ssh", `unknown id "default"`},
		{"SecretPath", func(s *Spec) { s.Build.Secrets = []string{"../etc/passwd"} }, "build.secrets", "is not a valid id"},
		{"SecretTwice", func(s *Spec) { s.Build.Secrets = []string{"npm_token", "npm_token"} }, "build.secrets", "listed twice"},
		{"CustomNetworkUnderBuildKit", func(s *Spec) { s.Build.Engine = EngineBuildKit; s.Build.Network = "ci-net" }, "build.network", "needs the classic builder"},
		{"HostNetworkUnderBuildKit", func(s *Spec) { s.Build.Engine = EngineBuildKit; s.Build.Network = "host" }, "", ""},
		{"CacheFromAllowed", func(s *Spec) { s.Build.Cache = &Cache{From: []string{"registry.example.com/org/app"}} }, "", ""},
		{"CacheFromRefused", func(s *Spec) { s.Build.Cache = &Cache{From: []string{"evil.example.net/x:1"}} }, "build.cache.from", `registry "evil.example.net" is not allowed`},
		{"CacheFromInvalid", func(s *Spec) { s.Build.Cache = &Cache{From: []string{"registry.example.com/UPPER:x y"}} }, "build.cache.from", "not a valid image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			pol := p
			pol.BuildNetworks = []string{"host", "ci-net"}
			tt.edit(&s)
			err := s.Normalize(pol)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Build.Engine == "" {
					t.Error("engine left empty")
				}
				return
			}
			var v *ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("error %v, want a validation error on %s", err, tt.field)
			}
			for _, f := range v.Fields {
				if f.Field == tt.field && strings.Contains(f.Message, tt.msg) {
					return
				}
			}
			t.Errorf("fields %+v, want %s: …%s…", v.Fields, tt.field, tt.msg)
		})
	}
}

func TestEngineDefaultFromPolicy(t *testing.T) {
	s := validSpec()
	if err := s.Normalize(Policy{GitSchemes: []string{"https"}, Engine: EngineBuildKit}); err != nil {
		t.Fatal(err)
	}
	if s.Build.Engine != EngineBuildKit {
		t.Errorf("engine = %q, want the server default buildkit", s.Build.Engine)
	}
	if BuildKey(s) == BuildKey(validSpec()) {
		t.Error("the engine does not change the build key")
	}
}
