package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

// Notification channels. Workers LISTEN on both.
const (
	channelJobs   = "slipway_jobs"   // a job became claimable
	channelCancel = "slipway_cancel" // payload: id of a running job whose cancel was requested
)

// Claim takes the best queued job for owner, marks it running under a lease,
// and returns it; it returns job.ErrQueueEmpty when nothing is waiting. One
// statement, so two workers can never take the same job. perImage > 0 skips
// images that already have that many builds running; concurrent claims can
// overshoot it by the number of claims in flight.
func (d *DB) Claim(ctx context.Context, owner string, lease time.Duration, perImage int) (*job.Job, error) {
	row := d.pool.QueryRow(ctx, `
		WITH next AS (
			SELECT id AS next_id FROM jobs q
			WHERE state = 'queued' AND run_after <= now()
			  AND ($3 <= 0 OR (SELECT count(*) FROM jobs r
			                   WHERE r.state = 'running' AND r.image_name = q.image_name) < $3)
			ORDER BY priority DESC, run_after, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs SET state = 'running', attempt = attempt + 1,
			started_at = coalesce(started_at, now()), attempt_started_at = now(), owner = $1,
			lease_expires_at = now() + $2::interval, cancel_requested = false
		FROM next WHERE jobs.id = next.next_id
		RETURNING `+jobColumns,
		owner, lease, perImage)
	j, err := scanJob(row)
	if errors.Is(err, job.ErrNotFound) {
		return nil, job.ErrQueueEmpty
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// Heartbeat renews owner's lease on a running job and reports whether a
// cancel was requested.
func (d *DB) Heartbeat(ctx context.Context, id, owner string, lease time.Duration) (cancel bool, err error) {
	err = d.pool.QueryRow(ctx, `
		UPDATE jobs SET lease_expires_at = now() + $3::interval
		WHERE id = $1 AND owner = $2 AND state = 'running'
		RETURNING cancel_requested`, id, owner, lease).Scan(&cancel)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("renew lease of job %s: %w", id, job.ErrLeaseLost)
	}
	if err != nil {
		return false, fmt.Errorf("renew lease of job %s: %w", id, translate(err))
	}
	return cancel, nil
}

// attemptEntry is the SQL expression that records the attempt ending now,
// with outcome $o and error code/message $c/$m (NULL for none).
func attemptEntry(o, c, m string) string {
	return `attempts || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
		'attempt', attempt, 'worker', owner, 'started_at', attempt_started_at, 'finished_at', now(),
		'outcome', ` + o + `::text,
		'error', CASE WHEN ` + c + `::text IS NULL THEN NULL ELSE jsonb_build_object('code', ` + c + `::text, 'message', ` + m + `::text) END)))`
}

// Succeed ends a running job owned by owner with its result.
func (d *DB) Succeed(ctx context.Context, id, owner string, res job.Result) error {
	body, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("finish job %s: %w", id, err)
	}
	return d.end(ctx, id, owner, `
		UPDATE jobs SET state = 'succeeded', finished_at = now(), result = $3,
			attempts = `+attemptEntry("'succeeded'", "NULL", "NULL")+`,
			owner = NULL, lease_expires_at = NULL
		WHERE id = $1 AND owner = $2 AND state = 'running'`, body)
}

// Fail ends owner's attempt at a running job with e. With retryIn >= 0 and
// attempts left, the job is queued again to run after retryIn; otherwise, or
// when a cancel was requested meanwhile, it ends. It returns the job's state.
func (d *DB) Fail(ctx context.Context, id, owner string, e job.Error, retryIn time.Duration) (job.State, error) {
	var state job.State
	err := d.pool.QueryRow(ctx, `
		WITH cur AS (
			SELECT id, CASE
				WHEN cancel_requested THEN 'canceled'
				WHEN $5::boolean AND attempt < max_attempts THEN 'queued'
				ELSE 'failed' END AS next_state
			FROM jobs WHERE id = $1 AND owner = $2 AND state = 'running'
			FOR UPDATE
		)
		UPDATE jobs SET state = cur.next_state,
			run_after = CASE WHEN cur.next_state = 'queued' THEN now() + $6::interval ELSE run_after END,
			finished_at = CASE WHEN cur.next_state = 'queued' THEN NULL ELSE now() END,
			error_code = CASE cur.next_state WHEN 'queued' THEN NULL WHEN 'canceled' THEN 'canceled' ELSE $3 END,
			error_message = CASE cur.next_state WHEN 'queued' THEN NULL WHEN 'canceled' THEN 'canceled on request' ELSE $4 END,
			attempts = `+attemptEntry("'failed'", "$3", "$4")+`,
			owner = NULL, lease_expires_at = NULL
		FROM cur WHERE jobs.id = cur.id
		RETURNING cur.next_state`,
		id, owner, e.Code, e.Message, retryIn >= 0, max(retryIn, 0)).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("fail job %s: %w", id, job.ErrLeaseLost)
	}
	if err != nil {
		return "", fmt.Errorf("fail job %s: %w", id, translate(err))
	}
	return state, nil
}

// Canceled ends owner's running job as canceled, as a user asked.
func (d *DB) Canceled(ctx context.Context, id, owner string) error {
	return d.end(ctx, id, owner, `
		UPDATE jobs SET state = 'canceled', finished_at = now(),
			error_code = $3, error_message = 'canceled on request',
			attempts = `+attemptEntry("'canceled'", "$3", "'canceled on request'")+`,
			owner = NULL, lease_expires_at = NULL
		WHERE id = $1 AND owner = $2 AND state = 'running'`, job.CodeCanceled)
}

// Release hands owner's running job back to the queue at once, for another
// worker to take; a shutting-down worker does this with builds it could not
// finish in time.
func (d *DB) Release(ctx context.Context, id, owner string) error {
	err := d.end(ctx, id, owner, `
		UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'canceled' ELSE 'queued' END,
			finished_at = CASE WHEN cancel_requested THEN now() END,
			error_code = CASE WHEN cancel_requested THEN 'canceled' END,
			error_message = CASE WHEN cancel_requested THEN 'canceled on request' END,
			run_after = now(),
			attempts = `+attemptEntry("'released'", "$3", "'the worker shut down before the build finished'")+`,
			owner = NULL, lease_expires_at = NULL
		WHERE id = $1 AND owner = $2 AND state = 'running'`, job.CodeReleased)
	if err != nil {
		return err
	}
	// Sent at once: this process's notifier may already have stopped.
	if _, err := d.pool.Exec(ctx, `SELECT pg_notify($1, '')`, channelJobs); err != nil {
		d.log.WarnContext(ctx, "notify released job", "job_id", id, "err", err)
	}
	return nil
}

func (d *DB) end(ctx context.Context, id, owner, sql string, arg any) error {
	tag, err := d.pool.Exec(ctx, sql, id, owner, arg)
	if err != nil {
		return fmt.Errorf("finish job %s: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish job %s: %w", id, job.ErrLeaseLost)
	}
	return nil
}

// reclaimed is a job taken back from a worker whose lease expired.
type reclaimed struct {
	ID, Owner string
	State     job.State // queued again, or failed/canceled
}

// reclaim takes back every running job whose lease has expired: its owner
// died or lost the database. Such a job is queued again while attempts are
// left, failed when they are spent, and canceled when a cancel was pending.
// Any process may run it at any time; SKIP LOCKED keeps them apart.
func (d *DB) reclaim(ctx context.Context) ([]reclaimed, error) {
	const msg = "the worker stopped renewing its lease (it died or lost the database)"
	rows, err := d.pool.Query(ctx, `
		WITH expired AS (
			SELECT id, owner AS old_owner, CASE
				WHEN cancel_requested THEN 'canceled'
				WHEN attempt < max_attempts THEN 'queued'
				ELSE 'failed' END AS next_state
			FROM jobs WHERE state = 'running' AND lease_expires_at < now()
			FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs SET state = e.next_state,
			run_after = now(),
			finished_at = CASE WHEN e.next_state = 'queued' THEN NULL ELSE now() END,
			error_code = CASE e.next_state WHEN 'queued' THEN NULL WHEN 'canceled' THEN 'canceled' ELSE $1 END,
			error_message = CASE e.next_state WHEN 'queued' THEN NULL WHEN 'canceled' THEN 'canceled on request' ELSE $2 END,
			attempts = `+attemptEntry("'failed'", "$1", "$2")+`,
			owner = NULL, lease_expires_at = NULL
		FROM expired e WHERE jobs.id = e.id
		RETURNING jobs.id, e.old_owner, e.next_state`, job.CodeLeaseExpired, msg)
	if err != nil {
		return nil, fmt.Errorf("reclaim jobs: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reclaimed, error) {
		var (
			rc reclaimed
			id uuid.UUID
		)
		err := r.Scan(&id, &rc.Owner, &rc.State)
		rc.ID = id.String()
		return rc, err
	})
	if err != nil {
		return nil, fmt.Errorf("reclaim jobs: %w", translate(err))
	}
	return out, nil
}

// expireQueued fails the jobs that waited longer than ttl without any worker
// taking them, and returns how many.
func (d *DB) expireQueued(ctx context.Context, ttl time.Duration) (int, error) {
	tag, err := d.pool.Exec(ctx, `
		WITH old AS (
			SELECT id FROM jobs
			WHERE state = 'queued' AND attempt = 0 AND created_at < now() - $1::interval
			FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs SET state = 'failed', finished_at = now(), error_code = $2,
			error_message = 'no worker took the job within the queue TTL of ' || $3
		FROM old WHERE jobs.id = old.id`, ttl, job.CodeQueueExpired, ttl.String())
	if err != nil {
		return 0, fmt.Errorf("expire queued jobs: %w", translate(err))
	}
	return int(tag.RowsAffected()), nil
}

// Cancel cancels a queued job at once, or asks the worker running it to stop
// (by NOTIFY now and through its next heartbeat otherwise). A finished job
// gives job.ErrFinished.
func (d *DB) Cancel(ctx context.Context, id string) (*job.Job, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, job.ErrNotFound
	}
	var j *job.Job
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `
			UPDATE jobs SET
				state = CASE WHEN state = 'queued' THEN 'canceled' ELSE state END,
				finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
				error_code = CASE WHEN state = 'queued' THEN $2 ELSE error_code END,
				error_message = CASE WHEN state = 'queued' THEN 'canceled on request' ELSE error_message END,
				cancel_requested = state = 'running'
			WHERE id = $1 AND state IN ('queued', 'running')
			RETURNING `+jobColumns, uid, job.CodeCanceled))
		if err != nil || j.State != job.StateRunning {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channelCancel, j.ID)
		return err
	})
	if errors.Is(err, job.ErrNotFound) {
		if _, err := d.Job(ctx, id); err != nil {
			return nil, fmt.Errorf("cancel job: %w", err)
		}
		return nil, fmt.Errorf("cancel job %s: %w", id, job.ErrFinished)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, translate(err))
	}
	return j, nil
}

// wake tells RunNotifier that a job was queued; it never blocks.
func (d *DB) wake() {
	select {
	case d.wakeups <- struct{}{}:
	default:
	}
}

// RunNotifier wakes listening workers when jobs are queued, with at most one
// NOTIFY per interval: a pg_notify inside every insert would serialize
// commits on the notification queue lock. It runs until ctx ends.
func (d *DB) RunNotifier(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wakeups:
		}
		if _, err := d.pool.Exec(ctx, `SELECT pg_notify($1, '')`, channelJobs); err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "notify workers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Listen calls onWork when jobs may be claimable and onCancel with the id of
// a running job whose cancel was requested, until ctx ends. It reconnects
// after errors and calls onWork after each (re)connection, since
// notifications sent in between are lost.
func (d *DB) Listen(ctx context.Context, onWork func(), onCancel func(id string)) {
	for ctx.Err() == nil {
		err := d.listen(ctx, onWork, onCancel)
		if ctx.Err() != nil {
			return
		}
		d.log.WarnContext(ctx, "listen for notifications; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *DB) listen(ctx context.Context, onWork func(), onCancel func(id string)) error {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must not go back to the pool.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+channelJobs+`; LISTEN `+channelCancel); err != nil {
		return err
	}
	onWork()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case channelJobs:
			onWork()
		case channelCancel:
			onCancel(n.Payload)
		}
	}
}

// RunSweeper sweeps every interval until ctx ends.
func (d *DB) RunSweeper(ctx context.Context, interval, queueTTL, logRetention time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.Sweep(ctx, queueTTL, logRetention); err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "sweep queue", "err", err)
		}
	}
}

// Sweep takes back expired leases, expires queued jobs past queueTTL and
// prunes logs past logRetention (either 0: not at all).
func (d *DB) Sweep(ctx context.Context, queueTTL, logRetention time.Duration) error {
	back, err := d.reclaim(ctx)
	if err != nil {
		return err
	}
	for _, r := range back {
		d.log.WarnContext(ctx, "took back job from a worker whose lease expired", "job_id", r.ID, "worker", r.Owner, "state", r.State)
	}
	if len(back) > 0 {
		d.wake()
	}
	if queueTTL > 0 {
		n, err := d.expireQueued(ctx, queueTTL)
		if err != nil {
			return err
		}
		if n > 0 {
			d.log.WarnContext(ctx, "expired queued jobs past the queue TTL", "count", n, "ttl", queueTTL)
		}
	}
	if logRetention > 0 {
		n, err := d.pruneLogs(ctx, logRetention)
		if err != nil {
			return err
		}
		if n > 0 {
			d.log.InfoContext(ctx, "pruned build logs past the retention period", "jobs", n, "retention", logRetention)
		}
	}
	return nil
}

// pruneLogs deletes the logs of up to 1000 jobs that finished longer than
// retention ago and marks the jobs, so the API says the log was pruned
// instead of showing an empty one.
func (d *DB) pruneLogs(ctx context.Context, retention time.Duration) (int, error) {
	tag, err := d.pool.Exec(ctx, `
		WITH old AS (
			SELECT id FROM jobs
			WHERE logs_pruned_at IS NULL AND finished_at IS NOT NULL AND finished_at < now() - $1::interval
			ORDER BY finished_at
			LIMIT 1000
			FOR UPDATE SKIP LOCKED
		), gone AS (
			DELETE FROM job_logs USING old WHERE job_logs.job_id = old.id
		)
		UPDATE jobs SET logs_pruned_at = now() FROM old WHERE jobs.id = old.id`, retention)
	if err != nil {
		return 0, fmt.Errorf("prune logs: %w", translate(err))
	}
	return int(tag.RowsAffected()), nil
}
