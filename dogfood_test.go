package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestDogfood: Slipway builds Slipway. A job whose source is this repository
// at HEAD builds the Dockerfile on the offline-capable base images
// (SLIPWAY_TEST_GO_IMAGE, SLIPWAY_TEST_RUNTIME_IMAGE) and pushes it to the
// test registry; the pushed image then says it is that commit.
//
// The build stage needs Slipway's Go modules, and containers on the default
// bridge may have no network. The job asks for host networking (allowed by
// SLIPWAY_BUILD_NETWORKS, as an operator would allow it) and GOPROXY points
// at a module proxy this test serves from the local module cache, which
// `go test` has just filled: no internet is needed, as on an air-gapped site
// with an internal proxy.
func TestDogfood(t *testing.T) {
	docker := testenv.Docker(t)
	registry := testenv.Registry(t)
	if testing.Short() {
		t.Skip("skipping the dogfood build in -short mode")
	}
	goImage := envOr("SLIPWAY_TEST_GO_IMAGE", "golang:1.26")
	runtimeImage := envOr("SLIPWAY_TEST_RUNTIME_IMAGE", "debian:12-slim")
	top := gitOut(t, "rev-parse", "--show-toplevel")
	commit := gitOut(t, "rev-parse", "HEAD")
	proxy := moduleProxy(t)
	removeBuildLeftovers(t, docker, goImage, runtimeImage)

	slip := e2e.Start(t, map[string]string{
		"SLIPWAY_BUILD_NETWORKS": "host",
		"SLIPWAY_WORKERS":        "1",
	})
	name := registry + "/dogfood/slipway"
	tag := commit[:12]
	created := slip.Submit(t, map[string]any{
		"source": map[string]any{"repository": "file://" + top, "commit": commit},
		"build": map[string]any{
			"network": "host",
			"args": map[string]string{
				"GO_IMAGE":      goImage,
				"RUNTIME_IMAGE": runtimeImage,
				"GOPROXY":       proxy,
				"VERSION":       "dogfood",
				"COMMIT":        commit,
			},
		},
		"image":   map[string]any{"name": name, "tags": []string{tag}},
		"trigger": map[string]any{"system": "api", "job": "dogfood"},
	})
	j := slip.WaitFor(t, created.ID, 25*time.Minute, "an end", e2e.Job.Ended)
	if j.State != "succeeded" {
		t.Fatalf("dogfood build ended %s: %+v\nlog:\n%s", j.State, j.Error, slip.Log(t, j.ID))
	}
	ref := name + ":" + tag
	if got := registryDigest(t, registry, "dogfood/slipway", tag); got != j.Result.Digest {
		t.Errorf("registry digest %s, job says %s", got, j.Result.Digest)
	}

	// Run what the registry holds: the build left no name of it on the daemon.
	ctx := context.Background()
	if _, err := docker.ImageInspect(ctx, ref); !errdefs.IsNotFound(err) {
		t.Fatalf("%s is still on the daemon after its push (%v)", ref, err)
	}
	t.Cleanup(func() { _, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true}) })
	c, err := testcontainers.Run(ctx, ref,
		testcontainers.WithCmd("version"),
		testenv.Labels(),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(2*time.Minute)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("run %s: %v", ref, err)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(logs)
	logs.Close()
	want := "slipway dogfood (commit " + commit + ")"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("slipway version printed %q, want %q", got, want)
	}

	img, err := docker.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg := img.Config
	if cfg.User != "10001:10001" {
		t.Errorf("image user = %q, want 10001:10001 (non-root)", cfg.User)
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("image exposes %v, want 8080/tcp", cfg.ExposedPorts)
	}
	if cfg.Healthcheck == nil || strings.Join(cfg.Healthcheck.Test, " ") != "CMD /usr/local/bin/slipway healthcheck" {
		t.Errorf("healthcheck = %+v, want slipway healthcheck", cfg.Healthcheck)
	}
	if got := cfg.Labels["org.opencontainers.image.revision"]; got != commit {
		t.Errorf("revision label = %q, want %s", got, commit)
	}

	// The image just built runs the Compose deployment, so CI builds it once.
	t.Run("Compose", func(t *testing.T) { composeSmoke(t, ref) })
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		t.Fatalf("git %s: %v (the test must run inside Slipway's git checkout)", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// moduleProxy serves the module cache's download directory, which has the
// GOPROXY protocol's layout, on a loopback port.
func moduleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// removeBuildLeftovers deletes, when the test ends, the untagged images the
// legacy builder leaves behind (the build stage is ~1 GB with the Go build
// cache): those created during the test that descend from one of bases.
func removeBuildLeftovers(t *testing.T, docker *client.Client, bases ...string) {
	t.Helper()
	ctx := context.Background()
	baseIDs := map[string]bool{}
	for _, b := range bases {
		if img, err := docker.ImageInspect(ctx, b); err == nil {
			baseIDs[img.ID] = true
		}
	}
	start := time.Now().Add(-time.Second).Unix()
	t.Cleanup(func() {
		all, err := docker.ImageList(ctx, image.ListOptions{All: true})
		if err != nil {
			t.Logf("list images: %v", err)
			return
		}
		parent := map[string]string{}
		for _, im := range all {
			parent[im.ID] = im.ParentID
		}
		for _, im := range all {
			if len(im.RepoTags) > 0 && im.RepoTags[0] != "<none>:<none>" || im.Created < start {
				continue
			}
			for p := im.ParentID; p != ""; p = parent[p] {
				if baseIDs[p] {
					_, _ = docker.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true})
					break
				}
			}
		}
	})
}
