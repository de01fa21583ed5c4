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
	j1, created, err := first.Submit(ctx, testSubmission("example.com/a", "uuid-1"))
	if err != nil || !created {
		t.Fatalf("first submit: created=%v err=%v", created, err)
	}
	first.Close()

	second := openDB(t, url)
	defer second.Close()
	j2, created, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-1"))
	if err != nil || created || j2.ID != j1.ID {
		t.Fatalf("replay after restart: job %v created=%v err=%v, want job %s", j2, created, err, j1.ID)
	}
	if _, _, err := second.Submit(ctx, testSubmission("example.com/b", "uuid-1")); !errors.Is(err, job.ErrIdempotencyMismatch) {
		t.Errorf("same delivery, other request: %v, want ErrIdempotencyMismatch", err)
	}
	// Another delivery of the same build shares the queued job...
	j3, created, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-2"))
	if err != nil || created || j3.ID != j1.ID {
		t.Fatalf("identical build: job %v created=%v err=%v, want shared %s", j3, created, err, j1.ID)
	}
	// ...until it ends; then the build runs again.
	if _, err := second.pool.Exec(ctx, `UPDATE jobs SET state = 'succeeded' WHERE id = $1`, j1.ID); err != nil {
		t.Fatal(err)
	}
	j4, created, err := second.Submit(ctx, testSubmission("example.com/a", "uuid-3"))
	if err != nil || !created || j4.ID == j1.ID {
		t.Fatalf("after the first ended: job %v created=%v err=%v, want a new job", j4, created, err)
	}
}
