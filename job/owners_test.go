package job

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestImageOwnership: an image under a prefix bound to projects is built
// only for deliveries under one of them, and a Jenkins or Bamboo parameter
// cannot move a project's image out of its namespace.
func TestImageOwnership(t *testing.T) {
	const (
		repoA  = "https://git.example.com/team-a/app.git"
		repoB  = "https://git.example.com/team-b/web.git"
		commit = "c6d86dc7c9a7cbd1ad7ad3bef0b17e4c1b3fe4a9"
	)
	found := projects{
		{Name: "team-a-app", Repository: repoA, Image: "registry.example.com/team-a/app"},
		{Name: "team-b-web", Repository: repoB, Image: "registry.example.com/team-b/web"},
		{Name: "mirror", Image: "registry.example.com/mirror/busybox"},
	}
	owners, err := ParseImageOwners([]string{
		"registry.example.com/team-a/=team-a-app",
		"registry.example.com/mirror/=mirror",
		"registry.example.com/=team-a-app|team-b-web|mirror",
	})
	if err != nil {
		t.Fatal(err)
	}
	rules := IntakeRules{Policy: Policy{GitSchemes: []string{"https"}, ImageOwners: owners}}
	delivery := func(system, project, repo, image string) Delivery {
		d := Delivery{System: system, Request: Request{Source: Source{Repository: repo, Commit: commit}, Image: Image{Name: image}}}
		if project != "" {
			d.Projects = []string{project}
		}
		return d
	}
	tests := []struct {
		name string
		d    Delivery
		ok   bool
	}{
		{"OwnProject", delivery(SystemJenkins, "team-a-app", repoA, ""), true},
		{"OwnNamespaceParameter", delivery(SystemJenkins, "team-a-app", repoA, "registry.example.com/team-a/app-debug"), true},
		{"ParameterIntoAnotherTeam", delivery(SystemJenkins, "team-b-web", repoB, "registry.example.com/team-a/app"), false},
		{"ParameterOntoTheMirror", delivery(SystemBamboo, "team-b-web", repoB, "registry.example.com/mirror/busybox"), false},
		{"ParameterOutOfTheRegistry", delivery(SystemJenkins, "team-b-web", repoB, "docker.io/library/busybox"), false},
		{"NoProjectUnderOwnedPrefix", delivery(SystemAPI, "", repoB, "registry.example.com/team-a/app"), false},
		{"NoProjectUnderCatchAll", delivery(SystemAPI, "", repoB, "registry.example.com/other"), false},
		{"NoProjectElsewhere", delivery(SystemAPI, "", repoB, "other.example.com/x"), true},
		{"LongestPrefixDecides", delivery(SystemAPI, "team-b-web", repoB, "registry.example.com/mirror/busybox"), false},
		{"NativeUnderProjectOwnPrefix", delivery(SystemAPI, "mirror", repoB, "registry.example.com/mirror/alpine"), true},
		{"PrefixIsNotAStringPrefix", delivery(SystemAPI, "team-b-web", repoB, "registry.example.com/team-a-evil/x"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(context.Background(), tc.d, found, rules, time.Unix(0, 0))
			var verr *ValidationError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &verr) || verr.Fields[0].Field != "image.name"):
				t.Fatalf("Resolve = %v, want an image.name refusal", err)
			}
		})
	}
}

func TestParseImageOwners(t *testing.T) {
	got, err := ParseImageOwners([]string{"registry.example.com/team-a/=a|b", "busybox=ops"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Prefix != "registry.example.com/team-a/" || len(got[0].Projects) != 2 || got[1].Prefix != "docker.io/library/busybox" {
		t.Errorf("parsed %+v", got)
	}
	for _, bad := range []string{"noequals", "=p", "registry.example.com/x=", "Bad Name/=p"} {
		if _, err := ParseImageOwners([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
