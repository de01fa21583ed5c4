package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// MustOpen returns a migrated database of its own for the test.
func MustOpen(t *testing.T) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, testenv.Postgres(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func spec(n int) job.Spec {
	return job.Spec{
		Source:  job.Source{Repository: "https://git.example.com/app.git", Commit: fmt.Sprintf("%040x", n)},
		Build:   job.Build{Context: ".", Dockerfile: "Dockerfile"},
		Image:   job.Image{Name: "registry.example.com/app", Tags: []string{"latest"}},
		Push:    true,
		Trigger: job.Trigger{System: job.SystemAPI},
	}
}

func TestJobLifecycle(t *testing.T) {
	ctx := context.Background()
	d := MustOpen(t)

	sub, err := d.Submit(ctx, job.Submission{Spec: spec(1), Source: job.SystemAPI})
	if err != nil {
		t.Fatal(err)
	}
	created := sub.Job
	if created.State != job.StateQueued || created.Attempt != 0 || created.StartedAt != nil {
		t.Fatalf("created = %+v", created)
	}
	got, err := d.Job(ctx, created.ID)
	if err != nil || got.Source != created.Source || got.Image.Name != created.Image.Name {
		t.Fatalf("Job() = %+v, %v", got, err)
	}

	claimed, err := d.Claim(ctx, "w1", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if claimed.ID != created.ID || claimed.State != job.StateRunning || claimed.Attempt != 1 || claimed.StartedAt == nil {
		t.Fatalf("claimed = %+v", claimed)
	}
	if _, err := d.Claim(ctx, "w2", time.Minute, 0); !errors.Is(err, job.ErrQueueEmpty) {
		t.Fatalf("second Claim() = %v, want ErrQueueEmpty", err)
	}

	if err := d.AppendLog(ctx, created.ID, []string{"one", "two"}); err != nil {
		t.Fatal(err)
	}
	if err := d.AppendLog(ctx, created.ID, []string{"three"}); err != nil {
		t.Fatal(err)
	}
	if text, err := d.Log(ctx, created.ID, 0); err != nil || text != "one\ntwo\nthree\n" {
		t.Errorf("Log(0) = %q, %v", text, err)
	}
	if text, err := d.Log(ctx, created.ID, 2); err != nil || text != "three\n" {
		t.Errorf("Log(2) = %q, %v", text, err)
	}

	if err := d.Succeed(ctx, created.ID, "w2", job.Result{}); !errors.Is(err, job.ErrLeaseLost) {
		t.Errorf("Succeed by a non-owner = %v, want ErrLeaseLost", err)
	}
	res := job.Result{Digest: "sha256:abc", Images: []string{"registry.example.com/app:latest"}}
	if err := d.Succeed(ctx, created.ID, "w1", res); err != nil {
		t.Fatal(err)
	}
	done, err := d.Job(ctx, created.ID)
	if err != nil || done.State != job.StateSucceeded || done.Result == nil || done.Result.Digest != "sha256:abc" || done.FinishedAt == nil {
		t.Fatalf("finished = %+v, %v", done, err)
	}
	if _, err := d.Fail(ctx, created.ID, "w1", job.Error{Code: "x"}, 0); !errors.Is(err, job.ErrLeaseLost) {
		t.Errorf("Fail after Succeed = %v, want ErrLeaseLost", err)
	}
}

func TestJobNotFound(t *testing.T) {
	ctx := context.Background()
	d := MustOpen(t)
	for _, id := range []string{"01a21fd2-5ce6-72d7-a947-991c1668d84b", "not-a-uuid", ""} {
		if _, err := d.Job(ctx, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Job(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := d.Log(ctx, id, 0); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Log(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// TestClaimIsExclusive: many workers claiming at once never share a job.
func TestClaimIsExclusive(t *testing.T) {
	ctx := context.Background()
	d := MustOpen(t)
	const jobs, workers = 60, 8
	for i := range jobs {
		if _, err := d.Submit(ctx, job.Submission{Spec: spec(i), Source: job.SystemAPI}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				j, err := d.Claim(ctx, owner, time.Minute, 0)
				if errors.Is(err, job.ErrQueueEmpty) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := seen[j.ID]; dup {
					t.Errorf("job %s claimed by %s and %s", j.ID, prev, owner)
				}
				seen[j.ID] = owner
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Errorf("claimed %d jobs, want %d", len(seen), jobs)
	}
}
