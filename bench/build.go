package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func baseImage() string {
	if v := os.Getenv("SLIPWAY_BENCH_BASE_IMAGE"); v != "" {
		return v
	}
	return "slipway-offline/busybox:1"
}

func registryImage() string {
	if v := os.Getenv("SLIPWAY_BENCH_REGISTRY_IMAGE"); v != "" {
		return v
	}
	return "slipway-offline/registry:2"
}

// registry starts a registry container published on loopback and returns
// its host:port; the container is removed at cleanup.
func (b *bench) registry(ctx context.Context) (string, error) {
	// The labels let .ci/run find the container should the bench die before
	// removing it.
	id, err := docker(ctx, "run", "-d", "--rm", "--label", "io.slipway.test=true",
		"--label", "io.slipway.test.run="+os.Getenv("SLIPWAY_TEST_RUN"), "-p", "127.0.0.1::5000", registryImage())
	if err != nil {
		return "", err
	}
	b.containers = append(b.containers, id)
	hp, err := docker(ctx, "port", id, "5000/tcp")
	if err != nil {
		return "", err
	}
	hp = strings.TrimSpace(strings.SplitN(hp, "\n", 2)[0])
	for range 100 {
		resp, err := http.Get("http://" + hp + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return hp, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("registry on %s did not answer", hp)
}

// gitRepo makes a repository whose Dockerfile builds on the base image; each
// commit gets a fresh nonce so no build reuses a cached layer.
type gitRepo struct{ dir string }

func (b *bench) newRepo(ctx context.Context, dockerfile string) (*gitRepo, error) {
	g := &gitRepo{dir: filepath.Join(b.tmp, "repo-"+randHex(4))}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(g.dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return nil, err
	}
	if _, err := g.git(ctx, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *gitRepo) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.com"}, args...)...)
	cmd.Dir = g.dir
	o, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, o)
	}
	return strings.TrimSpace(string(o)), nil
}

// commit writes a new nonce and returns the commit's sha.
func (g *gitRepo) commit(ctx context.Context) (string, error) {
	if err := os.WriteFile(filepath.Join(g.dir, "nonce.txt"), []byte(randHex(16)+"\n"), 0o644); err != nil {
		return "", err
	}
	if _, err := g.git(ctx, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := g.git(ctx, "commit", "-q", "-m", "nonce"); err != nil {
		return "", err
	}
	return g.git(ctx, "rev-parse", "HEAD")
}

// buildPush: one small image built and pushed by Slipway (claim → finished,
// from the database) against `docker build` + `docker push` of the same
// context; the source fetch is timed apart and taken out.
func (b *bench) buildPush(ctx context.Context) error {
	if _, err := docker(ctx, "version"); err != nil {
		return fmt.Errorf("no Docker daemon: %w", err)
	}
	reps := 5
	if b.smoke {
		reps = 1
	}
	reg, err := b.registry(ctx)
	if err != nil {
		return err
	}
	repo, err := b.newRepo(ctx, "FROM "+baseImage()+"\nCOPY nonce.txt /nonce.txt\nRUN cat /nonce.txt > /built.txt\n")
	if err != nil {
		return err
	}
	s, err := b.startSlipway(ctx, "serve", map[string]string{"SLIPWAY_WORKERS": "1"})
	if err != nil {
		return err
	}
	var swTimes, fetchTimes, cliTimes []float64
	// Round 0 warms both paths (base layer in the registry, daemon caches).
	for i := 0; i <= reps; i++ {
		sha, err := repo.commit(ctx)
		if err != nil {
			return err
		}
		tag := fmt.Sprintf("r%d", i)
		id, err := b.postJob(ctx, s, map[string]any{
			"source": map[string]any{"repository": "file://" + repo.dir, "commit": sha},
			"image":  map[string]any{"name": reg + "/bench/slipway", "tags": []string{tag}},
		})
		if err != nil {
			return err
		}
		// The duration is read from the row's timestamps, so a slow poll
		// costs nothing; a fast one would load the shared CPUs during
		// Slipway's build only, never during the CLI's.
		if err := b.waitJobEvery(ctx, id, 5*time.Minute, 100*time.Millisecond, "finished_at IS NOT NULL"); err != nil {
			return err
		}
		var state string
		var took float64
		if err := b.db.QueryRow(ctx, `SELECT state, extract(epoch FROM finished_at - started_at) * 1000 FROM jobs WHERE id = $1`, id).Scan(&state, &took); err != nil {
			return err
		}
		if state != "succeeded" {
			var msg *string
			_ = b.db.QueryRow(ctx, `SELECT error_message FROM jobs WHERE id = $1`, id).Scan(&msg)
			return fmt.Errorf("slipway build %s: %v", state, deref(msg))
		}
		b.images = append(b.images, reg+"/bench/slipway:"+tag)

		fetch, err := b.timeFetch(ctx, repo.dir, sha)
		if err != nil {
			return err
		}
		ctxDir := filepath.Join(b.tmp, "ctx-"+tag)
		if err := os.MkdirAll(ctxDir, 0o755); err != nil {
			return err
		}
		if o, err := exec.CommandContext(ctx, "sh", "-c", "git -C "+repo.dir+" archive "+sha+" | tar -x -C "+ctxDir).CombinedOutput(); err != nil {
			return fmt.Errorf("export context: %w: %s", err, o)
		}
		ref := reg + "/bench/cli:" + tag
		start := time.Now()
		if _, err := docker(ctx, "build", "-q", "-t", ref, ctxDir); err != nil {
			return err
		}
		if _, err := docker(ctx, "push", "-q", ref); err != nil {
			return err
		}
		cli := float64(time.Since(start).Microseconds()) / 1000
		b.images = append(b.images, ref)
		if i == 0 {
			continue
		}
		swTimes, fetchTimes, cliTimes = append(swTimes, took), append(fetchTimes, fetch), append(cliTimes, cli)
		b.note(fmt.Sprintf("build+push round %d: Slipway claim→finished %s (fetch alone %s); docker build+push %s", i, ms(took), ms(fetch), ms(cli)))
	}
	sw, f, cli := pct(swTimes, 50), pct(fetchTimes, 50), pct(cliTimes, 50)
	r := row{num: 4, what: fmt.Sprintf("build+push one small image (median of %d)", reps),
		slipway: fmt.Sprintf("%s − fetch %s = %s", ms(sw), ms(f), ms(sw-f)), baseline: "docker CLI " + ms(cli), goal: "≤ 1.05×"}
	r = goal(r, (sw-f)/cli, false, 1.05)
	r.ratio += fmt.Sprintf(" (%.2f× with fetch)", sw/cli)
	b.add(r)
	return nil
}

// timeFetch times the fetch Slipway does (git init; fetch one commit; checkout).
func (b *bench) timeFetch(ctx context.Context, repo, sha string) (float64, error) {
	dir := filepath.Join(b.tmp, "fetch-"+randHex(4))
	defer os.RemoveAll(dir)
	start := time.Now()
	script := "git init -q " + dir + " && cd " + dir + " && git fetch -q --depth 1 --end-of-options file://" + repo + " " + sha + " && git checkout -q FETCH_HEAD"
	if o, err := exec.CommandContext(ctx, "sh", "-c", script).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("time fetch: %w: %s", err, o)
	}
	return float64(time.Since(start).Microseconds()) / 1000, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
