package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"golang.org/x/crypto/ssh"

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
	engine, steps, err := w.buildImage(ctx, writeTree(t, files), spec, spec.References()[0], sink)
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

// TestBuildKitSecretAndSSH mounts a secret and an ssh key by reference: the
// build reads the secret (its length checked inside), the ssh agent socket
// is there, and the value is nowhere in the log, the image's files, its
// configuration or its history.
func TestBuildKitSecretAndSSH(t *testing.T) {
	base := testenv.BaseImage(t)
	canary := "canary-" + testenv.RandomHex(10)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	w := testWorker(t, map[string]string{"npm_token": canary + "\n", "deploy": string(pem.EncodeToMemory(pemKey))})
	df := "FROM " + base + "\n" +
		"RUN --mount=type=secret,id=npm_token test \"$(tr -d '\\n' < /run/secrets/npm_token | wc -c)\" -eq " + strconv.Itoa(len(canary)) + " && echo secret-length-ok && cat /run/secrets/npm_token && echo $(cat /run/secrets/npm_token) | base64\n" +
		"RUN --mount=type=secret,id=npm_token,target=/tmp/tok sh -c 'test -s /tmp/tok && echo target-ok'\n" +
		"RUN --mount=type=ssh,id=deploy sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo ssh-agent-ok'\n"
	r, spec := buildWith(t, w, map[string]string{"Dockerfile": df}, job.Build{Secrets: []string{"npm_token"}, SSH: []string{"deploy"}})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.log)
	}
	for _, want := range []string{"secret-length-ok", "target-ok", "ssh-agent-ok"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
	if strings.Contains(r.log, canary) || strings.Contains(r.log, base64.StdEncoding.EncodeToString([]byte(canary))[:12]) {
		t.Errorf("the secret shows in the log:\n%s", r.log)
	}
	steps, _ := json.Marshal(r.steps)
	if strings.Contains(string(steps), canary) {
		t.Errorf("the secret shows in the steps: %s", steps)
	}

	docker := testenv.Docker(t)
	ctx := context.Background()
	ref := spec.References()[0]
	hist, err := docker.ImageHistory(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	inspect, err := docker.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal([]any{hist, inspect})
	if strings.Contains(string(meta), canary) {
		t.Errorf("the secret shows in the image's history or configuration")
	}
	saved, err := docker.ImageSave(ctx, []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Close()
	if found := tarContains(t, saved, canary); found != "" {
		t.Errorf("the secret is in the image's files: %s", found)
	}
}

// tarContains looks for s in every file of an image tar, layers included.
// Blobs that are not tars (configs, manifests) end the inner search.
func tarContains(t *testing.T, r io.Reader, s string) string {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return ""
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return h.Name
		}
		if strings.HasSuffix(h.Name, ".tar") || strings.HasPrefix(h.Name, "blobs/") {
			if found := tarContains(t, bytes.NewReader(b), s); found != "" {
				return h.Name + ":" + found
			}
		}
	}
}
