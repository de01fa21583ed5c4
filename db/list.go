package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/slipwayci/slipway/job"
)

// ListJobs returns the jobs q selects, newest first. Paging is by keyset on
// (created_at, id): a page never shifts when newer jobs arrive meanwhile, and
// its cost does not grow with the page number.
func (d *DB) ListJobs(ctx context.Context, q job.ListQuery) ([]*job.Job, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.States) > 0 {
		states := make([]string, len(q.States))
		for i, s := range q.States {
			states[i] = string(s)
		}
		where = append(where, "state = ANY("+arg(states)+"::text[])")
	}
	if q.Source != "" {
		where = append(where, "source = "+arg(q.Source))
	}
	if q.Repository != "" {
		where = append(where, "repository = "+arg(q.Repository))
	}
	if q.Image != "" {
		where = append(where, "image_name = "+arg(q.Image))
	}
	if q.Commit != "" {
		if len(q.Commit) == 40 || len(q.Commit) == 64 {
			where = append(where, "commit_sha = "+arg(q.Commit))
		} else {
			// The prefix is hex only (checked by the caller), so it holds no
			// LIKE wildcard; text_pattern_ops makes it an index range scan.
			where = append(where, "commit_sha LIKE "+arg(q.Commit+"%"))
		}
	}
	if q.Project != "" {
		where = append(where, "project = "+arg(q.Project))
	}
	if !q.CreatedAfter.IsZero() {
		where = append(where, "created_at > "+arg(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(q.CreatedBefore))
	}
	if q.After != nil {
		id, err := uuid.Parse(q.After.ID)
		if err != nil {
			return nil, fmt.Errorf("list jobs: cursor id: %w", err)
		}
		where = append(where, "(created_at, id) < ("+arg(q.After.CreatedAt)+", "+arg(id)+")")
	}
	sql := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(q.Limit)

	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", translate(err))
	}
	defer rows.Close()
	var out []*job.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", translate(err))
	}
	return out, nil
}
