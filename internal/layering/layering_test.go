package layering

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkg is one package of the module and what its non-test files import.
type pkg struct {
	path    string // relative to the module: "job", "internal/app"; "" for main
	imports []string
}

// Rules. Adapters are the packages that talk to one outside system each.
var (
	adapters = []string{"db", "builder", "server"}
	// testSupport packages are test code kept out of _test.go files so
	// several packages' tests can share them.
	testSupport = []string{"internal/testenv", "internal/apitest", "internal/e2e"}
	// testLibraries may be linked by tests only.
	testLibraries = []string{"testing", "github.com/stretchr/testify", "github.com/testcontainers/testcontainers-go"}
	// owners name the only packages that may import a library.
	owners = map[string][]string{
		"github.com/labstack/echo": {"server"},
		// devservices starts `slipway dev`'s containers with the same client.
		"github.com/docker/docker": {"builder", "internal/devservices"},
	}
)

func within(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// violations lists every import pkgs make against the rules; module is the
// module path, mainDeps what `go list -deps .` prints.
func violations(module string, pkgs []pkg, mainDeps []string) []string {
	ours := func(imp string) (string, bool) {
		if imp == module {
			return "", true
		}
		rel, ok := strings.CutPrefix(imp, module+"/")
		return rel, ok
	}
	graph := map[string][]string{}
	for _, p := range pkgs {
		for _, imp := range p.imports {
			if rel, ok := ours(imp); ok {
				graph[p.path] = append(graph[p.path], rel)
			}
		}
	}
	// reaches lists the packages of ours p depends on, directly or not.
	reaches := func(p string) []string {
		seen := map[string]bool{}
		stack := []string{p}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, d := range graph[n] {
				if !seen[d] {
					seen[d] = true
					stack = append(stack, d)
				}
			}
		}
		out := make([]string, 0, len(seen))
		for d := range seen {
			out = append(out, d)
		}
		slices.Sort(out)
		return out
	}

	var bad []string
	for _, p := range pkgs {
		name := p.path
		if name == "" {
			name = "(main)"
		}
		if within(p.path, []string{"job"}) {
			for _, d := range graph[p.path] {
				if !within(d, []string{"job"}) {
					bad = append(bad, name+" imports "+d+": job imports nothing of ours")
				}
			}
		}
		for _, a := range adapters {
			if !within(p.path, []string{a}) {
				continue
			}
			for _, d := range reaches(p.path) {
				if within(d, adapters) && !within(d, []string{a}) {
					bad = append(bad, name+" depends on "+d+": adapters never import each other")
				}
			}
		}
		if within(p.path, testSupport) {
			continue
		}
		for _, imp := range p.imports {
			if within(imp, testLibraries) {
				bad = append(bad, name+" imports "+imp+" outside a _test.go file")
			}
			if rel, ok := ours(imp); ok && within(rel, testSupport) {
				bad = append(bad, name+" imports "+rel+" outside a _test.go file")
			}
			for lib, allowed := range owners {
				if within(imp, []string{lib}) && !within(p.path, allowed) {
					bad = append(bad, name+" imports "+imp+": only "+strings.Join(allowed, ", ")+" may")
				}
			}
		}
	}
	for _, lib := range testLibraries {
		if slices.ContainsFunc(mainDeps, func(d string) bool { return within(d, []string{lib}) }) {
			bad = append(bad, "the slipway binary links "+lib)
		}
	}
	slices.Sort(bad)
	return bad
}

func TestViolations(t *testing.T) {
	const m = "example.com/s"
	clean := []pkg{
		{"", []string{m + "/internal/app"}},
		{"job", []string{"fmt", m + "/job/internal/x"}},
		{"job/internal/x", nil},
		{"db", []string{m + "/job", "github.com/jackc/pgx/v5"}},
		{"builder", []string{m + "/job", m + "/internal/redact", "github.com/docker/docker/client"}},
		{"server", []string{m + "/job", "github.com/labstack/echo/v4"}},
		{"internal/redact", nil},
		{"internal/devservices", []string{"github.com/docker/docker/client"}},
		{"internal/testenv", []string{"testing", "github.com/testcontainers/testcontainers-go", "github.com/docker/docker/client"}},
		{"internal/app", []string{m + "/db", m + "/builder", m + "/server", m + "/internal/devservices"}},
	}
	with := func(p pkg) []pkg { return append(slices.Clone(clean), p) }
	tests := []struct {
		name     string
		pkgs     []pkg
		mainDeps []string
		want     string // a part of the one violation; "" for none
	}{
		{"Clean", clean, []string{"fmt", m + "/internal/app"}, ""},
		{"JobImportsOurs", with(pkg{"job/extra", []string{m + "/internal/redact"}}), nil, "job/extra imports internal/redact"},
		{"AdapterImportsAdapter", with(pkg{"db/extra", []string{m + "/server"}}), nil, "db/extra depends on server"},
		{"AdapterReachesAdapterThroughAnother", append(with(pkg{"internal/bridge", []string{m + "/builder"}}),
			pkg{"server/extra", []string{m + "/internal/bridge"}}), nil, "server/extra depends on builder"},
		{"EchoOutsideServer", with(pkg{"internal/web", []string{"github.com/labstack/echo/v4"}}), nil, "internal/web imports github.com/labstack/echo/v4"},
		{"DockerOutsideBuilder", with(pkg{"internal/ops", []string{"github.com/docker/docker/api/types"}}), nil, "internal/ops imports github.com/docker/docker/api/types"},
		{"TestingInCode", with(pkg{"internal/util", []string{"testing"}}), nil, "internal/util imports testing outside"},
		{"TestifyInCode", with(pkg{"internal/util", []string{"github.com/stretchr/testify/require"}}), nil, "imports github.com/stretchr/testify/require"},
		{"TestenvInCode", with(pkg{"internal/tool", []string{m + "/internal/testenv"}}), nil, "internal/tool imports internal/testenv"},
		{"BinaryLinksTestLibrary", clean, []string{"fmt", "github.com/testcontainers/testcontainers-go"}, "binary links github.com/testcontainers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := violations(m, tc.pkgs, tc.mainDeps)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("violations = %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("violations = %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// goList runs go list in the module's root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	// CI sets test flags in GOFLAGS, which go list refuses.
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLayering: the module's packages keep the layering rules.
func TestLayering(t *testing.T) {
	module := goList(t, "-m")[0]
	var pkgs []pkg
	for _, line := range goList(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
		f := strings.Fields(line)
		path := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		pkgs = append(pkgs, pkg{path: path, imports: f[1:]})
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, v := range violations(module, pkgs, goList(t, "-deps", ".")) {
		t.Error(v)
	}
}
