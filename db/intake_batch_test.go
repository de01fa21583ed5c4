package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

// intakeSub is a native submission; n picks the commit, so equal n means an
// identical build.
func intakeSub(n int) job.Submission {
	s := job.Spec{
		Source: job.Source{Repository: "https://git.example.com/a.git", Commit: fmt.Sprintf("%040x", n), Ref: "refs/heads/main"},
		Build: job.Build{Context: ".", Dockerfile: "Dockerfile", Args: map[string]string{"GO": "1.26"},
			Labels: map[string]string{"org.example.team": "ci"}},
		Image:    job.Image{Name: "registry.example.com/a", Tags: []string{"latest"}},
		Push:     true,
		Trigger:  job.Trigger{System: job.SystemAPI, BuildNumber: "12"},
		Priority: 2,
	}
	return job.Submission{Spec: s, Source: job.SystemAPI, Fingerprint: job.Fingerprint(s, ""), BuildKey: job.BuildKey(s)}
}

type submitted struct {
	job        *job.Job
	created    bool
	superseded int
	err        error
}

// submitAll submits subs concurrently, each with its own context, and
// returns the outcomes in order.
func submitAll(d *DB, ctxs []context.Context, subs []job.Submission) []submitted {
	out := make([]submitted, len(subs))
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() {
			res, err := d.Submit(ctxs[i], sub)
			out[i] = submitted{res.Job, res.Created, res.Superseded, err}
		})
	}
	wg.Wait()
	return out
}

func background(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}

// holdWriter takes the only writer's turn, so submissions queue up behind it.
func holdWriter(t *testing.T, d *DB) {
	t.Helper()
	b := d.intake
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxWriters = 1
	if b.writers != 0 {
		t.Fatalf("%d writers busy, want none", b.writers)
	}
	b.writers = 1
}

// awaitQueued waits until n submissions wait for the writer.
func awaitQueued(t *testing.T, d *DB, n int) {
	t.Helper()
	for range 2000 {
		d.intake.mu.Lock()
		got := len(d.intake.queue)
		d.intake.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("submissions never queued up to %d", n)
}

// handOver passes the held writer's turn to the oldest queued submission, as
// a writer does when its batch has committed; the queue becomes one batch.
func handOver(d *DB) {
	b := d.intake
	b.mu.Lock()
	next := b.queue[0]
	b.queue = b.queue[1:]
	b.mu.Unlock()
	next.done <- intakeResult{lead: true}
}

// assertIdle checks that no writer's turn or queued submission was lost.
func assertIdle(t *testing.T, d *DB) {
	t.Helper()
	d.intake.mu.Lock()
	defer d.intake.mu.Unlock()
	if d.intake.writers != 0 || len(d.intake.queue) != 0 {
		t.Errorf("after the batch: %d writers busy, %d queued; want none", d.intake.writers, len(d.intake.queue))
	}
}

// batched submits subs as one batch behind a held writer.
func batched(t *testing.T, d *DB, ctxs []context.Context, subs []job.Submission) []submitted {
	t.Helper()
	holdWriter(t, d)
	done := make(chan []submitted)
	go func() { done <- submitAll(d, ctxs, subs) }()
	awaitQueued(t, d, len(subs))
	handOver(d)
	got := <-done
	assertIdle(t, d)
	return got
}

// stored loads the job from the database: a committed job is visible to
// every connection.
func stored(t *testing.T, d *DB, id string) *job.Job {
	t.Helper()
	j, err := d.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("job %s not committed: %v", id, err)
	}
	return j
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func countJobs(t *testing.T, d *DB) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSubmitConcurrentDistinct: every concurrent submission gets its own
// committed job, with and without build keys.
func TestSubmitConcurrentDistinct(t *testing.T) {
	for _, dedupe := range []bool{true, false} {
		t.Run(fmt.Sprintf("dedupe %v", dedupe), func(t *testing.T) {
			d := openTestDB(t)
			const n = 200
			subs := make([]job.Submission, n)
			for i := range subs {
				subs[i] = intakeSub(i)
				if !dedupe {
					subs[i].BuildKey = ""
				}
			}
			got := submitAll(d, background(n), subs)
			ids := map[string]bool{}
			for i, g := range got {
				if g.err != nil || !g.created {
					t.Fatalf("submit %d: created=%v err=%v", i, g.created, g.err)
				}
				if ids[g.job.ID] {
					t.Fatalf("job %s returned to two callers", g.job.ID)
				}
				ids[g.job.ID] = true
				if g.job.State != job.StateQueued || g.job.Source.Commit != subs[i].Spec.Source.Commit {
					t.Errorf("submit %d returned %+v, want its own queued job", i, g.job)
				}
				if s := stored(t, d, g.job.ID); s.Source.Commit != subs[i].Spec.Source.Commit {
					t.Errorf("stored job %d has commit %s, want %s", i, s.Source.Commit, subs[i].Spec.Source.Commit)
				}
			}
			if c := countJobs(t, d); c != n {
				t.Errorf("%d jobs stored, want %d", c, n)
			}
			assertIdle(t, d)
		})
	}
}

// TestSubmitOneBatchOneCommit: submissions queued behind a busy writer are
// written together, in one transaction (now() is the transaction's start,
// so they share created_at), and each caller gets its own job.
func TestSubmitOneBatchOneCommit(t *testing.T) {
	d := openTestDB(t)
	const n = 20
	subs := make([]job.Submission, n)
	for i := range subs {
		subs[i] = intakeSub(i)
	}
	got := batched(t, d, background(n), subs)
	for i, g := range got {
		if g.err != nil || !g.created || g.job.Source.Commit != subs[i].Spec.Source.Commit {
			t.Fatalf("submit %d: job %+v created=%v err=%v, want its own new job", i, g.job, g.created, g.err)
		}
		s := stored(t, d, g.job.ID)
		if !s.CreatedAt.Equal(got[0].job.CreatedAt) {
			t.Errorf("job %d created at %s, job 0 at %s: not one transaction", i, s.CreatedAt, got[0].job.CreatedAt)
		}
		// The answer is built without reading the row back: it must say
		// what a read says.
		if a, b := mustJSON(t, g.job), mustJSON(t, s); a != b {
			t.Errorf("job %d answered as\n%s\nstored as\n%s", i, a, b)
		}
	}
}

// TestSubmitDuplicatesInOneBatch: identical builds inside one batch share
// one job, which exactly one of them created.
func TestSubmitDuplicatesInOneBatch(t *testing.T) {
	d := openTestDB(t)
	subs := []job.Submission{intakeSub(1), intakeSub(1), intakeSub(2), intakeSub(1), intakeSub(2)}
	got := batched(t, d, background(len(subs)), subs)
	byBuild := map[string]string{}
	createdBy := map[string]int{}
	for i, g := range got {
		if g.err != nil {
			t.Fatalf("submit %d: %v", i, g.err)
		}
		key := subs[i].BuildKey
		if id, ok := byBuild[key]; ok && id != g.job.ID {
			t.Errorf("submit %d got job %s, an identical build got %s", i, g.job.ID, id)
		}
		byBuild[key] = g.job.ID
		if g.created {
			createdBy[key]++
		}
	}
	for key, n := range createdBy {
		if n != 1 {
			t.Errorf("build %s: created=true for %d callers, want 1", key[:8], n)
		}
	}
	if len(createdBy) != 2 {
		t.Errorf("%d builds created, want 2", len(createdBy))
	}
	if c := countJobs(t, d); c != 2 {
		t.Errorf("%d jobs stored, want 2", c)
	}
}

// TestSubmitMixedBatch: one batch holding a new build, a build already in
// flight, a build without a key and a row Postgres refuses. The refused row
// fails alone; the others get what a lone submission would.
func TestSubmitMixedBatch(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	first, err := d.Submit(ctx, intakeSub(7))
	if err != nil || !first.Created {
		t.Fatalf("first submit: created=%v err=%v", first.Created, err)
	}
	inflight := first.Job
	noKey := intakeSub(8)
	noKey.BuildKey = ""
	bad := intakeSub(9)
	// Postgres refuses NUL in jsonb and text.
	bad.Spec.Source.Repository = "https://git.example.com/\x00.git"
	subs := []job.Submission{intakeSub(1), intakeSub(7), noKey, bad, intakeSub(2)}
	got := batched(t, d, background(len(subs)), subs)

	if got[3].err == nil {
		t.Errorf("submit with NUL: job %+v, want an error", got[3].job)
	}
	for _, i := range []int{0, 2, 4} {
		if got[i].err != nil || !got[i].created || got[i].job.Source.Commit != subs[i].Spec.Source.Commit {
			t.Errorf("submit %d: job %+v created=%v err=%v, want its own new job", i, got[i].job, got[i].created, got[i].err)
		}
	}
	if g := got[1]; g.err != nil || g.created || g.job.ID != inflight.ID {
		t.Errorf("identical to in-flight: job %+v created=%v err=%v, want shared %s", g.job, g.created, g.err, inflight.ID)
	}
	if c := countJobs(t, d); c != 4 {
		t.Errorf("%d jobs stored, want 4", c)
	}
}

// TestSubmitCancelledCaller: a caller that gives up, whether still queued or
// already taken into a batch (even as its writer), fails alone; the rest of
// its batch is written.
func TestSubmitCancelledCaller(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		d, _, cancel, done := queueThree(t)
		cancel()
		awaitQueued(t, d, 2)
		handOver(d)
		assertCancelledOnly(t, d, <-done, "cancelled caller")
	})
	t.Run("writer", func(t *testing.T) {
		d, ctx, cancel, done := queueThree(t)
		// Take the cancellable caller out of the queue as a writer does, then
		// cancel it and hand it the turn to write the others.
		b := d.intake
		b.mu.Lock()
		var writer *intakeCall
		for i, c := range b.queue {
			if c.ctx == ctx {
				writer = c
				b.queue = append(b.queue[:i:i], b.queue[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
		cancel()
		writer.done <- intakeResult{lead: true}
		assertCancelledOnly(t, d, <-done, "cancelled writer")
	})
}

// TestSubmitBatchError: when the batch's statement fails outright, every
// caller in it gets the error; none is left waiting.
func TestSubmitBatchError(t *testing.T) {
	d := openTestDB(t)
	subs := []job.Submission{intakeSub(1), intakeSub(2), intakeSub(3)}
	holdWriter(t, d)
	done := make(chan []submitted)
	go func() { done <- submitAll(d, background(len(subs)), subs) }()
	awaitQueued(t, d, len(subs))
	d.pool.Close()
	handOver(d)
	for i, g := range <-done {
		if g.err == nil {
			t.Errorf("submit %d on a closed pool: job %+v, want an error", i, g.job)
		}
	}
	assertIdle(t, d)
}

// queueThree queues three submissions behind a held writer; the second's
// context is ctx, which cancel ends. done carries their outcomes.
func queueThree(t *testing.T) (*DB, context.Context, context.CancelFunc, chan []submitted) {
	t.Helper()
	d := openTestDB(t)
	holdWriter(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	subs := []job.Submission{intakeSub(1), intakeSub(2), intakeSub(3)}
	ctxs := []context.Context{context.Background(), ctx, context.Background()}
	done := make(chan []submitted, 1)
	go func() { done <- submitAll(d, ctxs, subs) }()
	awaitQueued(t, d, 3)
	return d, ctx, cancel, done
}

// assertCancelledOnly checks that of three submissions only the second,
// whose context was cancelled, failed, and the other two were stored.
func assertCancelledOnly(t *testing.T, d *DB, got []submitted, what string) {
	t.Helper()
	assertIdle(t, d)
	if !errors.Is(got[1].err, context.Canceled) {
		t.Errorf("%s: job %+v err=%v, want context.Canceled", what, got[1].job, got[1].err)
	}
	for _, i := range []int{0, 2} {
		if got[i].err != nil || !got[i].created {
			t.Errorf("submit %d: created=%v err=%v", i, got[i].created, got[i].err)
		}
	}
	if c := countJobs(t, d); c != 2 {
		t.Errorf("%d jobs stored, want 2", c)
	}
}

// TestSupersedeInBatch: jobs for one image and ref in one group commit
// supersede the older queued job and each other, in the commit that creates
// them; the newest stays queued.
func TestSupersedeInBatch(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	older := intakeSub(1)
	if _, err := d.Submit(ctx, older); err != nil {
		t.Fatal(err)
	}
	var subs []job.Submission
	for n := 2; n <= 4; n++ {
		sub := intakeSub(n)
		sub.Supersede = true
		subs = append(subs, sub)
	}
	other := intakeSub(5)
	other.Spec.Source.Ref = "refs/heads/dev"
	other.Supersede = true
	subs = append(subs, other)
	got := batched(t, d, background(len(subs)), subs)

	var newest string
	for i, g := range got[:3] {
		if g.err != nil || !g.created {
			t.Fatalf("submit %d: created=%v err=%v", i, g.created, g.err)
		}
		newest = max(newest, g.job.ID)
	}
	superseded := 0
	for _, g := range got {
		superseded += g.superseded
	}
	if superseded != 3 {
		t.Errorf("%d jobs reported superseded, want 3 (the older one and two of the batch)", superseded)
	}
	var states []string
	for _, g := range got[:3] {
		s := stored(t, d, g.job.ID)
		if want := job.StateCanceled; g.job.ID != newest && (s.State != want || s.Error.Code != job.CodeSuperseded) {
			t.Errorf("batch job %s = %s %+v, want superseded by %s", s.ID, s.State, s.Error, newest)
		}
		states = append(states, string(s.State))
	}
	if s := stored(t, d, newest); s.State != job.StateQueued {
		t.Errorf("newest job %s = %s, want queued (states %v)", newest, s.State, states)
	}
	if s := stored(t, d, got[3].job.ID); s.State != job.StateQueued {
		t.Errorf("job for another ref = %s, want queued", s.State)
	}
	var olderState job.State
	if err := d.pool.QueryRow(ctx, `SELECT state FROM jobs WHERE commit_sha = $1`, older.Spec.Source.Commit).Scan(&olderState); err != nil || olderState != job.StateCanceled {
		t.Errorf("older job = %s, %v; want canceled", olderState, err)
	}
}
