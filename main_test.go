package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// registryDigest asks the registry for the manifest digest of name:tag.
func registryDigest(t *testing.T, registry, name, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, name, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry manifest %s:%s: %d", name, tag, resp.StatusCode)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// TestEndToEnd: a build request becomes a pushed image, on real Postgres, a
// real registry, a real git repository and the real Docker daemon.
func TestEndToEnd(t *testing.T) {
	docker := testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	slip := e2e.Start(t, nil)

	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile":      "ARG BASE\nFROM ${BASE}\nCOPY . /app\nRUN cat /app/kept.txt\n",
		"Dockerfile.fail": "ARG BASE\nFROM ${BASE}\nRUN echo about to fail && exit 3\n",
		".dockerignore":   "ignored.txt\n",
		"kept.txt":        "kept\n",
		"ignored.txt":     "must not reach the image\n",
		"sub/Dockerfile":  "FROM scratch\nCOPY kept.txt /kept.txt\n",
		"sub/kept.txt":    "in sub\n",
	})
	name := "e2e/app-" + testenv.RandomHex(4)

	t.Run("BuildAndPush", func(t *testing.T) {
		a := slip.Post(t, "/api/v1/jobs", map[string]any{
			"source":  map[string]any{"repository": repo, "commit": commit, "ref": "refs/heads/main"},
			"build":   map[string]any{"args": map[string]string{"BASE": base}, "labels": map[string]string{"test": "e2e"}},
			"image":   map[string]any{"name": registry + "/" + name, "tags": []string{"1.0.0", "latest"}},
			"trigger": map[string]any{"system": "jenkins", "job": "app/main", "build_number": "42", "url": "https://ci.example.com/job/app/42/"},
		}).Want(t, http.StatusAccepted)
		var created e2e.Job
		a.Decode(t, &created)
		if loc := a.Header.Get("Location"); loc != "/api/v1/jobs/"+created.ID {
			t.Errorf("Location = %q, want /api/v1/jobs/%s", loc, created.ID)
		}
		j := slip.Wait(t, created.ID)
		logText := slip.Log(t, j.ID)
		if j.State != "succeeded" {
			t.Fatalf("job ended %s: %+v\nlog:\n%s", j.State, j.Error, logText)
		}
		for _, tag := range []string{"1.0.0", "latest"} {
			if got := registryDigest(t, registry, name, tag); got != j.Result.Digest {
				t.Errorf("registry digest of %s = %s, job says %s", tag, got, j.Result.Digest)
			}
		}
		if !strings.Contains(logText, ": COPY . /app") {
			t.Errorf("log lacks the build steps:\n%s", logText)
		}

		// The ignored file stays out of the image; the kept one is in it. The
		// build left no name of it on the daemon: pull what the registry holds.
		ctx := context.Background()
		ref := registry + "/" + name + ":1.0.0"
		if _, err := docker.ImageInspect(ctx, ref); !errdefs.IsNotFound(err) {
			t.Errorf("%s is still on the daemon after its push (%v)", ref, err)
		}
		pull, err := docker.ImagePull(ctx, ref, image.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, pull)
		pull.Close()
		removeImages(t, ref)
		c, err := docker.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"true"}, Labels: testenv.LabelValues()}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if _, err := docker.ContainerStatPath(ctx, c.ID, "/app/kept.txt"); err != nil {
			t.Errorf("kept.txt missing from the image: %v", err)
		}
		if _, err := docker.ContainerStatPath(ctx, c.ID, "/app/ignored.txt"); !errdefs.IsNotFound(err) {
			t.Errorf("ignored.txt: want not found, got %v", err)
		}
	})

	t.Run("ContextSubdirectoryAndDefaultTag", func(t *testing.T) {
		created := slip.Submit(t, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"context": "sub"},
			"image":  map[string]any{"name": registry + "/" + name + "-sub"},
		})
		j := slip.Wait(t, created.ID)
		if j.State != "succeeded" {
			t.Fatalf("job ended %s: %+v", j.State, j.Error)
		}
		if got := registryDigest(t, registry, name+"-sub", commit[:12]); got != j.Result.Digest {
			t.Errorf("registry digest = %s, job says %s", got, j.Result.Digest)
		}
	})

	t.Run("FailingRunStep", func(t *testing.T) {
		created := slip.Submit(t, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"dockerfile": "Dockerfile.fail", "args": map[string]string{"BASE": base}},
			"image":  map[string]any{"name": registry + "/" + name + "-fail"},
		})
		j := slip.Wait(t, created.ID)
		if j.State != "failed" || j.Error == nil {
			t.Fatalf("job ended %s with error %+v, want failed", j.State, j.Error)
		}
		// Provenance labels add steps after the Dockerfile's own, so only
		// the step's number and instruction are fixed.
		const step = "Step 3/"
		const run = " : RUN echo about to fail && exit 3"
		if j.Error.Code != "build_failed" || !strings.Contains(j.Error.Message, step) || !strings.Contains(j.Error.Message, run) {
			t.Errorf("error = %+v, want build_failed naming %q", j.Error, step+"…"+run)
		}
		logText := slip.Log(t, j.ID)
		if !strings.Contains(logText, run) || !strings.Contains(logText, "about to fail") {
			t.Errorf("log lacks the failing step:\n%s", logText)
		}
	})

	t.Run("InvalidRequestCreatesNothing", func(t *testing.T) {
		before := slip.CountJobs(t)
		a := slip.Post(t, "/api/v1/jobs", map[string]any{
			"source": map[string]any{"repository": repo, "commit": "--upload-pack=touch /tmp/pwn"},
			"image":  map[string]any{"name": "Not A Valid Image"},
		}).Want(t, http.StatusUnprocessableEntity)
		body := a.Body
		if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		var p struct {
			Status int                      `json:"status"`
			Errors []struct{ Field string } `json:"errors"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusUnprocessableEntity || len(p.Errors) != 2 {
			t.Errorf("problem = %s (%v), want status 422 and two field errors", body, err)
		}
		if after := slip.CountJobs(t); after != before {
			t.Errorf("jobs went from %d to %d after an invalid request", before, after)
		}
	})
}
