package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

type cliRun struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary with exactly env, calling onLine for each stdout
// line as it arrives.
func runCLI(t *testing.T, bin string, env map[string]string, onLine func(string), args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func jobState(t *testing.T, slip *e2e.Slipway, id string) string {
	t.Helper()
	ctx := context.Background()
	conn := slip.Conn(t)
	var state string
	q := `SELECT state FROM jobs ORDER BY created_at DESC LIMIT 1`
	args := []any{}
	if id != "" {
		q, args = `SELECT state FROM jobs WHERE id = $1`, []any{id}
	}
	if err := conn.QueryRow(ctx, q, args...).Scan(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestSubmitWait: `slipway submit --wait` in a Jenkins and in a Bamboo
// environment against a real server, Docker daemon, registry and git
// repository: exit 0 for a pushed image, 1 for a failed build, 2 for
// anything else; the log streams while the build runs.
func TestSubmitWait(t *testing.T) {
	docker := testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	bin := testenv.Binary(t)
	// SLIPWAY_TOKEN is an admin API token: it queues the job and reads it back.
	const token = e2e.AdminToken
	slip := e2e.Start(t, nil)
	// The nonce keeps Docker's layer cache from replaying the step silently.
	nonce := testenv.RandomHex(6)
	repo, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile":      "ARG BASE\nFROM ${BASE}\nRUN echo live-marker " + nonce + " && sleep 5\n",
		"Dockerfile.fail": "ARG BASE\nFROM ${BASE}\nRUN echo about to fail && exit 3\n",
	})
	name := "cli/app-" + testenv.RandomHex(4)
	jenkins := map[string]string{
		"SLIPWAY_URL":   slip.URL,
		"SLIPWAY_TOKEN": token,
		"JENKINS_URL":   "https://jenkins.example.com/",
		"BUILD_URL":     "https://jenkins.example.com/job/app/7/",
		"JOB_NAME":      "app",
		"BUILD_NUMBER":  "7",
		"GIT_URL":       repo,
		"GIT_COMMIT":    commit,
		"GIT_BRANCH":    "origin/main",
	}
	digestFile := filepath.Join(t.TempDir(), "digest")

	t.Run("JenkinsSucceeds", func(t *testing.T) {
		liveState := ""
		r := runCLI(t, bin, jenkins, func(line string) {
			if line == "live-marker "+nonce && liveState == "" {
				liveState = jobState(t, slip, "")
			}
		}, "submit", "--wait", "--image", registry+"/"+name, "--tag", "7,latest", "--build-arg", "BASE="+base,
			"--digest-file", digestFile, "--poll-interval", "200ms")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if liveState != "running" {
			t.Errorf("job was %q when its log line arrived, want running", liveState)
		}
		digest, err := os.ReadFile(digestFile)
		if err != nil {
			t.Fatal(err)
		}
		want := registryDigest(t, registry, name, "7")
		if strings.TrimSpace(string(digest)) != want || !strings.Contains(r.stdout, want) {
			t.Errorf("digest file %q, stdout %q; registry says %s", digest, r.stdout, want)
		}

		// The image says where it came from. The build left no name of it on
		// the daemon: inspect what the registry holds.
		ref := registry + "/" + name + ":7"
		if _, err := docker.ImageInspect(context.Background(), ref); !errdefs.IsNotFound(err) {
			t.Errorf("%s is still on the daemon after its push (%v)", ref, err)
		}
		pull, err := docker.ImagePull(context.Background(), ref, image.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, pull)
		pull.Close()
		t.Cleanup(func() { _, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true}) })
		img, err := docker.ImageInspect(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.source":   repo,
			"org.opencontainers.image.revision": commit,
			"io.slipway.ci.build-url":           "https://jenkins.example.com/job/app/7/",
		} {
			if got := img.Config.Labels[k]; got != want {
				t.Errorf("image label %s = %q, want %q", k, got, want)
			}
		}
		if _, err := time.Parse(time.RFC3339, img.Config.Labels["org.opencontainers.image.created"]); err != nil {
			t.Errorf("image label created: %v", err)
		}

		// A retried step finds the job it queued before.
		again := runCLI(t, bin, jenkins, nil, "submit", "--image", registry+"/"+name, "--tag", "7,latest", "--build-arg", "BASE="+base)
		if again.code != 0 || !strings.Contains(again.stderr, "already queued") {
			t.Errorf("retried step: exit %d, stderr %s", again.code, again.stderr)
		}
		id := strings.TrimSpace(again.stdout)
		if st := runCLI(t, bin, jenkins, nil, "status", id); st.code != 0 || !strings.Contains(st.stdout, `"succeeded"`) {
			t.Errorf("status: exit %d\n%s%s", st.code, st.stdout, st.stderr)
		}
		if lg := runCLI(t, bin, jenkins, nil, "logs", "-f", id); lg.code != 0 || !strings.Contains(lg.stdout, "live-marker") {
			t.Errorf("logs -f: exit %d\n%s%s", lg.code, lg.stdout, lg.stderr)
		}
	})

	t.Run("BambooFails", func(t *testing.T) {
		bamboo := map[string]string{
			"SLIPWAY_URL":                         slip.URL,
			"SLIPWAY_TOKEN":                       token,
			"bamboo_buildResultKey":               "PROJ-APP-9",
			"bamboo_buildResultsUrl":              "https://bamboo.example.com/browse/PROJ-APP-9",
			"bamboo_planRepository_repositoryUrl": repo,
			"bamboo_planRepository_revision":      commit,
			"bamboo_planRepository_branchName":    "main",
		}
		r := runCLI(t, bin, bamboo, nil, "submit", "--wait", "--image", registry+"/"+name+"-fail",
			"--dockerfile", "Dockerfile.fail", "--build-arg", "BASE="+base, "--poll-interval", "200ms")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "about to fail") || !strings.Contains(r.stderr, "build_failed") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})

	t.Run("OtherErrorsExit2", func(t *testing.T) {
		wrong := map[string]string{}
		for k, v := range jenkins {
			wrong[k] = v
		}
		wrong["SLIPWAY_TOKEN"] = "wrong"
		wrong["BUILD_NUMBER"] = "8"
		before := slip.CountJobs(t)
		if r := runCLI(t, bin, wrong, nil, "submit", "--wait", "--image", registry+"/"+name); r.code != 2 || !strings.Contains(r.stderr, "401") {
			t.Errorf("wrong token: exit %d, stderr %s", r.code, r.stderr)
		}
		if after := slip.CountJobs(t); after != before {
			t.Errorf("a refused submit created %d jobs", after-before)
		}
		unreachable := map[string]string{"SLIPWAY_URL": "http://127.0.0.1:1", "SLIPWAY_TOKEN": token, "GIT_URL": repo, "GIT_COMMIT": commit}
		if r := runCLI(t, bin, unreachable, nil, "submit", "--wait", "--image", registry+"/"+name); r.code != 2 {
			t.Errorf("unreachable server: exit %d, stderr %s", r.code, r.stderr)
		}
		if r := runCLI(t, bin, map[string]string{}, nil, "submit", "--image", registry+"/"+name); r.code != 2 || !strings.Contains(r.stderr, "SLIPWAY_URL") {
			t.Errorf("no SLIPWAY_URL: exit %d, stderr %s", r.code, r.stderr)
		}
		if r := runCLI(t, bin, jenkins, nil, "cancel", "00000000-0000-0000-0000-000000000000"); r.code != 2 {
			t.Errorf("cancel of no job: exit %d, stderr %s", r.code, r.stderr)
		}
	})
}
