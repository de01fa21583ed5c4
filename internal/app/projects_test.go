package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/job"
)

type projectRecorder struct{ got []job.Project }

func (r *projectRecorder) PutProject(_ context.Context, p job.Project) (bool, error) {
	r.got = append(r.got, p)
	return true, nil
}

func TestLoadProjects(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       int
		err        string
	}{
		{"two", "projects:\n  - {name: A, image: example.com/a, tags: ['{{.ShortCommit}}']}\n  - {name: team/b, image: example.com/b}\n", 2, ""},
		{"unknown key", "projects:\n  - {name: A, image: example.com/a, imagee: x}\n", 0, "imagee"},
		{"invalid one stores none", "projects:\n  - {name: A, image: example.com/a}\n  - {name: B, image: 'Not Valid'}\n", 0, "project 2"},
		{"duplicate", "projects:\n  - {name: A, image: example.com/a}\n  - {name: A, image: example.com/b}\n", 0, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "projects.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			projects, err := readProjects(path)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			rec := &projectRecorder{}
			if err := storeProjects(context.Background(), path, projects, rec, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if len(rec.got) != tc.want {
				t.Errorf("stored %d projects, want %d", len(rec.got), tc.want)
			}
		})
	}
}
