package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AppendLog adds lines to the end of a job's log. Line numbers start at 1 and
// are assigned here, under the job row's lock, so writers never collide.
func (d *DB) AppendLog(ctx context.Context, id string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := d.pool.Exec(ctx, `
		WITH j AS (
			UPDATE jobs SET log_lines = log_lines + cardinality($2::text[])
			WHERE id = $1
			RETURNING log_lines - cardinality($2::text[]) AS base
		)
		INSERT INTO job_logs (job_id, line, text)
		SELECT $1, j.base + u.ord, u.text FROM j, unnest($2::text[]) WITH ORDINALITY AS u(text, ord)`,
		id, lines)
	if err != nil {
		return fmt.Errorf("append log: %w", translate(err))
	}
	return nil
}

// Log returns a job's log lines after line since (0 for all), newline-terminated.
func (d *DB) Log(ctx context.Context, id string, since int) (string, error) {
	// The job lookup tells a missing job (404) from an empty log.
	j, err := d.Job(ctx, id)
	if err != nil {
		return "", fmt.Errorf("read log: %w", err)
	}
	if j.LogsPrunedAt != nil {
		return "[the log was deleted on " + j.LogsPrunedAt.UTC().Format(time.RFC3339) + " by log retention]\n", nil
	}
	rows, err := d.pool.Query(ctx, `SELECT text FROM job_logs WHERE job_id = $1 AND line > $2 ORDER BY line`, id, since)
	if err != nil {
		return "", fmt.Errorf("read log: %w", translate(err))
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", fmt.Errorf("read log: %w", err)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read log: %w", translate(err))
	}
	return b.String(), nil
}
