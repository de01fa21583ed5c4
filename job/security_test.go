package job

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func securitySpec() Spec {
	return Spec{
		Source: Source{Repository: "https://git.example.com/app.git", Commit: strings.Repeat("a", 40)},
		Image:  Image{Name: "registry.example.com/app"},
	}
}

func TestNormalizeWarnsOfSecretArgs(t *testing.T) {
	s := securitySpec()
	s.Build.Args = map[string]string{"NPM_TOKEN": "x", "VERSION": "1", "db_password": "y", "API_KEY": "z"}
	if err := s.Normalize(Policy{GitSchemes: []string{"https"}}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range s.Warnings {
		names = append(names, strings.Fields(w)[0])
	}
	want := []string{"build.args.API_KEY", "build.args.NPM_TOKEN", "build.args.db_password"}
	if !slices.Equal(names, want) {
		t.Errorf("warnings = %q, want about %v", s.Warnings, want)
	}
	for _, w := range s.Warnings {
		if strings.Contains(w, "x") && strings.Contains(w, "=x") {
			t.Errorf("warning carries a value: %q", w)
		}
	}
}

func TestNormalizeRegistryAllowlist(t *testing.T) {
	p := Policy{GitSchemes: []string{"https"}, RegistryHosts: []string{"registry.example.com", ".corp.example"}}
	for name, ok := range map[string]bool{
		"registry.example.com/app":     true,
		"r1.corp.example/team/app":     true,
		"evil.example.com/app":         false,
		"app":                          false,
		"registry.example.com:5000/ap": false,
	} {
		s := securitySpec()
		s.Image.Name = name
		err := s.Normalize(p)
		var verr *ValidationError
		if ok != (err == nil) || (err != nil && !errors.As(err, &verr)) {
			t.Errorf("image %q: err = %v, want allowed=%v", name, err, ok)
		}
	}
}

func TestNormalizeRefusesRepositoryCredentials(t *testing.T) {
	p := Policy{GitSchemes: []string{"https", "ssh"}}
	for repo, ok := range map[string]bool{
		"https://git.example.com/app.git":           true,
		"ssh://git@git.example.com/app.git":         true,
		"https://ghp_token@git.example.com/app.git": false,
		"https://u:p@git.example.com/app.git":       false,
		"ssh://git:pw@git.example.com/app.git":      false,
		// ssh would read a user part starting with "-" as an option.
		"ssh://-oProxyCommand=touch%20x@git.example.com/app.git": false,
		"ssh://--upload-pack=x@git.example.com/app.git":          false,
		"ssh://-l@git.example.com/app.git":                       false,
		"ssh://deploy.bot_1@git.example.com/app.git":             true,
	} {
		s := securitySpec()
		s.Source.Repository = repo
		if err := s.Normalize(p); (err == nil) != ok {
			t.Errorf("%s: err = %v, want allowed=%v", repo, err, ok)
		}
	}
}

func TestHostListed(t *testing.T) {
	list := []string{"git.example.com", ".corp.example"}
	for host, want := range map[string]bool{
		"git.example.com":      true,
		"GIT.example.com.":     true,
		"a.corp.example":       true,
		"a.b.corp.example":     true,
		"corp.example":         false,
		"evilcorp.example":     false,
		"git.example.com.evil": false,
		"":                     false,
	} {
		if got := HostListed(list, host); got != want {
			t.Errorf("HostListed(%q) = %v, want %v", host, got, want)
		}
	}
}
