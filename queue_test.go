package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// slowRepo is a repository whose build sleeps in a RUN step; nonce makes the
// step new to the daemon's cache, so every build really runs it.
func slowRepo(t *testing.T, seconds int) (repo, commit, nonce string) {
	t.Helper()
	nonce = testenv.RandomHex(6)
	repo, commit = testenv.GitRepo(t, map[string]string{
		"Dockerfile":      fmt.Sprintf("ARG BASE\nFROM ${BASE}\nRUN echo %s && sleep %d\nCOPY f /f\n", nonce, seconds),
		"Dockerfile.fail": "ARG BASE\nFROM ${BASE}\nRUN echo " + nonce + " && exit 3\n",
		"Dockerfile.fast": "FROM scratch\nCOPY f /f\n",
		"f":               nonce + "\n",
	})
	return repo, commit, nonce
}

func buildRequest(repo, commit, base, image string, extra map[string]any) map[string]any {
	req := map[string]any{
		"source": map[string]any{"repository": repo, "commit": commit},
		"build":  map[string]any{"args": map[string]string{"BASE": base}},
		"image":  map[string]any{"name": image},
	}
	for k, v := range extra {
		req[k] = v
	}
	return req
}

// TestQueueKillWorker: a worker killed with SIGKILL mid-build loses its job
// to another worker once the lease expires; the job succeeds on the second
// attempt with one image in the registry.
func TestQueueKillWorker(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	c := startQueue(t)
	workers := map[int]*e2e.Proc{}
	for _, name := range []string{"worker-a", "worker-b"} {
		p := c.Worker(t, name, map[string]string{"SLIPWAY_WORKERS": "1"})
		workers[p.Cmd.Process.Pid] = p
	}
	repo, commit, _ := slowRepo(t, 3)
	name := "queue/kill-" + testenv.RandomHex(4)
	removeImages(t, registry+"/"+name+":"+commit[:12])
	j := c.Submit(t, buildRequest(repo, commit, base, registry+"/"+name, nil))

	owner := c.WaitFor(t, j.ID, time.Minute, "the build step", func(e2e.Job) bool {
		return strings.Contains(c.Log(t, j.ID), "sleep 3")
	}).Worker
	victim := workers[ownerPID(t, owner)]
	if victim == nil {
		t.Fatalf("job owner %s is none of the workers", owner)
	}
	killed := time.Now()
	victim.Stop(t, syscall.SIGKILL)
	c.WaitFor(t, j.ID, 45*time.Second, "a second attempt", func(j e2e.Job) bool { return j.Attempt == 2 && j.State == "running" })
	recovered := time.Since(killed)
	done := c.Wait(t, j.ID)
	t.Logf("kill -9 recovery: running again on another worker %s after the kill (lease 3s); succeeded %s after it",
		recovered.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	if done.State != "succeeded" || done.Attempt != 2 || len(done.Attempts) != 2 {
		t.Fatalf("job = %s, attempt %d, attempts %+v; want succeeded on attempt 2", done.State, done.Attempt, done.Attempts)
	}
	if a := done.Attempts[0]; a.Outcome != "failed" || a.Error == nil || a.Error.Code != "lease_expired" || a.Worker != owner {
		t.Errorf("first attempt = %+v, want failed with lease_expired by %s", a, owner)
	}
	if a := done.Attempts[1]; a.Outcome != "succeeded" || a.Worker == owner {
		t.Errorf("second attempt = %+v, want succeeded on another worker", a)
	}
	tags := registryTags(t, registry, name)
	if len(tags) != 1 || registryDigest(t, registry, name, tags[0]) != done.Result.Digest {
		t.Errorf("registry holds tags %v, want one image with digest %s", tags, done.Result.Digest)
	}
}

// TestQueueTwoWorkersFiftyJobs: two worker processes share fifty jobs and
// build each exactly once.
func TestQueueTwoWorkersFiftyJobs(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	c := startQueue(t)
	a := c.Worker(t, "worker-a", map[string]string{"SLIPWAY_WORKERS": "3"})
	b := c.Worker(t, "worker-b", map[string]string{"SLIPWAY_WORKERS": "3"})
	repo, commit, _ := slowRepo(t, 0)

	ids := make([]string, 50)
	var refs []string
	for i := range ids {
		refs = append(refs, fmt.Sprintf("queue/fifty:job%d", i))
	}
	removeImages(t, refs...)
	for i := range ids {
		ids[i] = c.Submit(t, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"dockerfile": "Dockerfile.fast"},
			"image":  map[string]any{"name": "queue/fifty", "tags": []string{fmt.Sprintf("job%d", i)}},
			"push":   false,
		}).ID
	}
	for _, id := range ids {
		if j := c.Wait(t, id); j.State != "succeeded" || j.Attempt != 1 {
			t.Errorf("job %s ended %s on attempt %d, want succeeded on attempt 1 (%+v)", id, j.State, j.Attempt, j.Error)
		}
	}
	starts := map[string]int{}
	perWorker := map[string]int{}
	for _, p := range []*e2e.Proc{a, b} {
		for _, rec := range p.Records("build started") {
			starts[fmt.Sprint(rec["job_id"])]++
			perWorker[p.Name]++
		}
	}
	for _, id := range ids {
		if starts[id] != 1 {
			t.Errorf("job %s was started %d times, want 1", id, starts[id])
		}
	}
	if len(starts) != len(ids) {
		t.Errorf("%d distinct jobs started, want %d", len(starts), len(ids))
	}
	t.Logf("builds per worker: %v", perWorker)
}

// TestQueueCancel cancels a queued job and a running one, refuses to cancel a
// finished one, and retries a canceled job. The worker only learns of new
// jobs through LISTEN/NOTIFY.
func TestQueueCancel(t *testing.T) {
	t.Parallel()
	docker := testenv.Docker(t)
	base := testenv.BaseImage(t)
	c := startQueue(t)
	// Polling so slow that every claim here must come from a notification.
	c.Worker(t, "worker", map[string]string{"SLIPWAY_WORKERS": "1", "SLIPWAY_POLL_INTERVAL": "10m"})
	repo, commit, nonce := slowRepo(t, 60)
	removeImages(t, "queue/cancel:"+commit[:12], "queue/cancel-fast:"+commit[:12])

	running := c.Submit(t, buildRequest(repo, commit, base, "queue/cancel", map[string]any{"push": false}))
	c.WaitFor(t, running.ID, time.Minute, "the build step", func(e2e.Job) bool {
		return strings.Contains(c.Log(t, running.ID), "sleep 60")
	})
	// One worker slot, taken: this one waits.
	queued := c.Submit(t, buildRequest(repo, commit, base, "queue/cancel-fast", map[string]any{
		"push": false, "build": map[string]any{"dockerfile": "Dockerfile.fast"},
	}))

	t.Run("Queued", func(t *testing.T) {
		a := c.Post(t, "/api/v1/jobs/"+queued.ID+"/cancel", nil)
		if a.Status != http.StatusOK || !strings.Contains(a.String(), `"state":"canceled"`) {
			t.Fatalf("cancel queued: %d %s, want 200 and canceled", a.Status, a.Body)
		}
		if j := c.Job(t, queued.ID); j.State != "canceled" || j.Attempt != 0 || j.Error == nil || j.Error.Code != "canceled" {
			t.Errorf("job = %+v, want canceled before any attempt", j)
		}
	})

	t.Run("Running", func(t *testing.T) {
		asked := time.Now()
		a := c.Post(t, "/api/v1/jobs/"+running.ID+"/cancel", nil)
		if a.Status != http.StatusAccepted || !strings.Contains(a.String(), `"cancel_requested":true`) {
			t.Fatalf("cancel running: %d %s, want 202 with cancel_requested", a.Status, a.Body)
		}
		j := c.WaitFor(t, running.ID, 10*time.Second, "canceled", func(j e2e.Job) bool { return j.State == "canceled" })
		latency := time.Since(asked)
		t.Logf("cancel latency of a running job: %s", latency.Round(time.Millisecond))
		if latency > 2*time.Second {
			t.Errorf("running job canceled after %s, want within 2s", latency)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Outcome != "canceled" {
			t.Errorf("attempts = %+v, want one, canceled", j.Attempts)
		}
		// The daemon removes the build's intermediate container once the
		// stream is closed.
		deadline := time.Now().Add(20 * time.Second)
		for {
			left := containersRunning(t, docker, nonce)
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d build containers still exist after the cancel", left)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("Finished", func(t *testing.T) {
		a := c.Post(t, "/api/v1/jobs/"+running.ID+"/cancel", nil)
		if ctype := a.Header.Get("Content-Type"); a.Status != http.StatusConflict || ctype != "application/problem+json" {
			t.Errorf("cancel finished: %d %s %s, want 409 problem", a.Status, ctype, a.Body)
		}
		if a := c.Post(t, "/api/v1/jobs/00000000-0000-7000-8000-000000000000/cancel", nil); a.Status != http.StatusNotFound {
			t.Errorf("cancel unknown job: %d, want 404", a.Status)
		}
	})

	t.Run("Retry", func(t *testing.T) {
		var retried e2e.Job
		c.Post(t, "/api/v1/jobs/"+queued.ID+"/retry", nil).Want(t, http.StatusCreated).Decode(t, &retried)
		if retried.RetryOf != queued.ID || retried.ID == queued.ID {
			t.Errorf("retry = %+v, want a new job with retry_of %s", retried, queued.ID)
		}
		if old := c.Job(t, queued.ID); old.RetriedBy != retried.ID {
			t.Errorf("retried_by = %q, want %s", old.RetriedBy, retried.ID)
		}
		if j := c.Wait(t, retried.ID); j.State != "succeeded" {
			t.Errorf("retried job ended %s: %+v", j.State, j.Error)
		}
		if a := c.Post(t, "/api/v1/jobs/"+queued.ID+"/retry", nil); a.Status != http.StatusConflict || a.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("second retry: %d %s, want 409 problem", a.Status, a.Header.Get("Content-Type"))
		}
		if a := c.Post(t, "/api/v1/jobs/"+retried.ID+"/cancel", nil); a.Status != http.StatusConflict {
			t.Errorf("cancel of the finished retry: %d, want 409", a.Status)
		}
	})
}

// containersRunning counts containers whose command holds marker.
func containersRunning(t *testing.T, docker interface {
	ContainerList(context.Context, container.ListOptions) ([]container.Summary, error)
}, marker string) int {
	t.Helper()
	list, err := docker.ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range list {
		if strings.Contains(c.Command, marker) {
			n++
		}
	}
	return n
}

// TestQueueSIGTERM: a worker told to stop lets its build run for the grace
// period, then hands the job back; another worker finishes it.
func TestQueueSIGTERM(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	base := testenv.BaseImage(t)
	c := startQueue(t)
	first := c.Worker(t, "worker-a", map[string]string{"SLIPWAY_WORKERS": "1", "SLIPWAY_SHUTDOWN_GRACE": "1s"})
	repo, commit, _ := slowRepo(t, 3)
	removeImages(t, "queue/sigterm:"+commit[:12])
	j := c.Submit(t, buildRequest(repo, commit, base, "queue/sigterm", map[string]any{"push": false}))
	c.WaitFor(t, j.ID, time.Minute, "the build step", func(e2e.Job) bool {
		return strings.Contains(c.Log(t, j.ID), "sleep 3")
	})
	first.Stop(t, syscall.SIGTERM)
	if err := first.Err(); err != nil {
		t.Errorf("worker exited with %v after SIGTERM, want 0", err)
	}
	if got := c.Job(t, j.ID); got.State != "queued" {
		t.Fatalf("after the worker stopped the job is %s, want queued", got.State)
	}
	c.Worker(t, "worker-b", map[string]string{"SLIPWAY_WORKERS": "1"})
	done := c.Wait(t, j.ID)
	if done.State != "succeeded" || len(done.Attempts) != 2 || done.Attempts[0].Outcome != "released" {
		t.Errorf("job = %s with attempts %+v, want succeeded after a released attempt", done.State, done.Attempts)
	}
}

// TestQueueRetries: transient push failures are retried with backoff; a
// failing RUN is not.
func TestQueueRetries(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	flaky := newFailingRegistry(t, registry, 2)
	c := startQueue(t)
	c.Worker(t, "worker", map[string]string{"SLIPWAY_WORKERS": "2"})
	repo, commit, _ := slowRepo(t, 0)

	t.Run("Registry503", func(t *testing.T) {
		name := "queue/flaky-" + testenv.RandomHex(4)
		removeImages(t, flaky.Addr+"/"+name+":"+commit[:12])
		j := c.Wait(t, c.Submit(t, buildRequest(repo, commit, base, flaky.Addr+"/"+name, map[string]any{
			"build": map[string]any{"dockerfile": "Dockerfile.fast"},
		})).ID)
		if j.State != "succeeded" || j.Attempt != 3 || len(j.Attempts) != 3 {
			t.Fatalf("job = %s on attempt %d (%+v), attempts %+v; want succeeded on attempt 3", j.State, j.Attempt, j.Error, j.Attempts)
		}
		for _, a := range j.Attempts[:2] {
			if a.Outcome != "failed" || a.Error == nil || a.Error.Code != "push_failed" || !strings.Contains(a.Error.Message, "503") {
				t.Errorf("attempt %+v, want a push_failed naming 503", a)
			}
		}
		if got := registryDigest(t, registry, name, commit[:12]); got != j.Result.Digest {
			t.Errorf("registry digest %s, job says %s", got, j.Result.Digest)
		}
	})

	t.Run("FailingRun", func(t *testing.T) {
		j := c.Wait(t, c.Submit(t, buildRequest(repo, commit, base, registry+"/queue/fail", map[string]any{
			"build": map[string]any{"dockerfile": "Dockerfile.fail", "args": map[string]string{"BASE": base}},
		})).ID)
		if j.State != "failed" || j.Attempt != 1 || len(j.Attempts) != 1 || j.Error == nil || j.Error.Code != "build_failed" {
			t.Errorf("job = %s on attempt %d, error %+v, attempts %+v; want build_failed on attempt 1", j.State, j.Attempt, j.Error, j.Attempts)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		slow, slowCommit, _ := slowRepo(t, 30)
		j := c.Wait(t, c.Submit(t, buildRequest(slow, slowCommit, base, "queue/timeout", map[string]any{
			"push": false, "timeout_seconds": 2,
		})).ID)
		if j.State != "failed" || j.Error == nil || j.Error.Code != "timeout" || j.Attempt != 1 {
			t.Errorf("job = %s on attempt %d, error %+v; want failed with timeout on attempt 1", j.State, j.Attempt, j.Error)
		}
	})
}

// TestQueueDockerDown: while the worker's Docker daemon is gone the worker
// claims nothing, and the waiting jobs all build once it is back.
func TestQueueDockerDown(t *testing.T) {
	t.Parallel()
	testenv.Docker(t)
	sock := newSocketProxy(t)
	c := startQueue(t)
	w := c.Worker(t, "worker", map[string]string{"SLIPWAY_WORKERS": "2", "DOCKER_HOST": "unix://" + sock.Path})
	repo, commit, _ := slowRepo(t, 0)

	sock.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.Records("not claiming jobs")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker never noticed the daemon went away")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ids []string
	removeImages(t, "queue/docker-down:0", "queue/docker-down:1", "queue/docker-down:2")
	for i := range 3 {
		ids = append(ids, c.Submit(t, map[string]any{
			"source": map[string]any{"repository": repo, "commit": commit},
			"build":  map[string]any{"dockerfile": "Dockerfile.fast"},
			"image":  map[string]any{"name": "queue/docker-down", "tags": []string{fmt.Sprint(i)}},
			"push":   false,
		}).ID)
	}
	time.Sleep(time.Second)
	for _, id := range ids {
		if j := c.Job(t, id); j.State != "queued" {
			t.Errorf("job %s is %s while the daemon is away, want queued", id, j.State)
		}
	}
	sock.Start()
	for _, id := range ids {
		if j := c.Wait(t, id); j.State != "succeeded" || j.Attempt != 1 {
			t.Errorf("job %s ended %s on attempt %d, want succeeded on attempt 1 (%+v)", id, j.State, j.Attempt, j.Error)
		}
	}
}
