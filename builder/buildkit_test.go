package builder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// bkRun is one build through buildImage on the real daemon.
type bkRun struct {
	engine string
	steps  []job.Step
	log    string
	err    error
}

// buildWith builds files with w under a fresh image name and removes the
// image afterwards.
func buildWith(t *testing.T, w *Worker, files map[string]string, b job.Build) (bkRun, job.Spec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if b.Context == "" {
		b.Context = "."
	}
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	if b.Engine == "" {
		b.Engine = job.EngineAuto
	}
	spec := job.Spec{Build: b, Image: job.Image{Name: "slipway-bk-test/" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), Tags: []string{testenv.RandomHex(4)}}}
	t.Cleanup(func() {
		_, _ = w.docker.(interface {
			ImageRemove(context.Context, string, image.RemoveOptions) ([]image.DeleteResponse, error)
		}).ImageRemove(context.Background(), spec.References()[0], image.RemoveOptions{Force: true, PruneChildren: true})
	})
	store := &memLog{}
	sink := newLogSink(ctx, "test", store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink.guard = logGuard{masker: w.secrets()}
	sink.guard.lines = redact.NewLines(sink.guard.masker, sink.keep)
	engine, steps, err := w.buildImage(ctx, writeTree(t, files), spec, sink)
	sink.Close()
	return bkRun{engine: engine, steps: steps, log: store.text(), err: err}, spec
}

func testWorker(t *testing.T, secrets map[string]string) *Worker {
	t.Helper()
	dir := t.TempDir()
	for id, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, id), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{DockerConfig: filepath.Join(t.TempDir(), "config.json"), SecretsDir: dir},
		nil, testenv.Docker(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestAutoEngine builds a plain Dockerfile (classic, log as before) and one
// with a cache mount (BuildKit, plain progress, steps recorded).
func TestAutoEngine(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)

	plain, _ := buildWith(t, w, map[string]string{"Dockerfile": "# a comment, not a directive\nFROM " + base + "\nCOPY --chown=0:0 . /src\nRUN echo plain > /x\n"}, job.Build{})
	if plain.err != nil {
		t.Fatalf("plain: %v\n%s", plain.err, plain.log)
	}
	if plain.engine != job.EngineClassic || plain.steps != nil || !strings.Contains(plain.log, "Step 3/3 : RUN echo plain > /x") {
		t.Errorf("plain Dockerfile: engine %q, steps %v, log:\n%s", plain.engine, plain.steps, plain.log)
	}

	nonce := testenv.RandomHex(6)
	mount, _ := buildWith(t, w, map[string]string{"Dockerfile": "FROM " + base + "\nRUN --mount=type=cache,target=/cache echo " + nonce + " > /x\n"}, job.Build{})
	if mount.err != nil {
		t.Fatalf("mount: %v\n%s", mount.err, mount.log)
	}
	if mount.engine != job.EngineBuildKit || !strings.Contains(mount.log, "engine auto: BuildKit, because line 2 uses RUN --mount") {
		t.Errorf("--mount Dockerfile: engine %q, log:\n%s", mount.engine, mount.log)
	}
	var run *job.Step
	for i, s := range mount.steps {
		if strings.Contains(s.Name, "RUN --mount=type=cache,target=/cache echo "+nonce) {
			run = &mount.steps[i]
		}
	}
	if run == nil || run.Cached {
		t.Errorf("steps lack the uncached RUN step: %+v", mount.steps)
	}
	if !strings.Contains(mount.log, "2/2] RUN --mount=type=cache,target=/cache echo "+nonce+" > /x") || !strings.Contains(mount.log, " DONE ") {
		t.Errorf("log is not BuildKit's plain progress:\n%s", mount.log)
	}
}

// TestBuildKitCacheMountPersists builds twice with a changed argument: the second
// build's RUN sees what the first wrote into the cache mount.
func TestBuildKitCacheMountPersists(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)
	id := testenv.RandomHex(6)
	df := "FROM " + base + "\nARG RUN\nRUN --mount=type=cache,id=" + id + ",target=/cache sh -c 'echo \"run $RUN: $(cat /cache/runs 2>/dev/null)\"; echo x >> /cache/runs'\n"
	first, _ := buildWith(t, w, map[string]string{"Dockerfile": df}, job.Build{Args: map[string]string{"RUN": "1"}})
	second, _ := buildWith(t, w, map[string]string{"Dockerfile": df}, job.Build{Args: map[string]string{"RUN": "2"}})
	for _, r := range []bkRun{first, second} {
		if r.err != nil {
			t.Fatalf("%v\n%s", r.err, r.log)
		}
	}
	if !strings.Contains(first.log, "run 1: \n") {
		t.Errorf("first build log:\n%s", first.log)
	}
	if !strings.Contains(second.log, "run 2: x\n") {
		t.Errorf("second build did not see the cache mount's content:\n%s", second.log)
	}
}

// TestBuildKitFailureNamesStep fails a RUN: the error names it.
func TestBuildKitFailureNamesStep(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)
	r, _ := buildWith(t, w, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo ok\nRUN --mount=type=tmpfs,target=/t sh -c 'exit 3'\n"}, job.Build{})
	var f *job.Failure
	if !errors.As(r.err, &f) || f.Code != job.CodeBuild || !strings.Contains(f.Message, "RUN --mount=type=tmpfs,target=/t sh -c 'exit 3'") {
		t.Fatalf("error %v, want a build failure naming the RUN step\n%s", r.err, r.log)
	}
	if Transient(r.err) {
		t.Errorf("a failing RUN is transient: %v", r.err)
	}
	b, _ := json.Marshal(r.steps)
	if !strings.Contains(string(b), "exit code: 3") {
		t.Errorf("steps do not record the error: %s", b)
	}
}
