package builder

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/job"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarEntries lists the regular files in a build context and reads one.
func tarEntries(t *testing.T, bc *buildContext, read string) ([]string, string) {
	t.Helper()
	defer bc.tar.Close()
	var names []string
	var content string
	tr := tar.NewReader(bc.tar)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
		}
		if h.Name == read {
			b, _ := io.ReadAll(tr)
			content = string(b)
		}
	}
	slices.Sort(names)
	return names, content
}

func TestMakeContextHonoursDockerignore(t *testing.T) {
	root := writeTree(t, map[string]string{
		"Dockerfile":      "FROM scratch\n",
		".dockerignore":   "secret.txt\nlogs/\n*.tmp\nDockerfile\n.dockerignore\n",
		"app.txt":         "x",
		"secret.txt":      "x",
		"logs/a.log":      "x",
		"scratch.tmp":     "x",
		"src/keep/me.txt": "x",
	})
	bc, err := makeContext(root, job.Build{Context: ".", Dockerfile: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if bc.dockerfile != "Dockerfile" {
		t.Errorf("dockerfile = %q", bc.dockerfile)
	}
	got, _ := tarEntries(t, bc, "")
	// The Dockerfile and .dockerignore stay even though .dockerignore lists them.
	want := []string{".dockerignore", "Dockerfile", "app.txt", "src/keep/me.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("context files = %v, want %v", got, want)
	}
}

func TestMakeContextDockerfileOutsideContext(t *testing.T) {
	root := writeTree(t, map[string]string{
		"docker/app.Dockerfile": "FROM scratch\nCOPY a.txt /\n",
		"app/a.txt":             "a",
	})
	bc, err := makeContext(root, job.Build{Context: "app", Dockerfile: "docker/app.Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	names, content := tarEntries(t, bc, bc.dockerfile)
	if !slices.Contains(names, bc.dockerfile) || content != "FROM scratch\nCOPY a.txt /\n" {
		t.Errorf("context %v lacks the Dockerfile as %q (content %q)", names, bc.dockerfile, content)
	}
}

func TestMakeContextRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		build job.Build
		link  [2]string // symlink name → target
	}{
		{"ContextSymlinkOut", job.Build{Context: "ctx", Dockerfile: "Dockerfile"}, [2]string{"ctx", outside}},
		{"DockerfileSymlinkOut", job.Build{Context: ".", Dockerfile: "Dockerfile"}, [2]string{"Dockerfile", filepath.Join(outside, "Dockerfile")}},
		{"DockerfileRelativeLinkOut", job.Build{Context: ".", Dockerfile: "Dockerfile"}, [2]string{"Dockerfile", "../../../../../../../../etc/passwd"}},
		{"MissingContext", job.Build{Context: "nope", Dockerfile: "nope/Dockerfile"}, [2]string{}},
		{"MissingDockerfile", job.Build{Context: ".", Dockerfile: "Nope"}, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"x.txt": "x"})
			if tt.link[0] != "" {
				if err := os.Symlink(tt.link[1], filepath.Join(root, tt.link[0])); err != nil {
					t.Fatal(err)
				}
			}
			bc, err := makeContext(root, tt.build)
			if err == nil {
				bc.tar.Close()
				t.Fatal("makeContext succeeded, want a refusal")
			}
			var f *job.Failure
			if !errors.As(err, &f) || f.Code != job.CodeContext || !f.Permanent {
				t.Errorf("error = %v, want a permanent %s failure", err, job.CodeContext)
			}
		})
	}
}

// TestMakeContextBoundsWholeFileReads: the Dockerfile and .dockerignore are
// read whole, so a repository's giant ones fail the job instead of
// allocating without bound.
func TestMakeContextBoundsWholeFileReads(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"HugeDockerfile", map[string]string{"Dockerfile": "FROM scratch\n" + strings.Repeat("# padding\n", maxDockerfileBytes/10+1)}},
		{"HugeDockerignore", map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": strings.Repeat("x\n", maxDockerignoreBytes/2+1)}},
		{"ManyDockerignorePatterns", map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": strings.Repeat("a*b*c*d\n", maxDockerignorePattern+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc, err := makeContext(writeTree(t, tt.files), job.Build{Context: ".", Dockerfile: "Dockerfile", Labels: map[string]string{"a": "b"}})
			if err == nil {
				bc.tar.Close()
				t.Fatal("makeContext succeeded, want a refusal")
			}
			var f *job.Failure
			if !errors.As(err, &f) || f.Code != job.CodeContext || !f.Permanent {
				t.Errorf("error = %v, want a permanent %s failure", err, job.CodeContext)
			}
		})
	}
	bc, err := makeContext(writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": strings.Repeat("x\n", 1000)}),
		job.Build{Context: ".", Dockerfile: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	bc.tar.Close()
}

// TestMakeContextPlacesLabels: labels go into the Dockerfile the daemon
// reads, renamed and named in .dockerignore, unless a rule keeps them with
// the build request; the repository's Dockerfile is never changed.
func TestMakeContextPlacesLabels(t *testing.T) {
	labels := map[string]string{"org.opencontainers.image.revision": "abc", "team": "it's"}
	const df = "FROM scratch\nCOPY a.txt /\n"
	tests := []struct {
		name      string
		files     map[string]string
		build     job.Build
		inline    bool
		dockerign string // the .dockerignore sent, when inline; "%s" is the Dockerfile's name
	}{
		{"NoDockerignore", map[string]string{"Dockerfile": df}, job.Build{}, true, ".dockerignore\n%s\n"},
		{"DockerignoreKeepsOut", map[string]string{"Dockerfile": df, ".dockerignore": "*.tmp\n.dockerignore"}, job.Build{}, true, "*.tmp\n.dockerignore\n%s\n"},
		{"DockerignoreHidesDotfiles", map[string]string{"Dockerfile": df, ".dockerignore": ".*\n"}, job.Build{}, true, ".*\n"},
		{"DockerignoreCopied", map[string]string{"Dockerfile": df, ".dockerignore": "*.tmp\n"}, job.Build{}, false, ""},
		{"Target", map[string]string{"Dockerfile": df}, job.Build{Target: "app"}, false, ""},
		{"TrailingContinuation", map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt \\\n  / \\\n"}, job.Build{}, false, ""},
		{"OutsideContext", map[string]string{"docker/Dockerfile": df, "app/a.txt": "a"}, job.Build{Context: "app", Dockerfile: "docker/Dockerfile"}, true, ".dockerignore\n%s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.build
			if b.Context == "" {
				b.Context, b.Dockerfile = ".", "Dockerfile"
			}
			b.Labels = labels
			root := writeTree(t, tt.files)
			bc, err := makeContext(root, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := bc.labels == nil; got != tt.inline {
				t.Fatalf("labels written into the Dockerfile: %v, want %v (request labels %v)", got, tt.inline, bc.labels)
			}
			_, dockerfile := tarEntries(t, bc, bc.dockerfile)
			orig, _ := os.ReadFile(filepath.Join(root, b.Dockerfile))
			if !tt.inline {
				if b.Context == "." && (bc.dockerfile != "Dockerfile" || dockerfile != string(orig)) {
					t.Errorf("Dockerfile %q sent as %q, want the repository's", dockerfile, bc.dockerfile)
				}
				return
			}
			want := string(orig) + "LABEL 'org.opencontainers.image.revision'='abc' 'team'='it'\"'\"'s'\n"
			if dockerfile != want {
				t.Errorf("Dockerfile sent = %q, want %q", dockerfile, want)
			}
			bc, err = makeContext(root, b)
			if err != nil {
				t.Fatal(err)
			}
			if _, ign := tarEntries(t, bc, ".dockerignore"); ign != strings.ReplaceAll(tt.dockerign, "%s", bc.dockerfile) {
				t.Errorf(".dockerignore sent = %q, want %q", ign, strings.ReplaceAll(tt.dockerign, "%s", bc.dockerfile))
			}
		})
	}
}
