package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
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
