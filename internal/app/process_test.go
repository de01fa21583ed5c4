package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestWorkerOnlyDeploymentWakesOnReclaim: in a deployment of `slipway
// worker` processes alone, a job whose worker died is taken back by the
// sweeper and built at once, not at the next poll (an hour here): the
// process that takes it back also tells the listening workers.
func TestWorkerOnlyDeploymentWakesOnReclaim(t *testing.T) {
	testenv.Docker(t)
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	store, err := db.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	repo, commit := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	res, err := store.Submit(ctx, job.Submission{Spec: job.Spec{
		Source:  job.Source{Repository: repo, Commit: commit},
		Build:   job.Build{Context: ".", Dockerfile: "Dockerfile"},
		Image:   job.Image{Name: "registry.example.com/reclaimed/app", Tags: []string{"latest"}},
		Trigger: job.Trigger{System: job.SystemAPI},
	}})
	if err != nil {
		t.Fatal(err)
	}
	j := res.Job
	// A worker that dies right after claiming: its lease runs out in 2s.
	if _, err := store.Claim(ctx, "dead-worker", 2*time.Second, 0); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{
		"SLIPWAY_DATABASE_URL":  dbURL,
		"SLIPWAY_WORKERS":       "1",
		"SLIPWAY_POLL_INTERVAL": "1h",
		"SLIPWAY_LEASE":         "1s",
		"SLIPWAY_GIT_PROTOCOLS": "file",
		"SLIPWAY_LOG_FORMAT":    "text",
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(wctx, Build{}, []string{"slipway", "worker"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("slipway worker: %v", err)
		}
	})

	deadline := time.Now().Add(45 * time.Second)
	for {
		got, err := store.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Terminal() {
			if got.State != job.StateSucceeded {
				t.Fatalf("job ended %s: %+v", got.State, got.Error)
			}
			if got.Attempt < 2 {
				t.Fatalf("job succeeded in attempt %d; want the dead worker's attempt, then a new one", got.Attempt)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s (attempt %d, worker %q) 45s after its lease ran out: the reclaim woke no worker", got.State, got.Attempt, got.Owner)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
