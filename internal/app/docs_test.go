package app

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docFiles returns the README and every page under docs/, by path from the
// repository root.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, p := range append(pages, filepath.Join(repoRoot, "README.md")) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, p)
		docs[filepath.ToSlash(rel)] = string(data)
	}
	if len(docs) < 7 {
		t.Fatalf("want README.md and the docs/ pages, have %d files", len(docs))
	}
	return docs
}

var (
	heading  = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	// fence holds a fenced block's body; its info string is in group 1.
	fence = regexp.MustCompile("(?ms)^[ \t]*```([a-z]*)\n(.*?)^[ \t]*```")
)

// anchor is GitHub's id for a heading.
func anchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.NewReplacer("`", "", "*", "").Replace(h)
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsLinks: every relative link in the README and docs/ names a file
// that exists and, with a #fragment, one of its headings.
func TestDocsLinks(t *testing.T) {
	docs := docFiles(t)
	for name, text := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := name
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(name), file))
			}
			if _, err := os.Stat(filepath.Join(repoRoot, path)); err != nil {
				t.Errorf("%s links to %s, which does not exist", name, target)
				continue
			}
			if frag == "" {
				continue
			}
			var ids []string
			for _, h := range heading.FindAllStringSubmatch(docs[path], -1) {
				ids = append(ids, anchor(h[1]))
			}
			if !slices.Contains(ids, frag) {
				t.Errorf("%s links to %s: %s has no such heading (%v)", name, target, path, ids)
			}
		}
	}
}

// commandLines returns the shell commands the docs show: every line of sh
// blocks and every code span, with continuation lines joined.
func commandLines(text string) []string {
	var out []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		if m[1] != "sh" && m[1] != "" {
			continue
		}
		body := strings.ReplaceAll(m[2], "\\\n", " ")
		out = append(out, strings.Split(body, "\n")...)
	}
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

var (
	slipwayCmd = regexp.MustCompile(`(?:^|[\s'(])slipway ([a-z]+)((?: +(?:--?[a-z][a-z0-9-]*(?:[ =](?:[^-\s]\S*))?|[a-z]+|[A-Z_]+|<[^>]+>|\[[^\]]*\]|[|]))*)`)
	flagName   = regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	helpFlag   = regexp.MustCompile(`(?m)^  --?([a-z][a-z0-9-]*)`)
	goCmd      = regexp.MustCompile(`\bgo (?:run|test)(?: -[a-z]+)* (\.(?:/[a-z./]*)?)`)
	repoPath   = regexp.MustCompile(`(?:^|[\s'"=(])((?:deploy|docs|\.ci|bamboo-specs|server|internal|migrations|builder|bench)/[A-Za-z0-9_./-]*[A-Za-z0-9_])`)
	envName    = regexp.MustCompile(`\bSLIPWAY_[A-Z0-9_]*[A-Z0-9]\b`)
)

// helpFlags runs `slipway <args> --help` and returns the flags it lists.
func helpFlags(t *testing.T, args ...string) []string {
	t.Helper()
	var out strings.Builder
	_ = Run(context.Background(), Build{}, append(append([]string{"slipway"}, args...), "--help"), func(string) string { return "" }, &out, &out)
	var flags []string
	for _, m := range helpFlag.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// TestDocsCommands: every `slipway` command the docs show exists and takes
// the flags shown, every `go run`/`go test` package and every repository
// path named exists.
func TestDocsCommands(t *testing.T) {
	cmds := commands(t)
	checked := 0
	for name, text := range docFiles(t) {
		for _, line := range commandLines(text) {
			for _, m := range slipwayCmd.FindAllStringSubmatch(line, -1) {
				cmd, rest := m[1], m[2]
				if !slices.Contains(cmds, cmd) {
					t.Errorf("%s: %q: slipway has no command %q", name, line, cmd)
					continue
				}
				args := []string{cmd}
				if f := strings.Fields(rest); cmd == "token" && len(f) > 0 && !strings.HasPrefix(f[0], "-") {
					args = append(args, f[0])
				}
				flags := helpFlags(t, args...)
				for _, f := range flagName.FindAllStringSubmatch(rest, -1) {
					if f[1] != "help" && !slices.Contains(flags, f[1]) {
						t.Errorf("%s: %q: slipway %s has no flag --%s (it has %v)", name, line, strings.Join(args, " "), f[1], flags)
					}
				}
				checked++
			}
			for _, m := range goCmd.FindAllStringSubmatch(line, -1) {
				pkg := strings.TrimSuffix(strings.TrimSuffix(m[1], "..."), "/")
				if fi, err := os.Stat(filepath.Join(repoRoot, pkg)); err != nil || !fi.IsDir() {
					t.Errorf("%s: %q: no package directory %s", name, line, m[1])
				}
				checked++
			}
		}
		for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
			// Files the reader makes (deploy/.env, secret.env) are git-ignored.
			if exec.Command("git", "-C", repoRoot, "check-ignore", "-q", m[1]).Run() == nil {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
				t.Errorf("%s names %s, which does not exist", name, m[1])
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d commands found in the docs; is the parser broken?", checked)
	}
}

// TestDocsEnvironment: every SLIPWAY_ variable the docs name is a setting or
// is read by something in the repository (a test, a script, a deploy file,
// the CLI's CI environment).
func TestDocsEnvironment(t *testing.T) {
	known := map[string]bool{}
	for _, s := range registeredSettings(t) {
		known[s.env] = true
		if s.secret {
			known[s.env+"_FILE"] = true
		}
	}
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "docs") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(p, ".md") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range envName.FindAllString(string(data), -1) {
			known[n] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range docFiles(t) {
		for _, n := range envName.FindAllString(text, -1) {
			if !known[n] && !strings.HasSuffix(n, "_") {
				t.Errorf("%s names %s, which nothing reads", name, n)
			}
		}
	}
}

// TestDocsAPIPaths: every /api/v1 path the docs name is in the OpenAPI
// description, where {x} stands for any one segment.
func TestDocsAPIPaths(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "server", "openapi", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	matches := func(path string) bool {
		got := strings.Split(path, "/")
		for p := range spec.Paths {
			want := strings.Split(p, "/")
			if len(want) != len(got) {
				continue
			}
			ok := true
			for i := range want {
				if want[i] != got[i] && !strings.HasPrefix(want[i], "{") && !strings.HasPrefix(got[i], "{") && got[i] != "*" {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	apiPath := regexp.MustCompile(`/api/v1(?:/(?:[a-z0-9.]+|\{[a-z]+\}|\*|%2F|[a-z]+%2F[a-z]+|<[a-z ]+>))+`)
	n := 0
	for name, text := range docFiles(t) {
		for _, p := range apiPath.FindAllString(text, -1) {
			p = regexp.MustCompile(`[a-z]+%2F[a-z]+|<[a-z ]+>`).ReplaceAllString(p, "{x}")
			if !matches(p) {
				t.Errorf("%s names %s, which the OpenAPI description does not have", name, p)
			}
			n++
		}
	}
	if n < 10 {
		t.Errorf("only %d API paths found in the docs", n)
	}
}
