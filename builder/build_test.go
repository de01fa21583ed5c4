package builder

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestBuildLabels builds on the real daemon and checks that the labels land
// on the image exactly, as one LABEL step where they can be written into the
// Dockerfile, and that the rewritten Dockerfile never shows in the context.
func TestBuildLabels(t *testing.T) {
	docker := testenv.Docker(t)
	base := testenv.BaseImage(t)
	registry := testenv.Registry(t)
	hostile := hostileLabels(t)
	withNewline := maps.Clone(hostile)
	withNewline["multi.line"] = "one\nRUN touch /pwned"

	// listCtx prints the files a COPY . copies.
	const listCtx = "COPY . /ctx/\nRUN cd /ctx && find . -type f | sort | sed 's/^/ctx:/'\n"
	tests := []struct {
		name   string
		files  map[string]string
		build  job.Build
		labels map[string]string
		steps  int      // history entries above the base image
		ctx    []string // files COPY . sees; nil: not checked
		push   bool
	}{
		{name: "OneStep", files: map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo hi > /x\n"},
			labels: hostile, steps: 2, push: true},
		{name: "EscapeDirective", files: map[string]string{"Dockerfile": "# escape=`\nFROM " + base + "\nRUN echo hi > /x\n"},
			labels: hostile, steps: 2},
		{name: "NoFinalNewline", files: map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo hi > /x"},
			labels: hostile, steps: 2},
		{name: "MultiStage", files: map[string]string{"Dockerfile": "FROM " + base + " AS one\nRUN echo 1 > /one\nFROM " + base + "\nCOPY --from=one /one /one\n"},
			labels: hostile, steps: 2},
		{name: "TargetStageKeepsRequestLabels", files: map[string]string{"Dockerfile": "FROM " + base + " AS one\nRUN echo 1 > /one\nFROM " + base + "\nCOPY --from=one /one /one\n"},
			build: job.Build{Target: "one"}, labels: hostile, steps: 1 + len(hostile)},
		{name: "TrailingContinuationKeepsRequestLabels", files: map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo hi > /x && \\\n  echo more >> /x \\\n\n"},
			labels: hostile, steps: 1 + len(hostile)},
		{name: "NewlineKeepsRequestLabels", files: map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo hi > /x\n"},
			labels: withNewline, steps: 1 + len(withNewline)},
		{name: "NoDockerignore", files: map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a"},
			labels: hostile, steps: 3, ctx: []string{"./Dockerfile", "./app.txt"}},
		{name: "DockerignoreExcludesDockerfile", files: map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a", ".dockerignore": "Dockerfile\n.dockerignore\n"},
			labels: hostile, steps: 3, ctx: []string{"./app.txt"}},
		{name: "DockerignoreExcludesHiddenFiles", files: map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a", ".dockerignore": ".*\n"},
			labels: hostile, steps: 3, ctx: []string{"./Dockerfile", "./app.txt"}},
		{name: "DockerignoreCopiedKeepsRequestLabels", files: map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a", "secret.txt": "s", ".dockerignore": "secret.txt\n"},
			labels: hostile, steps: 2 + len(hostile), ctx: []string{"./.dockerignore", "./Dockerfile", "./app.txt"}},
		{name: "DockerfileOutsideContext", files: map[string]string{"docker/Dockerfile": "FROM " + base + "\n" + listCtx, "app/a.txt": "a"},
			build: job.Build{Context: "app", Dockerfile: "docker/Dockerfile"}, labels: hostile, steps: 3, ctx: []string{"./a.txt"}},
		{name: "NoLabels", files: map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a"},
			steps: 2, ctx: []string{"./Dockerfile", "./app.txt"}},
	}
	baseHistory, err := docker.ImageHistory(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	w := New(Config{DockerConfig: filepath.Join(t.TempDir(), "config.json")}, nil, docker, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			b := tt.build
			if b.Context == "" {
				b.Context, b.Dockerfile = ".", "Dockerfile"
			}
			b.Labels = tt.labels
			spec := job.Spec{Build: b, Image: job.Image{Name: registry + "/slipway-labels-" + strings.ToLower(tt.name), Tags: []string{testenv.RandomHex(4)}}}
			ref := (&job.Job{ID: "labels-" + testenv.RandomHex(4)}).LocalImage()
			t.Cleanup(func() {
				_, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
			})

			store := &memLog{}
			sink := newLogSink(ctx, "test", store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			sink.guard = logGuard{masker: redact.New()}
			err := w.buildCheckout(ctx, writeTree(t, tt.files), spec, ref, sink)
			if err == nil && tt.push {
				_, err = w.push(ctx, spec, ref, sink)
			}
			sink.Close()
			if err != nil {
				t.Fatalf("%v\n%s", err, store.text())
			}

			img, err := docker.ImageInspect(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.labels {
				if got, ok := img.Config.Labels[k]; !ok || got != v {
					t.Errorf("label %q = %q (set: %v), want %q", k, got, ok, v)
				}
			}
			hist, err := docker.ImageHistory(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(hist) - len(baseHistory); got != tt.steps {
				var steps []string
				for _, h := range hist[:max(got, 0)] {
					steps = append(steps, h.CreatedBy)
				}
				t.Errorf("%d steps above the base image, want %d:\n%s", got, tt.steps, strings.Join(steps, "\n"))
			}
			if tt.ctx != nil {
				var seen []string
				for _, l := range store.lines {
					if f, ok := strings.CutPrefix(l, "ctx:"); ok {
						seen = append(seen, f)
					}
				}
				slices.Sort(seen)
				if !slices.Equal(seen, tt.ctx) {
					t.Errorf("COPY . copied %v, want %v", seen, tt.ctx)
				}
			}
		})
	}
}
