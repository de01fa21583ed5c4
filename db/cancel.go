package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

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
