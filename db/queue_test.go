package db

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

func openTestDB(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, testenv.Postgres(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func testSpec(image, ref string, priority int) job.Spec {
	return job.Spec{
		Source:   job.Source{Repository: "https://git.example.com/a.git", Commit: strings.Repeat("a", 40), Ref: ref},
		Image:    job.Image{Name: image, Tags: []string{"1"}},
		Trigger:  job.Trigger{System: job.SystemAPI},
		Priority: priority,
	}
}

func mustCreate(t *testing.T, d *DB, s job.Spec) *job.Job {
	t.Helper()
	res, err := d.Submit(context.Background(), job.Submission{Spec: s, Source: job.SystemAPI})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

func TestClaimOrderAndImageLimit(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	low := mustCreate(t, d, testSpec("r/a", "", 0))
	high := mustCreate(t, d, testSpec("r/a", "", 5))
	other := mustCreate(t, d, testSpec("r/b", "", 0))

	got, err := d.Claim(ctx, "w1", time.Minute, 1)
	if err != nil || got.ID != high.ID {
		t.Fatalf("first claim = %v, %v; want the high-priority job %s", got, err, high.ID)
	}
	// r/a has its one build running: the limit skips to r/b.
	if got, err = d.Claim(ctx, "w1", time.Minute, 1); err != nil || got.ID != other.ID {
		t.Fatalf("second claim = %v, %v; want %s of another image", got, err, other.ID)
	}
	if _, err = d.Claim(ctx, "w1", time.Minute, 1); !errors.Is(err, job.ErrQueueEmpty) {
		t.Fatalf("third claim: %v, want not found while r/a is at its limit", err)
	}
	if got, err = d.Claim(ctx, "w1", time.Minute, 0); err != nil || got.ID != low.ID {
		t.Fatalf("unlimited claim = %v, %v; want %s", got, err, low.ID)
	}
}

func TestFailRetriesAndReclaim(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	j := mustCreate(t, d, testSpec("r/a", "", 0))
	e := job.Error{Code: job.CodePush, Message: "503"}
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err := d.Claim(ctx, "w1", time.Minute, 0); err != nil {
			t.Fatalf("claim attempt %d: %v", attempt, err)
		}
		state, err := d.Fail(ctx, j.ID, "w1", e, 0)
		want := job.StateQueued
		if attempt == 3 {
			want = job.StateFailed
		}
		if err != nil || state != want {
			t.Fatalf("fail attempt %d = %s, %v; want %s", attempt, state, err, want)
		}
	}
	got, _ := d.Job(ctx, j.ID)
	if len(got.Attempts) != 3 || got.Error == nil || got.Error.Code != job.CodePush || got.Attempts[2].Error.Message != "503" {
		t.Fatalf("job after three failures = %+v", got)
	}

	// An expired lease is taken back and the late owner can record nothing.
	k := mustCreate(t, d, testSpec("r/b", "", 0))
	if _, err := d.Claim(ctx, "dead", 10*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := d.Sweep(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	got, _ = d.Job(ctx, k.ID)
	if got.State != job.StateQueued || len(got.Attempts) != 1 || got.Attempts[0].Error.Code != job.CodeLeaseExpired {
		t.Fatalf("job after reclaim = %s, attempts %+v", got.State, got.Attempts)
	}
	if err := d.Succeed(ctx, k.ID, "dead", job.Result{}); !errors.Is(err, job.ErrLeaseLost) {
		t.Errorf("late success: %v, want lease lost", err)
	}
	if _, err := d.Heartbeat(ctx, k.ID, "dead", time.Minute); !errors.Is(err, job.ErrLeaseLost) {
		t.Errorf("late heartbeat: %v, want lease lost", err)
	}
}

func TestQueueTTLAndSupersede(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	old := mustCreate(t, d, testSpec("r/a", "refs/heads/main", 0))
	otherRef := mustCreate(t, d, testSpec("r/a", "refs/heads/dev", 0))
	// Submitted with a delivery id, so it takes the transaction path.
	res, err := d.Submit(ctx, job.Submission{Spec: testSpec("r/a", "refs/heads/main", 0), Source: job.SystemAPI,
		DeliveryID: "d1", Supersede: true})
	if err != nil || res.Superseded != 1 {
		t.Fatalf("submit superseding = %+v, %v; want 1 superseded", res, err)
	}
	newer := res.Job
	if got, _ := d.Job(ctx, old.ID); got.State != job.StateCanceled || got.Error.Code != job.CodeSuperseded || !strings.Contains(got.Error.Message, newer.ID) {
		t.Errorf("older job = %s %+v, want canceled, superseded by %s", got.State, got.Error, newer.ID)
	}

	time.Sleep(20 * time.Millisecond)
	if err := d.Sweep(ctx, 10*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{otherRef.ID, newer.ID} {
		if got, _ := d.Job(ctx, id); got.State != job.StateFailed || got.Error.Code != job.CodeQueueExpired {
			t.Errorf("job %s after the TTL = %s %+v, want failed with queue_expired", id, got.State, got.Error)
		}
	}
}

func TestCancelAndRetryConflicts(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	j := mustCreate(t, d, testSpec("r/a", "", 0))
	if _, err := d.Retry(ctx, j.ID); !errors.Is(err, job.ErrConflict) {
		t.Errorf("retry of a queued job: %v, want conflict", err)
	}
	if got, err := d.Cancel(ctx, j.ID); err != nil || got.State != job.StateCanceled {
		t.Fatalf("cancel = %v, %v", got, err)
	}
	if _, err := d.Cancel(ctx, j.ID); !errors.Is(err, job.ErrFinished) {
		t.Errorf("second cancel: %v, want finished", err)
	}
	if _, err := d.Cancel(ctx, "0190c0de-0000-7000-8000-000000000000"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("cancel of a missing job: %v, want not found", err)
	}
	r, err := d.Retry(ctx, j.ID)
	if err != nil || r.RetryOf == nil || *r.RetryOf != j.ID || r.State != job.StateQueued {
		t.Fatalf("retry = %+v, %v", r, err)
	}
	if _, err := d.Retry(ctx, j.ID); !errors.Is(err, job.ErrAlreadyRetried) {
		t.Errorf("second retry: %v, want already retried", err)
	}
}

// TestQueueQueriesUseIndexes: claiming, reclaiming and expiring read the
// partial indexes, so their cost follows the waiting and running jobs, not
// the finished ones the table keeps.
func TestQueueQueriesUseIndexes(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	// Many finished jobs, a few waiting and running ones.
	if _, err := d.pool.Exec(ctx, `
		INSERT INTO jobs (id, state, spec, source, repository, commit_sha, image_name, finished_at)
		SELECT gen_random_uuid(), 'succeeded', '{}', 'api', 'r', md5(i::text), 'r/x' || (i % 50), now()
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		mustCreate(t, d, testSpec("r/a", "", 0))
	}
	if _, err := d.pool.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, query, index string }{
		{"claim", `SELECT id FROM jobs q WHERE state = 'queued' AND run_after <= now()
			AND (SELECT count(*) FROM jobs r WHERE r.state = 'running' AND r.image_name = q.image_name) < 2
			ORDER BY priority DESC, run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED`, "jobs_claim_idx"},
		{"running count", `SELECT count(*) FROM jobs r WHERE r.state = 'running' AND r.image_name = 'r/a'`, "jobs_running_idx"},
		{"reclaim", `SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED`, "jobs_running_idx"},
		{"ttl", `SELECT id FROM jobs WHERE state = 'queued' AND attempt = 0 AND created_at < now() - interval '1 hour'`, "jobs_queued_created_idx"},
		{"supersede", `SELECT id FROM jobs WHERE state = 'queued' AND image_name = 'r/a' AND source_ref = 'main'`, "jobs_queued_image_idx"},
	}
	for _, tt := range tests {
		rows, err := d.pool.Query(ctx, "EXPLAIN "+tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan.WriteString(line + "\n")
		}
		rows.Close()
		// Another index can serve as well as the one named (the list
		// indexes cover state too); what must never happen is a scan of
		// every finished job.
		if strings.Contains(plan.String(), "Seq Scan") || !strings.Contains(plan.String(), "Index") {
			t.Errorf("%s does not use an index such as %s:\n%s", tt.name, tt.index, plan.String())
		}
	}
}

func TestLogRetention(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	old := mustCreate(t, d, testSpec("r/a", "", 0))
	if err := d.AppendLog(ctx, old.ID, []string{"step 1", "step 2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "w1", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Succeed(ctx, old.ID, "w1", job.Result{}); err != nil {
		t.Fatal(err)
	}
	running := mustCreate(t, d, testSpec("r/b", "", 0))
	if err := d.AppendLog(ctx, running.ID, []string{"still building"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := d.Sweep(ctx, 0, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, _ := d.Job(ctx, old.ID)
	text, err := d.Log(ctx, old.ID, 0)
	if err != nil || got.LogsPrunedAt == nil || !strings.Contains(text, "deleted") || strings.Contains(text, "step 1") {
		t.Errorf("pruned job: logs_pruned_at %v, log %q (%v); want a notice instead of the lines", got.LogsPrunedAt, text, err)
	}
	if text, err := d.Log(ctx, running.ID, 0); err != nil || text != "still building\n" {
		t.Errorf("unfinished job's log = %q, %v; want it kept", text, err)
	}
}
