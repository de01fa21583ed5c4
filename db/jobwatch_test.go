package db

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// recorder is a JobWatcher that hands every report to the test.
type recorder struct{ events chan string }

func newRecorder() *recorder { return &recorder{events: make(chan string, 100)} }

func (r *recorder) Online()           { r.events <- "online" }
func (r *recorder) Offline()          { r.events <- "offline" }
func (r *recorder) Changed(id string) { r.events <- id }

// next returns the next report; the bound only keeps a broken feed from
// hanging the test.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no report from the job change feed")
		return ""
	}
}

func watch(t *testing.T, d *DB) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	rec := newRecorder()
	go func() {
		defer close(done)
		d.WatchJobs(ctx, rec)
	}()
	t.Cleanup(func() { cancel(); <-done })
	if got := rec.next(t); got != "online" {
		t.Fatalf("first report %q, want online", got)
	}
	return rec
}

// TestWatchJobsReportsWhatTheAPIShows: changes the API shows are reported
// with the job's id, whichever connection makes them; new jobs, lease
// renewals and log lines are not. Each step that must stay silent is
// followed by a change to a marker job: notifications arrive in commit
// order, so the next report names the marker only if the step sent nothing.
func TestWatchJobsReportsWhatTheAPIShows(t *testing.T) {
	d := openTestDB(t)
	other := openTestDB2(t, d)
	ctx := context.Background()
	rec := watch(t, d)

	marker := mustCreate(t, other, testSpec("r/marker", "", 0))
	silentThen := func(what string) {
		t.Helper()
		if _, err := other.pool.Exec(ctx, `UPDATE jobs SET priority = priority, max_attempts = max_attempts + 1 WHERE id = $1`, marker.ID); err != nil {
			t.Fatal(err)
		}
		if got := rec.next(t); got != marker.ID {
			t.Fatalf("%s: reported %q, want nothing before the marker %s", what, got, marker.ID)
		}
	}
	changed := func(what, id string) {
		t.Helper()
		if got := rec.next(t); got != id {
			t.Fatalf("%s: reported %q, want %s", what, got, id)
		}
	}

	j := mustCreate(t, other, testSpec("r/a", "", 1))
	silentThen("create")
	res, err := other.Submit(ctx, job.Submission{Spec: testSpec("r/b", "", 0), BuildKey: "k", CallbackURL: "https://ci.example.com/done"})
	if err != nil {
		t.Fatal(err)
	}
	withCallback := res.Job
	silentThen("create with a callback")

	claimed, err := other.Claim(ctx, "w1", time.Minute, 0)
	if err != nil || claimed.ID != j.ID {
		t.Fatalf("claim = %v, %v; want %s", claimed, err, j.ID)
	}
	changed("claim", j.ID)
	if _, err := other.Heartbeat(ctx, j.ID, "w1", time.Minute); err != nil {
		t.Fatal(err)
	}
	silentThen("heartbeat")
	if err := other.AppendLog(ctx, j.ID, []string{"step 1", "step 2"}); err != nil {
		t.Fatal(err)
	}
	silentThen("log lines")
	if _, err := other.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	changed("cancel request", j.ID)
	if err := other.Canceled(ctx, j.ID, "w1"); err != nil {
		t.Fatal(err)
	}
	changed("canceled", j.ID)

	// A second delivery shares the queued job and adds its own callback.
	shared, err := other.Submit(ctx, job.Submission{Spec: testSpec("r/b", "", 0), BuildKey: "k", CallbackURL: "https://ci.example.com/other"})
	if err != nil || shared.Created || shared.Job.ID != withCallback.ID {
		t.Fatalf("second delivery = %v, %v, %v; want the shared job %s", shared.Job, shared.Created, err, withCallback.ID)
	}
	changed("callback added to a shared job", withCallback.ID)
	if _, err := other.Cancel(ctx, withCallback.ID); err != nil {
		t.Fatal(err)
	}
	changed("cancel with callbacks", withCallback.ID)
	due, err := other.ClaimCallbacks(ctx, 10, time.Minute)
	if err != nil || len(due) != 2 {
		t.Fatalf("claim callbacks = %v, %v; want 2", due, err)
	}
	changed("callback attempt", withCallback.ID)
	if err := other.CallbackDelivered(ctx, due[0].ID, 200); err != nil {
		t.Fatal(err)
	}
	changed("callback delivered", withCallback.ID)
}

// openTestDB2 opens a second pool on d's database: another process, as far
// as the change feed can tell.
func openTestDB2(t *testing.T, d *DB) *DB {
	t.Helper()
	other, err := Open(context.Background(), d.pool.Config().ConnString(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}

// TestWatchJobsConnectionLoss: a lost connection is reported as offline at
// once, and the feed comes back online when the database does.
func TestWatchJobsConnectionLoss(t *testing.T) {
	dbURL := testenv.Postgres(t)
	direct, err := Open(context.Background(), dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	if _, err := direct.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	proxied, proxy := testenv.ProxiedURL(t, dbURL)
	d, err := Open(context.Background(), proxied, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	rec := watch(t, d)

	proxy.Cut()
	if got := rec.next(t); got != "offline" {
		t.Fatalf("after the cut: %q, want offline", got)
	}
	proxy.Restore(t)
	for {
		got := rec.next(t)
		if got == "online" {
			break
		}
		if got != "offline" {
			t.Fatalf("while reconnecting: %q", got)
		}
	}
	j := mustCreate(t, direct, testSpec("r/a", "", 0))
	if _, err := direct.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != j.ID {
		t.Fatalf("after reconnecting: %q, want %s", got, j.ID)
	}
}
