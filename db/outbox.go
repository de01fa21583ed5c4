package db

import (
	"context"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/job"
)

// ClaimCallbacks takes up to limit due callbacks and hides them from other
// deliverers for hold, in one statement.
func (d *DB) ClaimCallbacks(ctx context.Context, limit int, hold time.Duration) ([]job.DueCallback, error) {
	rows, err := d.pool.Query(ctx, `
		UPDATE callback_outbox o SET attempts = attempts + 1, next_attempt_at = now() + $2::interval
		FROM (
			SELECT id FROM callback_outbox
			WHERE state = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		) due
		WHERE o.id = due.id
		RETURNING o.id, o.job_id::text, o.url, o.attempts, o.created_at`, limit, hold)
	if err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", translate(err))
	}
	defer rows.Close()
	var out []job.DueCallback
	for rows.Next() {
		var c job.DueCallback
		if err := rows.Scan(&c.ID, &c.JobID, &c.URL, &c.Attempts, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("claim callbacks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", translate(err))
	}
	return out, nil
}

// CallbackDelivered records a successful delivery.
func (d *DB) CallbackDelivered(ctx context.Context, id int64, status int) error {
	_, err := d.pool.Exec(ctx, `
		UPDATE callback_outbox SET state = 'delivered', delivered_at = now(), last_status = $2, last_error = NULL
		WHERE id = $1`, id, status)
	if err != nil {
		return fmt.Errorf("record callback delivery: %w", translate(err))
	}
	return nil
}

// CallbackFailed records a failed attempt: retried at retryAt, or expired
// when expire is set. status is 0 when no answer arrived.
func (d *DB) CallbackFailed(ctx context.Context, id int64, status int, reason string, retryAt time.Time, expire bool) error {
	var st *int
	if status != 0 {
		st = &status
	}
	state := "pending"
	if expire {
		state = "expired"
	}
	_, err := d.pool.Exec(ctx, `
		UPDATE callback_outbox SET state = $2, last_status = $3, last_error = $4, next_attempt_at = $5
		WHERE id = $1`, id, state, st, reason, retryAt)
	if err != nil {
		return fmt.Errorf("record callback failure: %w", translate(err))
	}
	return nil
}

// Callbacks lists a job's completion callbacks with their delivery state; a
// callback of a job still running is waiting.
func (d *DB) Callbacks(ctx context.Context, jobID string) ([]job.CallbackDelivery, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT c.url, coalesce(o.state, 'waiting'), coalesce(o.attempts, 0), o.last_status, coalesce(o.last_error, ''), o.delivered_at
		FROM job_callbacks c
		LEFT JOIN LATERAL (
			SELECT * FROM callback_outbox o WHERE o.job_id = c.job_id AND o.url = c.url ORDER BY o.id DESC LIMIT 1
		) o ON true
		WHERE c.job_id = $1::uuid
		ORDER BY c.url`, jobID)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", translate(err))
	}
	defer rows.Close()
	var out []job.CallbackDelivery
	for rows.Next() {
		var c job.CallbackDelivery
		if err := rows.Scan(&c.URL, &c.State, &c.Attempts, &c.LastStatus, &c.LastError, &c.DeliveredAt); err != nil {
			return nil, fmt.Errorf("list callbacks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list callbacks: %w", translate(err))
	}
	return out, nil
}
