package db

import (
	"context"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/job"
)

// Stats counts jobs per state and shows the queue's depth, its oldest job's
// age and the running jobs per worker, in one snapshot.
func (d *DB) Stats(ctx context.Context) (*job.Stats, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to undo
	// One snapshot, so the numbers agree with each other.
	if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	st := &job.Stats{
		States:         map[job.State]int{},
		RunningByOwner: map[string]int{},
	}
	for _, s := range []job.State{job.StateQueued, job.StateRunning, job.StateSucceeded, job.StateFailed, job.StateCanceled} {
		st.States[s] = 0
	}
	rows, err := tx.Query(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", translate(err))
	}
	for rows.Next() {
		var (
			s job.State
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("stats: %w", err)
		}
		st.States[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: %w", translate(err))
	}
	st.QueueDepth = st.States[job.StateQueued]

	var (
		oldest *time.Time
		age    *float64
	)
	if err := tx.QueryRow(ctx, `
		SELECT min(created_at), extract(epoch FROM now() - min(created_at))::float8
		FROM jobs WHERE state = 'queued'`).Scan(&oldest, &age); err != nil {
		return nil, fmt.Errorf("stats: %w", translate(err))
	}
	st.OldestQueued = oldest
	if age != nil {
		st.OldestAgeSecs = *age
	}

	rows, err = tx.Query(ctx, `SELECT coalesce(owner, ''), count(*) FROM jobs WHERE state = 'running' GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			owner string
			n     int
		)
		if err := rows.Scan(&owner, &n); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		st.RunningByOwner[owner] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: %w", translate(err))
	}
	return st, nil
}
