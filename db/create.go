package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipwayci/slipway/job"
)

// Submit turns a submission into a job, at most once per delivery. A replay
// of a delivery returns the delivery's job; a replay with another
// fingerprint is job.ErrIdempotencyMismatch. With a build key, an identical
// queued or running build is shared instead of queuing a second one. The job,
// its delivery record, its callback and the jobs it supersedes are written in
// one transaction, so concurrent copies of one delivery serialize on its row.
func (d *DB) Submit(ctx context.Context, sub job.Submission) (job.Submitted, error) {
	var (
		res job.Submitted
		err error
	)
	if sub.DeliveryID == "" && sub.CallbackURL == "" {
		// Nothing to write besides the job: it shares one statement and
		// one commit with concurrent submissions.
		res, err = d.intake.submit(ctx, sub)
	} else {
		res, err = submitTx(ctx, d.pool, sub)
	}
	if err != nil {
		return job.Submitted{}, fmt.Errorf("submit job: %w", translate(err))
	}
	if res.Created {
		d.wake()
	}
	return res, nil
}

// submitTx submits sub in a transaction of its own.
func submitTx(ctx context.Context, pool *pgxpool.Pool, sub job.Submission) (job.Submitted, error) {
	var res job.Submitted
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		res, err = submit(ctx, tx, sub)
		return err
	})
	return res, err
}

func submit(ctx context.Context, tx pgx.Tx, sub job.Submission) (job.Submitted, error) {
	if sub.DeliveryID != "" {
		tag, err := tx.Exec(ctx, `
			INSERT INTO hook_deliveries (source, delivery_id, fingerprint) VALUES ($1, $2, $3)
			ON CONFLICT (source, delivery_id) DO NOTHING`,
			sub.Source, sub.DeliveryID, sub.Fingerprint)
		if err != nil {
			return job.Submitted{}, err
		}
		if tag.RowsAffected() == 0 {
			return replay(ctx, tx, sub)
		}
	}
	res, err := createOrShare(ctx, tx, sub)
	if err != nil {
		return job.Submitted{}, err
	}
	if sub.CallbackURL != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO job_callbacks (job_id, url) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			res.Job.ID, sub.CallbackURL); err != nil {
			return job.Submitted{}, err
		}
	}
	if sub.DeliveryID != "" {
		if _, err := tx.Exec(ctx, `UPDATE hook_deliveries SET job_id = $3 WHERE source = $1 AND delivery_id = $2`,
			sub.Source, sub.DeliveryID, res.Job.ID); err != nil {
			return job.Submitted{}, err
		}
	}
	return res, nil
}

// replay answers a delivery seen before. The row is committed: the insert
// that conflicted waited for the first copy's transaction to end.
func replay(ctx context.Context, tx pgx.Tx, sub job.Submission) (job.Submitted, error) {
	var (
		fingerprint string
		id          *uuid.UUID
	)
	if err := tx.QueryRow(ctx, `SELECT fingerprint, job_id FROM hook_deliveries WHERE source = $1 AND delivery_id = $2`,
		sub.Source, sub.DeliveryID).Scan(&fingerprint, &id); err != nil {
		return job.Submitted{}, err
	}
	if fingerprint != sub.Fingerprint {
		return job.Submitted{}, job.ErrIdempotencyMismatch
	}
	if id == nil {
		return job.Submitted{}, errors.New("delivery has no job")
	}
	j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, *id))
	return job.Submitted{Job: j}, err
}

// createOrShare creates the job, or returns the in-flight job with the same
// build key. The shared job is locked, so it cannot end, and fire its
// callbacks, before the transaction has added its own.
func createOrShare(ctx context.Context, tx pgx.Tx, sub job.Submission) (job.Submitted, error) {
	row, err := newRow(sub)
	if err != nil {
		return job.Submitted{}, err
	}
	// The shared job can end between the insert and the lookup; a few rounds
	// settle that race.
	for range 5 {
		created, err := createJobs(ctx, tx, []*newJob{row})
		if err != nil {
			return job.Submitted{}, err
		}
		if res, ok := created[row.id]; ok {
			return res, nil
		}
		j, err := scanJob(tx.QueryRow(ctx, `
			SELECT `+jobColumns+` FROM jobs
			WHERE build_key = $1 AND state IN ('queued', 'running')
			FOR SHARE`, sub.BuildKey))
		if err == nil {
			return job.Submitted{Job: j}, nil
		}
		if !errors.Is(err, job.ErrNotFound) {
			return job.Submitted{}, err
		}
	}
	return job.Submitted{}, fmt.Errorf("%w: the identical build kept changing state", job.ErrConflict)
}

// newJob is one job to create.
type newJob struct {
	id        uuid.UUID
	spec      job.Spec
	body      []byte // the spec as stored
	project   string
	buildKey  string     // "" for none
	retryOf   *uuid.UUID // the finished job this one retries
	supersede bool       // cancels older queued jobs for its ref and image
}

func newRow(sub job.Submission) (*newJob, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(sub.Spec)
	if err != nil {
		return nil, err
	}
	return &newJob{id: id, spec: sub.Spec, body: body, project: sub.Project, buildKey: sub.BuildKey,
		supersede: sub.Supersede && sub.Spec.Source.Ref != ""}, nil
}

// querier is a transaction or the pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// createJobs inserts rows and cancels the queued jobs they supersede, and
// returns the created jobs by id. A row whose build key matches an in-flight
// job, or an earlier row, is not created. With rows that supersede, q must be
// a transaction, so that nothing is canceled for a job that is not stored.
func createJobs(ctx context.Context, q querier, rows []*newJob) (map[uuid.UUID]job.Submitted, error) {
	created, err := insertJobs(ctx, q, rows)
	if err != nil {
		return nil, err
	}
	var newer []uuid.UUID
	for _, r := range rows {
		if _, ok := created[r.id]; ok && r.supersede {
			newer = append(newer, r.id)
		}
	}
	if len(newer) == 0 {
		return created, nil
	}
	counts, err := supersede(ctx, q, newer)
	if err != nil {
		return nil, err
	}
	for id, n := range counts {
		res := created[id]
		res.Superseded = n
		created[id] = res
	}
	return created, nil
}

// insertJobs is the one statement that creates jobs: one row or a group
// commit's batch, a submission or a retry. RETURNING leaves the spec out:
// the caller has it, and sending it back costs both sides more than the
// insert; the other columns it leaves out are NULL or zero in a new row.
func insertJobs(ctx context.Context, q querier, batch []*newJob) (map[uuid.UUID]job.Submitted, error) {
	n := len(batch)
	var (
		ids       = make([]pgtype.UUID, n)
		specs     = make([][]byte, n)
		sources   = make([]string, n)
		repos     = make([]string, n)
		commits   = make([]string, n)
		images    = make([]string, n)
		priority  = make([]int32, n)
		refs      = make([]string, n)
		buildKeys = make([]string, n)
		projects  = make([]string, n)
		retryOf   = make([]pgtype.UUID, n)
	)
	for i, r := range batch {
		s := &r.spec
		ids[i], specs[i], buildKeys[i], projects[i] = pgtype.UUID{Bytes: r.id, Valid: true}, r.body, r.buildKey, r.project
		sources[i], repos[i], commits[i] = s.Trigger.System, s.Source.Repository, s.Source.Commit
		images[i], priority[i], refs[i] = s.Image.Name, int32(s.Priority), s.Source.Ref
		if r.retryOf != nil {
			retryOf[i] = pgtype.UUID{Bytes: *r.retryOf, Valid: true}
		}
	}
	rows, err := q.Query(ctx, `
		INSERT INTO jobs (id, spec, source, repository, commit_sha, image_name, priority, source_ref, build_key, project, retry_of)
		SELECT id, spec, source, repository, commit_sha, image_name, priority, source_ref, nullif(build_key, ''), project, retry_of
		FROM unnest($1::uuid[], $2::jsonb[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[],
			$10::text[], $11::uuid[])
			AS r (id, spec, source, repository, commit_sha, image_name, priority, source_ref, build_key, project, retry_of)
		ON CONFLICT (build_key) WHERE build_key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING
		RETURNING id, state, attempt, created_at, max_attempts, attempts`,
		ids, specs, sources, repos, commits, images, priority, refs, buildKeys, projects, retryOf)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]job.Submitted, n)
	for rows.Next() {
		var (
			id uuid.UUID
			j  job.Job
		)
		if err := rows.Scan(&id, &j.State, &j.Attempt, &j.CreatedAt, &j.MaxAttempts, &j.Attempts); err != nil {
			return nil, err
		}
		j.ID = id.String()
		out[id] = job.Submitted{Job: &j, Created: true}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range batch {
		if res, ok := out[r.id]; ok {
			res.Job.Spec, res.Job.Project, res.Job.RetryOf = r.spec, r.project, uuidString(r.retryOf)
		}
	}
	return out, nil
}

// supersede cancels the queued jobs for the same image and ref as a job of
// newer that were queued before it, and returns how many each job canceled.
// Among jobs of newer with one image and ref, the newest supersedes the rest.
func supersede(ctx context.Context, q querier, newer []uuid.UUID) (map[uuid.UUID]int, error) {
	rows, err := q.Query(ctx, `
		WITH newest AS (
			SELECT DISTINCT ON (image_name, source_ref) id, image_name, source_ref FROM jobs
			WHERE id = ANY($1::uuid[]) AND source_ref <> ''
			ORDER BY image_name, source_ref, id DESC
		)
		UPDATE jobs SET state = 'canceled', finished_at = now(), error_code = $2,
			error_message = 'superseded by job ' || n.id
		FROM newest n
		WHERE jobs.state = 'queued' AND jobs.image_name = n.image_name AND jobs.source_ref = n.source_ref
			AND jobs.id < n.id
		RETURNING n.id`, newer, job.CodeSuperseded)
	if err != nil {
		return nil, err
	}
	counts := map[uuid.UUID]int{}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		counts[id]++
		return nil
	}); err != nil {
		return nil, err
	}
	return counts, nil
}

// Retry queues a new job with a finished job's request, linked both ways
// (retry_of on the new job, retried_by on the old one), and returns it.
func (d *DB) Retry(ctx context.Context, id string) (*job.Job, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, job.ErrNotFound
	}
	newID, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("retry job: %w", err)
	}
	var j *job.Job
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		row := &newJob{id: newID, retryOf: &uid}
		var (
			state     job.State
			retriedBy *uuid.UUID
		)
		if err := tx.QueryRow(ctx, `SELECT spec, project, state, retried_by FROM jobs WHERE id = $1 FOR UPDATE`, uid).
			Scan(&row.body, &row.project, &state, &retriedBy); err != nil {
			return translate(err)
		}
		switch {
		case !state.Terminal():
			return fmt.Errorf("%w: it has not finished", job.ErrConflict)
		case retriedBy != nil:
			return job.ErrAlreadyRetried
		}
		if err := json.Unmarshal(row.body, &row.spec); err != nil {
			return fmt.Errorf("decode spec: %w", err)
		}
		created, err := createJobs(ctx, tx, []*newJob{row})
		if err != nil {
			return err
		}
		j = created[newID].Job
		_, err = tx.Exec(ctx, `UPDATE jobs SET retried_by = $2 WHERE id = $1`, uid, newID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, translate(err))
	}
	d.wake()
	return j, nil
}
