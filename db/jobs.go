package db

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

const jobColumns = `id, state, spec, attempt, created_at, started_at, finished_at, result, error_code, error_message,
	max_attempts, attempts, cancel_requested, retry_of, retried_by, coalesce(owner, ''), logs_pruned_at, project`

func scanJob(row pgx.Row) (*job.Job, error) {
	var (
		j       job.Job
		id      uuid.UUID
		spec    []byte
		result  []byte
		errCode *string
		errMsg  *string
		retryOf *uuid.UUID
		retryBy *uuid.UUID
	)
	if err := row.Scan(&id, &j.State, &spec, &j.Attempt, &j.CreatedAt, &j.StartedAt, &j.FinishedAt, &result, &errCode, &errMsg,
		&j.MaxAttempts, &j.Attempts, &j.CancelRequested, &retryOf, &retryBy, &j.Owner, &j.LogsPrunedAt, &j.Project); err != nil {
		return nil, translate(err)
	}
	j.ID = id.String()
	j.RetryOf, j.RetriedBy = uuidString(retryOf), uuidString(retryBy)
	if err := json.Unmarshal(spec, &j.Spec); err != nil {
		return nil, fmt.Errorf("decode job %s spec: %w", j.ID, err)
	}
	if result != nil {
		j.Result = &job.Result{}
		if err := json.Unmarshal(result, j.Result); err != nil {
			return nil, fmt.Errorf("decode job %s result: %w", j.ID, err)
		}
	}
	if errCode != nil {
		j.Error = &job.Error{Code: *errCode, Message: deref(errMsg)}
	}
	return &j, nil
}

func uuidString(u *uuid.UUID) *string {
	if u == nil {
		return nil
	}
	s := u.String()
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Job returns the job with the given id, or job.ErrNotFound.
func (d *DB) Job(ctx context.Context, id string) (*job.Job, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, job.ErrNotFound
	}
	j, err := scanJob(d.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, uid))
	if err != nil {
		return nil, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}
