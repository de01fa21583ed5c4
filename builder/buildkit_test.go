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
	"regexp"
	"slices"
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

// TestBuildKitParallelStages builds two independent stages that each sleep:
// they start within the same second.
func TestBuildKitParallelStages(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)
	nonce := testenv.RandomHex(4)
	stage := func(name string) string {
		return "FROM " + base + " AS " + name + "\nRUN echo start-" + name + "-$(date +%s) " + nonce + " && sleep 2 && echo " + name + " > /x\n"
	}
	df := stage("one") + stage("two") + "FROM " + base + "\nCOPY --from=one /x /one\nCOPY --from=two /x /two\n"
	r, _ := buildWith(t, w, map[string]string{"Dockerfile": df}, job.Build{Engine: job.EngineBuildKit})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.log)
	}
	started := map[string]int{}
	for _, name := range []string{"one", "two"} {
		m := regexp.MustCompile(`start-` + name + `-(\d+) `).FindStringSubmatch(r.log)
		if m == nil {
			t.Fatalf("no start time of stage %s:\n%s", name, r.log)
		}
		started[name], _ = strconv.Atoi(m[1])
	}
	if d := started["one"] - started["two"]; d < -1 || d > 1 {
		t.Errorf("stages started %d s apart; each sleeps 2 s, so they ran one after the other\n%s", d, r.log)
	}
}

// TestBuildKitContext checks the context rules of the tar path under
// BuildKit: .dockerignore as the docker CLI applies it (one that ignores the
// Dockerfile still builds), the file-count limit, and a custom network.
func TestBuildKitContext(t *testing.T) {
	base := testenv.BaseImage(t)
	listCtx := "COPY . /ctx/\nRUN --mount=type=tmpfs,target=/tmp echo " + testenv.RandomHex(4) + " && cd /ctx && find . -type f | sort | sed 's/^/ctx:/'\n"
	t.Run("DockerignoreExcludesDockerfile", func(t *testing.T) {
		w := testWorker(t, nil)
		r, _ := buildWith(t, w, map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx, "app.txt": "a", "secret.txt": "s",
			"sub/keep.txt": "k", ".dockerignore": "Dockerfile\n.dockerignore\nsecret.txt\n"}, job.Build{})
		if r.err != nil {
			t.Fatalf("%v\n%s", r.err, r.log)
		}
		var seen []string
		for _, m := range regexp.MustCompile(`(?m)^#\d+ [\d.]+ ctx:(.*)$`).FindAllStringSubmatch(r.log, -1) {
			seen = append(seen, m[1])
		}
		if want := []string{"./app.txt", "./sub/keep.txt"}; !slices.Equal(seen, want) {
			t.Errorf("COPY . copied %v, want %v\n%s", seen, want, r.log)
		}
	})
	t.Run("TooManyFiles", func(t *testing.T) {
		w := testWorker(t, nil)
		w.cfg.Security.MaxContextFiles = 3
		files := map[string]string{"Dockerfile": "FROM " + base + "\n" + listCtx}
		for i := range 6 {
			files["f"+strconv.Itoa(i)] = "x"
		}
		r, _ := buildWith(t, w, files, job.Build{})
		var f *job.Failure
		if !errors.As(r.err, &f) || f.Code != job.CodeContextTooLarge || !f.Permanent {
			t.Fatalf("error %v, want a permanent context_too_large\n%s", r.err, r.log)
		}
	})
	t.Run("CustomNetworkRefused", func(t *testing.T) {
		w := testWorker(t, nil)
		r, _ := buildWith(t, w, map[string]string{"Dockerfile": "FROM " + base + "\nRUN --mount=type=tmpfs,target=/t true\n"}, job.Build{Network: "ci-net"})
		var f *job.Failure
		if !errors.As(r.err, &f) || !f.Permanent || !strings.Contains(f.Message, `network "ci-net" needs the classic builder`) {
			t.Fatalf("error %v, want a permanent refusal of the custom network", r.err)
		}
	})
}

// TestBuildKitCancel cancels a build in a long RUN: the solve ends within
// two seconds.
func TestBuildKitCancel(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN --mount=type=tmpfs,target=/t echo started-" + testenv.RandomHex(4) + " && sleep 120\n"})
	spec := job.Spec{Build: job.Build{Context: ".", Dockerfile: "Dockerfile", Engine: job.EngineAuto},
		Image: job.Image{Name: "slipway-bk-test/cancel", Tags: []string{testenv.RandomHex(4)}}}
	store := &memLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newLogSink(ctx, "test", store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink.guard = logGuard{masker: redact.New()}
	done := make(chan error, 1)
	go func() {
		_, _, err := w.buildImage(ctx, dir, spec, spec.References()[0], sink)
		done <- err
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(store.text(), "started-") {
		select {
		case err := <-done:
			t.Fatalf("build ended before it was canceled: %v\n%s", err, store.text())
		case <-deadline:
			t.Fatalf("the RUN step never started:\n%s", store.text())
		case <-time.After(100 * time.Millisecond):
		}
	}
	canceled := time.Now()
	cancel()
	select {
	case err := <-done:
		if took := time.Since(canceled); took > 2*time.Second {
			t.Errorf("the build stopped %s after the cancel, want within 2 s", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the build did not stop within 10 s of the cancel")
	}
	sink.Close()
}

// TestBuildKitSyntaxFrontend builds with the offline Dockerfile frontend
// (deploy/offline/dockerfile-frontend.sh): heredocs with <<-, COPY --link
// --chmod --chown, and a bind mount from another stage.
func TestBuildKitSyntaxFrontend(t *testing.T) {
	base := testenv.BaseImage(t)
	w := testWorker(t, nil)
	nonce := testenv.RandomHex(4)
	df := "# syntax=docker/dockerfile:1\nFROM " + base + " AS tools\nRUN echo tool-" + nonce + " > /tool\n" +
		"FROM " + base + "\nCOPY --link --chmod=0750 --chown=1:2 app.sh /app.sh\n" +
		"RUN <<-EOT\n\techo heredoc-" + nonce + "\n\tstat -c '%a %u:%g' /app.sh\n\tEOT\n" +
		"RUN --mount=type=bind,from=tools,source=/tool,target=/t,rw echo changed >> /t && cat /t\n"
	r, _ := buildWith(t, w, map[string]string{"Dockerfile": df, "app.sh": "#!/bin/sh\n"}, job.Build{})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.log)
	}
	for _, want := range []string{"heredoc-" + nonce, "750 1:2", "tool-" + nonce} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
}
