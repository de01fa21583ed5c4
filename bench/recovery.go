package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// hasWorkerCommand reports whether the binary has `slipway worker`.
func (b *bench) hasWorkerCommand(ctx context.Context) bool {
	o, _ := exec.CommandContext(ctx, b.binary, "worker", "--help").CombinedOutput()
	return !strings.Contains(string(o), "unknown command")
}

// recovery: a running build's worker is killed with SIGKILL and another
// worker started; the time until the build is taken up again. Then the time
// from a cancel request to the running build's job being canceled.
func (b *bench) recovery(ctx context.Context) error {
	if _, err := docker(ctx, "version"); err != nil {
		return fmt.Errorf("no Docker daemon: %w", err)
	}
	if _, err := b.db.Exec(ctx, "TRUNCATE jobs CASCADE"); err != nil {
		return err
	}
	repo, err := b.newRepo(ctx, "FROM "+baseImage()+"\nCOPY nonce.txt /nonce.txt\nRUN sleep 60\n")
	if err != nil {
		return err
	}
	sha, err := repo.commit(ctx)
	if err != nil {
		return err
	}
	workerEnv := map[string]string{"SLIPWAY_WORKERS": "1"}
	if b.smoke {
		// A short lease keeps the smoke run short; the full run uses the default.
		workerEnv["SLIPWAY_LEASE"] = "3s"
	}
	split := b.hasWorkerCommand(ctx)
	serveEnv := map[string]string{"SLIPWAY_WORKERS": "0"}
	if !split {
		serveEnv = map[string]string{"SLIPWAY_WORKERS": "1"}
	}
	s, err := b.startSlipway(ctx, "serve", serveEnv)
	if err != nil {
		return err
	}
	var w *slipway
	if split {
		if w, err = b.startSlipway(ctx, "worker", workerEnv); err != nil {
			return err
		}
	}
	id, err := b.postJob(ctx, s, map[string]any{
		"source": map[string]any{"repository": "file://" + repo.dir, "commit": sha},
		"image":  map[string]any{"name": "registry.example.com/bench/slow"},
		"push":   false,
	})
	if err != nil {
		return err
	}
	if err := b.waitJob(ctx, id, time.Minute, "state = 'running'"); err != nil {
		return err
	}
	// Let the build reach its RUN step.
	time.Sleep(2 * time.Second)

	if !split {
		b.na(7, "recovery after kill -9 of a worker", "until the queue lands (no `slipway worker` command)")
	} else {
		var owner string
		if err := b.db.QueryRow(ctx, `SELECT coalesce(owner, '') FROM jobs WHERE id = $1`, id).Scan(&owner); err != nil {
			return err
		}
		w.kill()
		killed := time.Now()
		if _, err := b.startSlipway(ctx, "worker", workerEnv); err != nil {
			return err
		}
		limit := 2 * time.Minute
		err := b.waitJob(ctx, id, limit, fmt.Sprintf("(state = 'running' AND owner IS NOT NULL AND owner <> '%s') OR finished_at IS NOT NULL", strings.ReplaceAll(owner, "'", "''")))
		if err != nil {
			b.na(7, "recovery after kill -9 of a worker", err.Error())
		} else {
			took := time.Since(killed)
			r := row{num: 7, what: "recovery after kill -9 of a worker", slipway: took.Round(10 * time.Millisecond).String(), goal: "≤ 45 s"}
			r.met = map[bool]string{true: "met", false: "not met"}[took <= 45*time.Second]
			b.add(r)
			if err := b.waitJob(ctx, id, time.Minute, "state = 'running'"); err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
		}
	}
	return b.cancelLatency(ctx, s, id)
}

// cancelLatency asks Slipway to cancel the running job and waits for it.
func (b *bench) cancelLatency(ctx context.Context, s *slipway, id string) error {
	const what = "cancel latency of a running build"
	start := time.Now()
	resp, err := b.request(ctx, http.MethodPost, s.addr+"/api/v1/jobs/"+id+"/cancel", nil, nil)
	if err != nil {
		return err
	}
	discard(resp)
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		start = time.Now()
		if resp, err = b.request(ctx, http.MethodDelete, s.addr+"/api/v1/jobs/"+id, nil, nil); err != nil {
			return err
		}
		discard(resp)
	}
	if resp.StatusCode >= 300 {
		b.na(7, what, fmt.Sprintf("until the cancel endpoint lands (POST /api/v1/jobs/{id}/cancel and DELETE answered %s)", resp.Status))
		return nil
	}
	if err := b.waitJob(ctx, id, time.Minute, "state = 'canceled' AND finished_at IS NOT NULL"); err != nil {
		b.na(7, what, err.Error())
		return nil
	}
	took := time.Since(start)
	r := row{num: 7, what: what, slipway: took.Round(time.Millisecond).String(), goal: "≤ 2 s"}
	r.met = map[bool]string{true: "met", false: "not met"}[took <= 2*time.Second]
	b.add(r)
	return nil
}
