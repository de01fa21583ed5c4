package db

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

func openDB(t *testing.T, url string) *DB {
	t.Helper()
	d, err := Open(context.Background(), url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

func testSubmission(image, delivery string) job.Submission {
	spec := job.Spec{
		Source:  job.Source{Repository: "https://git.example.com/a.git", Commit: strings.Repeat("a", 40)},
		Build:   job.Build{Context: ".", Dockerfile: "Dockerfile"},
		Image:   job.Image{Name: image, Tags: []string{"x"}},
		Trigger: job.Trigger{System: job.SystemBamboo},
	}
	return job.Submission{Spec: spec, Source: job.SystemBamboo, DeliveryID: delivery,
		Fingerprint: job.Fingerprint(spec, ""), BuildKey: job.BuildKey(spec)}
}

// TestSubmitSurvivesRestart: a delivery seen by one process is recognised by
// the next, because the record lives in Postgres.
func TestSubmitSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	first := openDB(t, url)
	r1, err := first.Submit(ctx, testSubmission("example.com/a", "uuid-1"))
	if err != nil || !r1.Created {
		t.Fatalf("first submit: created=%v err=%v", r1.Created, err)
	}
	j1 := r1.Job
	first.Close()

	second := openDB(t, url)
	defer second.Close()
	r2, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-1"))
	if err != nil || r2.Created || r2.Job.ID != j1.ID {
		t.Fatalf("replay after restart: job %v created=%v err=%v, want job %s", r2.Job, r2.Created, err, j1.ID)
	}
	if _, err := second.Submit(ctx, testSubmission("example.com/b", "uuid-1")); !errors.Is(err, job.ErrIdempotencyMismatch) {
		t.Errorf("same delivery, other request: %v, want ErrIdempotencyMismatch", err)
	}
	// Another delivery of the same build shares the queued job...
	r3, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-2"))
	if err != nil || r3.Created || r3.Job.ID != j1.ID {
		t.Fatalf("identical build: job %v created=%v err=%v, want shared %s", r3.Job, r3.Created, err, j1.ID)
	}
	// ...until it ends; then the build runs again.
	if _, err := second.pool.Exec(ctx, `UPDATE jobs SET state = 'succeeded' WHERE id = $1`, j1.ID); err != nil {
		t.Fatal(err)
	}
	r4, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-3"))
	if err != nil || !r4.Created || r4.Job.ID == j1.ID {
		t.Fatalf("after the first ended: job %v created=%v err=%v, want a new job", r4.Job, r4.Created, err)
	}
}
