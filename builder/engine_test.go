package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerfileNeedsBuildKit(t *testing.T) {
	tests := []struct {
		file string
		want string // part of the reason; "" for the classic builder
	}{
		{"plain.Dockerfile", ""},
		{"mount.Dockerfile", "line 3 uses RUN --mount"},
		{"heredoc.Dockerfile", "line 2 uses a heredoc"},
		{"link.Dockerfile", "line 2 uses COPY --link"},
		{"syntax.Dockerfile", "# syntax=docker/dockerfile:1"},
		{"platform.Dockerfile", "line 1 uses the automatic platform argument BUILDPLATFORM"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			df, err := os.ReadFile(filepath.Join("testdata", "dockerfiles", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := dockerfileNeedsBuildKit(df)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("reason %q, want %q", got, tt.want)
			}
		})
	}
	if got := dockerfileNeedsBuildKit([]byte("FROM busybox\nARG TARGETARCH\n")); !strings.Contains(got, "TARGETARCH") {
		t.Errorf("a platform ARG: reason %q", got)
	}
	if got := dockerfileNeedsBuildKit([]byte("FROM busybox\nRUN echo \\\n")); got != "" {
		t.Errorf("a Dockerfile the parser refuses goes to the classic builder for its error; reason %q", got)
	}
}

// FuzzDockerfileNeedsBuildKit feeds the engine choice arbitrary Dockerfiles:
// it must never panic, and a Dockerfile with a # syntax line always needs
// BuildKit.
func FuzzDockerfileNeedsBuildKit(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "dockerfiles", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, df []byte) {
		got := dockerfileNeedsBuildKit(df)
		if strings.HasPrefix(string(df), "# syntax=docker/dockerfile:1\n") && got == "" {
			t.Errorf("a # syntax line did not pick BuildKit")
		}
	})
}
