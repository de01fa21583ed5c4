package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// composeSmoke starts deploy/compose.yaml with Debian's docker-compose, with
// slipwayImage as Slipway and the local Postgres and registry images, waits
// for /readyz and has the started Slipway build and push an image. The
// dogfood test calls it with the image it has just built, so CI builds
// Slipway's image once.
func composeSmoke(t *testing.T, slipwayImage string) {
	t.Helper()
	compose := needTool(t, "docker-compose")
	base := testenv.BaseImage(t)
	var sock syscall.Stat_t
	if err := syscall.Stat("/var/run/docker.sock", &sock); err != nil {
		t.Skipf("compose mounts /var/run/docker.sock: %v", err)
	}

	// A repository the container reads through a bind mount, owned by the
	// image's user as git wants.
	src, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "built by the Compose deployment\n",
	})
	repoDir := filepath.Join(os.TempDir(), "slipway-compose-"+testenv.RandomHex(4), "app.git")
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(repoDir)) })
	testenv.Git(t, "", "clone", "-q", "--bare", strings.TrimPrefix(src, "file://"), repoDir)
	if err := exec.Command("chown", "-R", "10001:10001", filepath.Dir(repoDir)).Run(); err != nil {
		t.Skipf("chown the repository to the image's user (needs root, as in CI): %v", err)
	}
	_ = os.Chmod(filepath.Dir(repoDir), 0o755)

	dir := t.TempDir()
	override := filepath.Join(dir, "override.yaml")
	if err := os.WriteFile(override, []byte(fmt.Sprintf(
		"services:\n  slipway:\n    volumes:\n      - %s:%s:ro\n", repoDir, repoDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "empty.env")
	dockerConfig := filepath.Join(dir, "docker-config")
	for _, p := range []string{envFile, dockerConfig} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(envFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dockerConfig, 0o755); err != nil {
		t.Fatal(err)
	}
	apiPort, registryPort := freePort(t), freePort(t)
	env := append(os.Environ(),
		"SLIPWAY_IMAGE="+slipwayImage,
		"SLIPWAY_POSTGRES_IMAGE="+envOr("SLIPWAY_TEST_POSTGRES_IMAGE", "postgres:16-alpine"),
		"SLIPWAY_REGISTRY_IMAGE="+envOr("SLIPWAY_TEST_REGISTRY_IMAGE", "registry:2"),
		"POSTGRES_PASSWORD=compose-"+testenv.RandomHex(8),
		"SLIPWAY_ADMIN_TOKEN="+e2e.AdminToken,
		"DOCKER_GID="+strconv.Itoa(int(sock.Gid)),
		"SLIPWAY_GIT_PROTOCOLS=file",
		"SLIPWAY_PORT="+apiPort,
		"REGISTRY_PORT="+registryPort,
		"SLIPWAY_DOCKER_CONFIG_DIR="+dockerConfig,
	)
	project := "slipwaytest" + testenv.RandomHex(4)
	dc := func(args ...string) (string, error) {
		cmd := exec.Command(compose, append([]string{"-p", project, "-f", "compose.yaml", "-f", override, "--env-file", envFile}, args...)...)
		cmd.Dir = filepath.Join(gitOut(t, "rev-parse", "--show-toplevel"), "deploy")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := dc("logs", "--no-color", "--tail", "50")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := dc("down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := dc("up", "-d", "--no-build"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}

	url := "http://127.0.0.1:" + apiPort
	deadline := time.Now().Add(4 * time.Minute)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Compose deployment's /readyz did not answer 200 within 4 minutes (last: %v)", err)
		}
		time.Sleep(time.Second)
	}

	slip := &e2e.Slipway{URL: url}
	name := "compose/hello-" + testenv.RandomHex(4)
	id := slip.Post(t, "/api/v1/jobs", map[string]any{
		"source": map[string]any{"repository": "file://" + repoDir, "commit": commit},
		"build":  map[string]any{"args": map[string]string{"BASE": base}},
		"image":  map[string]any{"name": "127.0.0.1:" + registryPort + "/" + name, "tags": []string{"1"}},
	}).Want(t, http.StatusAccepted).JobID(t)
	j := slip.WaitFor(t, id, 5*time.Minute, "the job to end", e2e.Job.Ended)
	if j.State != "succeeded" {
		raw, _ := json.Marshal(j)
		t.Fatalf("the Compose deployment's job ended %s: %s\nlog:\n%s", j.State, raw, slip.Log(t, id))
	}
	if got := registryDigest(t, "127.0.0.1:"+registryPort, name, "1"); got != j.Result.Digest {
		t.Errorf("registry digest %s, job says %s", got, j.Result.Digest)
	}
	removeImages(t, "127.0.0.1:"+registryPort+"/"+name+":1")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
