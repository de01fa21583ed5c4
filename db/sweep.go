package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

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
