package job

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestNormalizeRepository(t *testing.T) {
	tests := map[string]string{
		"git@git.example.com:org/app.git":             "ssh://git@git.example.com/org/app.git",
		"git@git.example.com:/srv/git/app.git":        "ssh://git@git.example.com/srv/git/app.git",
		"git.example.com:org/app.git":                 "ssh://git.example.com/org/app.git",
		"ssh://git@git.example.com/org/app.git":       "ssh://git@git.example.com/org/app.git",
		"https://git.example.com/org/app.git":         "https://git.example.com/org/app.git",
		"ext::sh -c touch% /tmp/pwned":                "ext::sh -c touch% /tmp/pwned",
		"file:/tmp/x":                                 "file:/tmp/x",
		"https:git.example.com/x":                     "https:git.example.com/x",
		"/srv/git/app.git":                            "/srv/git/app.git",
		"git@git.example.com":                         "git@git.example.com",
		"ssh://git@git.example.com:7999/proj/app.git": "ssh://git@git.example.com:7999/proj/app.git",
	}
	for in, want := range tests {
		if got := NormalizeRepository(in); got != want {
			t.Errorf("NormalizeRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRepositoryURLs: which repository URLs a request may name, with ssh
// and https allowed.
func TestRepositoryURLs(t *testing.T) {
	tests := []struct {
		repo, want string // want: the stored URL, or "" when refused
		schemes    []string
	}{
		{repo: "git@git.example.com:org/app.git", want: "ssh://git@git.example.com/org/app.git"},
		{repo: "ssh://git@git.example.com:7999/proj/app.git", want: "ssh://git@git.example.com:7999/proj/app.git"},
		{repo: "https://jdoe@bitbucket.example.com/scm/proj/app.git", want: "https://jdoe@bitbucket.example.com/scm/proj/app.git"},
		{repo: "https://first.last@git.example.com/a.git", want: "https://first.last@git.example.com/a.git"},
		{repo: "git@git.example.com:org/app.git", schemes: []string{"https"}}, // ssh not allowed
		{repo: "https://user:pw@git.example.com/a.git"},                       // a password
		{repo: "ssh://git:pw@git.example.com/a.git"},                          // a password
		{repo: "https://ghp_0123456789abcdefghijklmnopqrstuvwxyz@github.com/a.git"},
		{repo: "https://glpat-0123456789abcdef@gitlab.example.com/a.git"},
		{repo: "https://0123456789abcdef0123456789abcdef01234567@git.example.com/a.git"},
		{repo: "ssh://-oProxyCommand=touch%20x@git.example.com/a.git"}, // ssh option as user
		{repo: "-oProxyCommand=x@host:path"},
		{repo: "git@-oProxyCommand=x:path"},
		{repo: "ssh://us%20er@git.example.com/a.git"},
		{repo: "git://user@git.example.com/a.git", schemes: []string{"git"}},
		{repo: "ext::sh -c touch% /tmp/pwned"},
	}
	for _, tc := range tests {
		schemes := tc.schemes
		if schemes == nil {
			schemes = []string{"https", "ssh"}
		}
		s := Spec{Source: Source{Repository: tc.repo, Commit: strings.Repeat("a", 40)}, Image: Image{Name: "registry.example.com/app"}}
		err := s.Normalize(Policy{GitSchemes: schemes})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q (%v) accepted as %q, want refused", tc.repo, schemes, s.Source.Repository)
		case tc.want != "" && err != nil:
			t.Errorf("%q refused: %v", tc.repo, err)
		case tc.want != "" && s.Source.Repository != tc.want:
			t.Errorf("%q stored as %q, want %q", tc.repo, s.Source.Repository, tc.want)
		}
	}
}

// FuzzNormalizeRepository: normalising twice changes nothing, and what it
// rewrites becomes an ssh URL that names the input's host (or one that does
// not parse, which validation refuses).
func FuzzNormalizeRepository(f *testing.F) {
	file, err := os.Open("testdata/repositories.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	file.Close()
	f.Fuzz(func(t *testing.T, raw string) {
		got := NormalizeRepository(raw)
		if again := NormalizeRepository(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", raw, got, again)
		}
		if got == raw {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			return // validation refuses it as it refuses the input
		}
		if u.Scheme != "ssh" || u.Host == "" {
			t.Fatalf("%q → %q: not an ssh URL with a host", raw, got)
		}
		if !strings.Contains(raw, strings.Trim(u.Host, "[]")) {
			t.Fatalf("%q → %q: host %q is not the input's", raw, got, u.Host)
		}
	})
}
