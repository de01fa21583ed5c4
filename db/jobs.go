package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

const jobColumns = `id, state, spec, attempt, created_at, started_at, finished_at, result, error_code, error_message`

func scanJob(row pgx.Row) (*job.Job, error) {
	var (
		j       job.Job
		id      uuid.UUID
		spec    []byte
		result  []byte
		errCode *string
		errMsg  *string
	)
	if err := row.Scan(&id, &j.State, &spec, &j.Attempt, &j.CreatedAt, &j.StartedAt, &j.FinishedAt, &result, &errCode, &errMsg); err != nil {
		return nil, translate(err)
	}
	j.ID = id.String()
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreateJob commits a new queued job for spec and returns it.
func (d *DB) CreateJob(ctx context.Context, spec job.Spec) (*job.Job, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	row := d.pool.QueryRow(ctx, `
		INSERT INTO jobs (id, spec, source, repository, commit_sha, image_name)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+jobColumns,
		id, body, spec.Trigger.System, spec.Source.Repository, spec.Source.Commit, spec.Image.Name)
	j, err := scanJob(row)
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	return j, nil
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

// Claim takes the best queued job for owner, marks it running under a lease,
// and returns it; it returns job.ErrNotFound when nothing is waiting. One
// statement, so two workers can never take the same job.
func (d *DB) Claim(ctx context.Context, owner string, lease time.Duration) (*job.Job, error) {
	row := d.pool.QueryRow(ctx, `
		WITH next AS (
			SELECT id AS next_id FROM jobs
			WHERE state = 'queued' AND run_after <= now()
			ORDER BY priority DESC, run_after, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs SET state = 'running', attempt = attempt + 1,
			started_at = coalesce(started_at, now()), owner = $1,
			lease_expires_at = now() + $2::interval
		FROM next WHERE jobs.id = next.next_id
		RETURNING `+jobColumns,
		owner, lease)
	j, err := scanJob(row)
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// Succeed ends a running job owned by owner with its result.
func (d *DB) Succeed(ctx context.Context, id, owner string, res job.Result) error {
	body, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("finish job: %w", err)
	}
	return d.finish(ctx, id, owner, job.StateSucceeded, body, nil)
}

// Fail ends a running job owned by owner with an error users can read.
func (d *DB) Fail(ctx context.Context, id, owner string, e job.Error) error {
	return d.finish(ctx, id, owner, job.StateFailed, nil, &e)
}

func (d *DB) finish(ctx context.Context, id, owner string, state job.State, result []byte, e *job.Error) error {
	var code, msg *string
	if e != nil {
		code, msg = &e.Code, &e.Message
	}
	tag, err := d.pool.Exec(ctx, `
		UPDATE jobs SET state = $3, finished_at = now(), result = $4, error_code = $5, error_message = $6,
			owner = NULL, lease_expires_at = NULL
		WHERE id = $1 AND owner = $2 AND state = 'running'`,
		id, owner, state, result, code, msg)
	if err != nil {
		return fmt.Errorf("finish job %s: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish job %s: %w: no longer running under this owner", id, job.ErrConflict)
	}
	return nil
}
