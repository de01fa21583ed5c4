package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

// Submit turns a submission into a job, at most once per delivery: it returns
// the job and whether this call created it. A replay of a delivery returns
// the delivery's job; a replay with another fingerprint is
// job.ErrIdempotencyMismatch. With a build key, an identical queued or running
// build is shared instead of queuing a second one. Everything happens in one
// transaction, so concurrent copies of one delivery serialize on its row.
func (d *DB) Submit(ctx context.Context, sub job.Submission) (*job.Job, bool, error) {
	var (
		j       *job.Job
		created bool
		err     error
	)
	if sub.DeliveryID == "" && sub.CallbackURL == "" {
		// One write, so no transaction of its own: it shares one INSERT
		// and one commit with concurrent submissions.
		j, created, err = d.intake.submit(ctx, sub)
	} else {
		err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			var err error
			j, created, err = submit(ctx, tx, sub)
			return err
		})
	}
	if err != nil {
		return nil, false, fmt.Errorf("submit job: %w", translate(err))
	}
	if created {
		d.wake()
	}
	return j, created, nil
}

func submit(ctx context.Context, tx pgx.Tx, sub job.Submission) (*job.Job, bool, error) {
	if sub.DeliveryID != "" {
		tag, err := tx.Exec(ctx, `
			INSERT INTO hook_deliveries (source, delivery_id, fingerprint) VALUES ($1, $2, $3)
			ON CONFLICT (source, delivery_id) DO NOTHING`,
			sub.Source, sub.DeliveryID, sub.Fingerprint)
		if err != nil {
			return nil, false, err
		}
		if tag.RowsAffected() == 0 {
			return replay(ctx, tx, sub)
		}
	}
	j, created, err := createOrShare(ctx, tx, sub)
	if err != nil {
		return nil, false, err
	}
	if sub.CallbackURL != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO job_callbacks (job_id, url) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			j.ID, sub.CallbackURL); err != nil {
			return nil, false, err
		}
	}
	if sub.DeliveryID != "" {
		if _, err := tx.Exec(ctx, `UPDATE hook_deliveries SET job_id = $3 WHERE source = $1 AND delivery_id = $2`,
			sub.Source, sub.DeliveryID, j.ID); err != nil {
			return nil, false, err
		}
	}
	return j, created, nil
}

// replay answers a delivery seen before. The row is committed: the insert
// that conflicted waited for the first copy's transaction to end.
func replay(ctx context.Context, tx pgx.Tx, sub job.Submission) (*job.Job, bool, error) {
	var (
		fingerprint string
		id          *uuid.UUID
	)
	if err := tx.QueryRow(ctx, `SELECT fingerprint, job_id FROM hook_deliveries WHERE source = $1 AND delivery_id = $2`,
		sub.Source, sub.DeliveryID).Scan(&fingerprint, &id); err != nil {
		return nil, false, err
	}
	if fingerprint != sub.Fingerprint {
		return nil, false, job.ErrIdempotencyMismatch
	}
	if id == nil {
		return nil, false, errors.New("delivery has no job")
	}
	j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, *id))
	return j, false, err
}

// createOrShare inserts the job, or returns the in-flight job with the same
// build key. Inside a transaction the shared job is locked, so it cannot end,
// and fire its callbacks, before the transaction has added its own; without
// callbacks to add, tx is the pool and nothing needs to stay locked.
func createOrShare(ctx context.Context, tx rowQuerier, sub job.Submission) (*job.Job, bool, error) {
	body, err := json.Marshal(sub.Spec)
	if err != nil {
		return nil, false, err
	}
	var key *string
	if sub.BuildKey != "" {
		key = &sub.BuildKey
	}
	// The shared job can end between the insert and the lookup; a few rounds
	// settle that race.
	for range 5 {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, false, err
		}
		j, err := scanJob(tx.QueryRow(ctx, `
			INSERT INTO jobs (id, spec, source, repository, commit_sha, image_name, priority, source_ref, build_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (build_key) WHERE build_key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING
			RETURNING `+jobColumns,
			id, body, sub.Spec.Trigger.System, sub.Spec.Source.Repository, sub.Spec.Source.Commit, sub.Spec.Image.Name,
			sub.Spec.Priority, sub.Spec.Source.Ref, key))
		if err == nil {
			return j, true, nil
		}
		if !errors.Is(err, job.ErrNotFound) {
			return nil, false, err
		}
		j, err = scanJob(tx.QueryRow(ctx, `
			SELECT `+jobColumns+` FROM jobs
			WHERE build_key = $1 AND state IN ('queued', 'running')
			FOR SHARE`, sub.BuildKey))
		if err == nil {
			return j, false, nil
		}
		if !errors.Is(err, job.ErrNotFound) {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("%w: the identical build kept changing state", job.ErrConflict)
}

// rowQuerier is a transaction or the pool.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
