package db

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/slipwayci/slipway/job"
)

// Steps reads a job's build steps from the step markers in its log and the
// times the lines were written, in one statement: the marker lines, then a
// last row with the job's end (or its last line's time while it runs).
func (d *DB) Steps(ctx context.Context, id string) ([]job.TimelineStep, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("read steps: %w", job.ErrNotFound)
	}
	rows, err := d.pool.Query(ctx, `
		WITH j AS (SELECT finished_at FROM jobs WHERE id = $1)
		SELECT line, text, logged_at FROM job_logs
		WHERE job_id = $1 AND logged_at IS NOT NULL AND text LIKE ANY ($2::text[])
		UNION ALL
		SELECT $3::int, CASE WHEN j.finished_at IS NULL THEN '' ELSE 'finished' END,
			coalesce(j.finished_at, (SELECT max(logged_at) FROM job_logs WHERE job_id = $1))
		FROM j
		ORDER BY 1`, uid, job.StepMarkerPatterns, math.MaxInt32)
	if err != nil {
		return nil, fmt.Errorf("read steps: %w", translate(err))
	}
	defer rows.Close()
	var (
		lines []job.TimedLine
		end   *time.Time
		found bool
		done  bool
	)
	for rows.Next() {
		var (
			n    int
			text string
			at   *time.Time
		)
		if err := rows.Scan(&n, &text, &at); err != nil {
			return nil, fmt.Errorf("read steps: %w", err)
		}
		if n == math.MaxInt32 {
			found, end, done = true, at, text == "finished"
			continue
		}
		lines = append(lines, job.TimedLine{Text: text, At: at.UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read steps: %w", translate(err))
	}
	if !found {
		return nil, fmt.Errorf("read steps of job %s: %w", id, job.ErrNotFound)
	}
	if end == nil { // no line yet
		return []job.TimelineStep{}, nil
	}
	steps := job.StepsFromLog(lines, end.UTC(), done)
	if steps == nil {
		steps = []job.TimelineStep{}
	}
	return steps, nil
}
